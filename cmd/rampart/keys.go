package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/keys"
)

// keysCmd manages the encryption keyrings behind field encryption and the
// transit API.
func keysCmd(stdout, stderr io.Writer) *cobra.Command {
	var dataDir, dir, kekFile string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, rotate and retire encryption keyrings (envelope encryption)",
		Long: "Manage named, versioned keyrings: AEAD (AES-256-GCM) or deterministic (AES-SIV).\n" +
			"Key material is stored encrypted under the key-encryption key (KEK) from $" + keys.KEKEnv + "\n" +
			"(32 bytes, standard base64) or --kek-file. Keyrings live in DIR/<name>.keyring, DIR being\n" +
			"--dir or DATA_DIR/keys. A running server picks up changes when it reloads its keyrings.\n" +
			"Ciphertexts look like rampart:v3:BASE64, the number being the key version.",
	}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "", "data directory (default: $RAMPART_DATA_DIR or ~/.local/share/rampart)")
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "the keyring directory itself (overrides --data-dir)")
	cmd.PersistentFlags().StringVar(&kekFile, "kek-file", "", "file holding the KEK in base64 (mode 0600), used when $"+keys.KEKEnv+" is empty")
	open := func() (*keys.Manager, error) {
		kek, err := keys.LoadKEK(os.Getenv(keys.KEKEnv), kekFile)
		if err != nil {
			return nil, err
		}
		d := dir
		if d == "" {
			d = filepath.Join(resolveDataDir(dataDir, ""), "keys")
		}
		m, err := keys.Open(d, kek)
		if err != nil {
			return nil, fmt.Errorf("open keyrings in %s: %w", d, err)
		}
		return m, nil
	}
	// change runs one change (op, for the audit trail), prints the keyring
	// after it and records it as a security event on stderr: who changed
	// which keyring, and how it stands now (never key material).
	change := func(op string, fn func(*keys.Manager) (keys.Info, error)) error {
		m, err := open()
		if err != nil {
			return err
		}
		info, err := fn(m)
		if err != nil {
			return err
		}
		syncEvents(newLogger(stderr, "info")).Emit(event.Event{Type: keys.EventChanged, Severity: event.Medium,
			Reason: op, Principal: operator(),
			Detail: fmt.Sprintf("key=%q primary=v%d min_decrypt=v%d versions=%d", info.Name, info.Primary, info.MinDecryptionVersion, len(info.Versions))})
		printInfo(stdout, info)
		return nil
	}

	generate := &cobra.Command{
		Use:   "generate-kek",
		Short: "Print a new random KEK (base64) for $" + keys.KEKEnv,
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			k := make([]byte, 32)
			if _, err := rand.Read(k); err != nil {
				return fmt.Errorf("generate KEK: %w", err)
			}
			fmt.Fprintln(stderr, "Keep this KEK in a secret store: without it no keyring can be read.")
			fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(k))
			return nil
		},
	}

	var typ string
	create := &cobra.Command{
		Use:   "create NAME [--type aead|deterministic]",
		Short: "Create a keyring with its first version",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return change("create", func(m *keys.Manager) (keys.Info, error) { return m.Create(args[0], keys.Type(typ)) })
		},
	}
	create.Flags().StringVar(&typ, "type", string(keys.AEAD), "aead (AES-256-GCM) or deterministic (AES-SIV, for looked-up fields)")

	rotate := &cobra.Command{
		Use:   "rotate NAME",
		Short: "Add a version and make it the primary; old versions keep decrypting",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return change("rotate", func(m *keys.Manager) (keys.Info, error) { return m.Rotate(args[0]) })
		},
	}

	versionArg := func(s string) (int, error) {
		v, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
		if err != nil {
			return 0, fmt.Errorf("version %q: want a number such as 2 or v2", s)
		}
		return v, nil
	}
	setDisabled := func(disabled bool) func(*cobra.Command, []string) error {
		return func(_ *cobra.Command, args []string) error {
			v, err := versionArg(args[1])
			if err != nil {
				return err
			}
			op := "enable"
			if disabled {
				op = "disable"
			}
			return change(op, func(m *keys.Manager) (keys.Info, error) { return m.SetVersionDisabled(args[0], v, disabled) })
		}
	}
	disable := &cobra.Command{
		Use:   "disable NAME VERSION",
		Short: "Stop a version from decrypting (the key is kept; enable undoes it)",
		Args:  cobra.ExactArgs(2),
		RunE:  setDisabled(true),
	}
	enable := &cobra.Command{
		Use:   "enable NAME VERSION",
		Short: "Let a disabled version decrypt again",
		Args:  cobra.ExactArgs(2),
		RunE:  setDisabled(false),
	}
	minVersion := &cobra.Command{
		Use:   "min-version NAME VERSION",
		Short: "Refuse ciphertexts of versions below VERSION (rewrap them first)",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			v, err := versionArg(args[1])
			if err != nil {
				return err
			}
			return change("min_version", func(m *keys.Manager) (keys.Info, error) { return m.SetMinDecryptionVersion(args[0], v) })
		},
	}

	list := &cobra.Command{
		Use:   "list [NAME]",
		Short: "List keyrings, or the versions of one (never key material)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			m, err := open()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				info, err := m.Get(args[0])
				if err != nil {
					return fmt.Errorf("key %q: %w", args[0], err)
				}
				printInfo(stdout, info)
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tPRIMARY\tMIN_DECRYPT\tVERSIONS")
			for _, i := range m.List() {
				fmt.Fprintf(tw, "%s\t%s\tv%d\tv%d\t%d\n", i.Name, i.Type, i.Primary, i.MinDecryptionVersion, len(i.Versions))
			}
			return tw.Flush()
		},
	}

	var context string
	rewrap := &cobra.Command{
		Use:   "rewrap NAME [--context BASE64] < ciphertexts",
		Short: "Re-encrypt ciphertexts (one per line on stdin) under the primary version",
		Long: "Reads one ciphertext per line and prints each re-encrypted under the primary version, in order;\n" +
			"the plaintext is never printed. All ciphertexts must share the associated data given by --context.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ad, err := base64.StdEncoding.DecodeString(context)
			if err != nil {
				return fmt.Errorf("--context: want standard base64: %w", err)
			}
			m, err := open()
			if err != nil {
				return err
			}
			if _, err := m.Get(args[0]); err != nil {
				return fmt.Errorf("key %q: %w", args[0], err)
			}
			in := bufio.NewScanner(c.InOrStdin())
			in.Buffer(make([]byte, 64<<10), 16<<20)
			out := bufio.NewWriter(stdout)
			defer out.Flush()
			for n := 1; in.Scan(); n++ {
				line := strings.TrimSpace(in.Text())
				if line == "" {
					continue
				}
				ct, err := m.Rewrap(args[0], line, ad)
				if err != nil {
					return fmt.Errorf("line %d: %w", n, err)
				}
				fmt.Fprintln(out, ct)
			}
			if err := in.Err(); err != nil {
				return fmt.Errorf("read ciphertexts: %w", err)
			}
			return nil
		},
	}
	rewrap.Flags().StringVar(&context, "context", "", "associated data of the ciphertexts, standard base64")

	cmd.AddCommand(generate, create, rotate, disable, enable, minVersion, list, rewrap)
	return cmd
}

// printInfo prints one keyring and its versions.
func printInfo(w io.Writer, i keys.Info) {
	fmt.Fprintf(w, "%s (%s): primary v%d, minimum decryption version v%d\n", i.Name, i.Type, i.Primary, i.MinDecryptionVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tCREATED\tSTATE")
	for _, v := range i.Versions {
		state := "active"
		switch {
		case v.Version == i.Primary:
			state = "primary"
		case v.Disabled:
			state = "disabled"
		case v.Version < i.MinDecryptionVersion:
			state = "below minimum"
		}
		fmt.Fprintf(tw, "v%d\t%s\t%s\n", v.Version, v.Created.UTC().Format(time.RFC3339), state)
	}
	tw.Flush()
}

// operator names who runs a CLI command, for the audit trail: the OS
// account (the CLI has no other identity to give).
func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "os:" + u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return "os:" + n
	}
	return "os:unknown"
}
