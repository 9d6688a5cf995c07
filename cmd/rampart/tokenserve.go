package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/edgetls"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/token"
)

// tokenServeCmd serves the token service from the token section of a
// configuration file.
func tokenServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var cfgPath, dataDir string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Serve the OAuth 2.1 / OpenID Connect token service",
		Long: "Serve the token service configured in the file's token section (docs/config.md#token).\n" +
			"The key-encryption key comes from token.kek_file or $RAMPART_TOKEN_KEK; nothing starts without it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				printConfigErrors(stderr, err)
				return exitError{1}
			}
			tc := cfg.Token
			if tc.Listen == "" {
				fmt.Fprintf(stderr, "%s: token: the file has no token section (token.listen, token.issuer)\n", cfgPath)
				return exitError{1}
			}
			dir := resolveDataDir(dataDir, cfg.DataDir)
			o, err := tokenServeOptions(tc, dir)
			if err != nil {
				return err
			}
			log := newLogger(stderr, cfg.Log.Level)
			o.Log = log
			bus := event.NewBus(4096, eventLogSink(log))
			ctx, _, stop := signals()
			defer stop()
			go bus.Run(ctx)
			o.Events = bus
			o.Started = func(addr string) { fmt.Fprintf(stdout, "rampart token: issuer %s, listening on %s\n", tc.Issuer, addr) }
			return token.Serve(ctx, o)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file with a token section")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "directory for the default store and development certificate")
	cmd.MarkFlagRequired("config")
	return cmd
}

// tokenServeOptions resolves the token section's defaults: the store in the
// data directory, the KEK from its file or the environment, and a
// development certificate when none is configured.
func tokenServeOptions(tc config.TokenService, dataDir string) (token.ServeOptions, error) {
	o := token.ServeOptions{
		Config: token.Config{Issuer: tc.Issuer, IssuerName: tc.Name, SigningAlg: tc.SigningAlg,
			AccessTokenLifetime: tc.AccessTokenTTL.Std(), IDTokenLifetime: tc.IDTokenTTL.Std(),
			RefreshTokenLifetime: tc.RefreshTokenTTL.Std(), RefreshGrace: tc.RefreshGrace.Std()},
		StoreDSN: tc.Store, Listen: tc.Listen, CertFile: tc.Cert, KeyFile: tc.Key,
	}
	if o.StoreDSN == "" {
		d := filepath.Join(dataDir, "token")
		if err := os.MkdirAll(d, 0o700); err != nil {
			return o, err
		}
		o.StoreDSN = filepath.Join(d, "token.db")
	}
	kek, err := loadKEK(tc.KEKFile)
	if err != nil {
		return o, err
	}
	o.KEK = kek
	if o.CertFile == "" {
		host := strings.TrimPrefix(tc.Issuer, "https://")
		if h, _, ok := strings.Cut(host, ":"); ok {
			host = h
		}
		o.CertFile, o.KeyFile, _, err = edgetls.DevCertificate(filepath.Join(dataDir, "dev-ca"), []string{host})
		if err != nil {
			return o, fmt.Errorf("development certificate: %w", err)
		}
	}
	return o, nil
}
