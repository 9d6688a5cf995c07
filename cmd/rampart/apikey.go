package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-sec/rampart/internal/apikey"
	"github.com/rampart-sec/rampart/internal/config"
)

// apikeyCmd manages the API key store the gateway reads (api_keys.store).
func apikeyCmd(stdout, stderr io.Writer) *cobra.Command {
	var cfgPath, dataDir, store string
	cmd := &cobra.Command{
		Use:   "apikey",
		Short: "Create, list and revoke API keys for machine clients",
		Long: "Manage the API keys that routes with auth.api_keys accept. The store keeps only keyed hashes;\n" +
			"a new key is printed once. A running gateway picks up changes within about a second.\n" +
			"The store is api_keys.store from --config, or DATA_DIR/api-keys/keys.json.",
	}
	cmd.PersistentFlags().StringVarP(&cfgPath, "config", "c", "", "gateway configuration (for api_keys.store and data_dir)")
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "", "data directory (default: data_dir from the config, $RAMPART_DATA_DIR, or ~/.local/share/rampart)")
	cmd.PersistentFlags().StringVar(&store, "store", "", "the key store file itself (overrides --config and --data-dir)")
	open := func() (*apikey.Store, error) {
		path := store
		if path == "" {
			var keys config.APIKeys
			var fromConfig string
			if cfgPath != "" {
				cfg, err := config.Load(cfgPath)
				if err != nil {
					printConfigErrors(stderr, err)
					return nil, exitError{1}
				}
				keys, fromConfig = cfg.APIKeys, cfg.DataDir
			}
			path = keys.StorePath(resolveDataDir(dataDir, fromConfig))
		}
		s, err := apikey.OpenStore(path, apikey.Options{})
		if err != nil {
			return nil, fmt.Errorf("open the API key store: %w", err)
		}
		return s, nil
	}

	var roles, scopes []string
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create NAME [--roles a,b] [--scopes x,y] [--ttl 2160h]",
		Short: "Create a key and print it once",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			key, rec, err := s.Create(args[0], roles, scopes, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "Created API key %s (id %s). It is shown once, here; only its hash is stored.\n", rec.Name, rec.ID)
			fmt.Fprintln(stdout, key)
			return nil
		},
	}
	create.Flags().StringSliceVar(&roles, "roles", nil, "roles of the key (comma-separated)")
	create.Flags().StringSliceVar(&scopes, "scopes", nil, "scopes of the key (comma-separated)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime (0: until revoked), e.g. 2160h")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLES\tSCOPES\tCREATED\tEXPIRES\tSTATE")
			now := time.Now()
			for _, r := range s.List() {
				state := "active"
				switch {
				case !r.Revoked.IsZero():
					state = "revoked " + r.Revoked.UTC().Format(time.RFC3339)
				case !r.Expires.IsZero() && !now.Before(r.Expires):
					state = "expired"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, dashIfEmpty(strings.Join(r.Roles, ",")),
					dashIfEmpty(strings.Join(r.Scopes, ",")), r.Created.UTC().Format(time.RFC3339), expiry(r.Expires), state)
			}
			return tw.Flush()
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke ID|NAME",
		Short: "Revoke a key; running gateways refuse it within about a second",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			rec, err := s.Revoke(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked %s (id %s)\n", rec.Name, rec.ID)
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func expiry(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
