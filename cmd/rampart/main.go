// Command rampart is Rampart's single binary: the edge gateway, config
// validation and the demo. This file only wires the CLI; the work lives in
// internal/ packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/demo"
	"github.com/rampart-sec/rampart/internal/gateway"
	"github.com/rampart-sec/rampart/internal/logging"
	"github.com/rampart-sec/rampart/internal/redact"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// exitError carries an exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintln(stderr, "rampart:", err)
		return 1
	}
	return 0
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "rampart",
		Short:         "Rampart: a zero-trust security layer for microservices",
		Long:          "Rampart is an edge API gateway and security layer for microservices, shipped as one binary.\nStart with `rampart demo`.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(gatewayCmd(stdout, stderr), validateCmd(stdout, stderr), demoCmd(stdout, stderr), apikeyCmd(stdout, stderr), keysCmd(stdout, stderr), caCmd(stdout, stderr), tokenCmd(stdout, stderr), meshCmd(stdout, stderr), versionCmd(stdout))
	return root
}

func gatewayCmd(stdout, stderr io.Writer) *cobra.Command {
	var cfgPath, dataDir string
	cmd := &cobra.Command{
		Use:   "gateway --config FILE",
		Short: "Run the edge API gateway",
		Long: "Run the edge API gateway with the given configuration.\n" +
			"The config is validated first; on any problem every error is listed (file:line: key: message) and nothing starts.\n" +
			"SIGHUP or a change to the file reloads routes and upstreams; SIGTERM drains in-flight requests.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				printConfigErrors(stderr, err)
				return exitError{1}
			}
			logger := newLogger(stderr, cfg.Log.Level)
			ctx, reload, stop := signals()
			defer stop()
			err = gateway.Run(ctx, gateway.Options{
				ConfigPath: cfgPath,
				Config:     cfg,
				DataDir:    resolveDataDir(dataDir, cfg.DataDir),
				Log:        logger,
				Stdout:     stdout,
				Stderr:     stderr,
				Reload:     reload,
			})
			if err != nil {
				printConfigErrors(stderr, err)
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file (YAML)")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "directory for generated state (default: data_dir from the config, $RAMPART_DATA_DIR, or ~/.local/share/rampart)")
	cmd.MarkFlagRequired("config")
	return cmd
}

func validateCmd(stdout, stderr io.Writer) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Check a configuration file and list every problem",
		Long:  "Check a configuration file. Exits 0 when it is valid, 1 with every problem listed as file:line: key: message.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err == nil {
				// Compile what the gateway would compile, so that route conflicts are found too.
				err = gateway.Check(cfg)
			}
			if err != nil {
				printConfigErrors(stderr, err)
				return exitError{1}
			}
			fmt.Fprintf(stdout, "%s: ok (%d routes, %d upstreams)\n", cfgPath, len(cfg.Routes), len(cfg.Upstreams))
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file (YAML)")
	cmd.MarkFlagRequired("config")
	return cmd
}

func demoCmd(stdout, stderr io.Writer) *cobra.Command {
	var o demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the gateway with sample services on loopback, and show what to try",
		Long: "Start, on 127.0.0.1 only, the gateway with a generated configuration and sample upstream services,\n" +
			"print the URLs and curl commands to try, and stream security events. Ctrl-C stops everything.\n" +
			"With --check, run the tour itself, print the results and exit (0 when every step behaved).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.DataDir = resolveDataDir(o.DataDir, "")
			o.Stdout = stdout
			o.Log = newLogger(stderr, o.LogLevel)
			ctx, _, stop := signals()
			defer stop()
			if err := demo.Run(ctx, o); err != nil {
				fmt.Fprintln(stderr, "rampart demo:", err)
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Listen, "listen", "127.0.0.1:8443", "gateway address (loopback only)")
	cmd.Flags().StringVar(&o.Admin, "admin", "127.0.0.1:9901", "admin address (loopback only)")
	cmd.Flags().StringVar(&o.DataDir, "data-dir", "", "directory for the demo's generated files (default $RAMPART_DATA_DIR or ~/.local/share/rampart)")
	cmd.Flags().StringVar(&o.LogLevel, "log-level", "error", "level of the gateway's own JSON log (security events are shown by the demo either way)")
	cmd.Flags().BoolVar(&o.Check, "check", false, "run the tour automatically and exit")
	return cmd
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						rev = " (" + s.Value[:12] + ")"
					}
				}
			}
			fmt.Fprintf(stdout, "rampart %s%s\n", version, rev)
		},
	}
}

// signals returns a context canceled on SIGINT/SIGTERM and a channel fed on SIGHUP.
func signals() (context.Context, <-chan struct{}, func()) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ctx, reload, func() { signal.Stop(hup); stop() }
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	o := logging.Options{Level: l}
	// Every Rampart log goes through PII and secret redaction.
	if pii, err := redact.New(redact.Options{}); err == nil {
		o.Redact = pii.Field
	}
	return logging.New(w, o)
}

func printConfigErrors(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		fmt.Fprintf(w, "invalid configuration (%d problem%s):\n", len(errs), plural(len(errs)))
		for _, e := range errs {
			fmt.Fprintln(w, "  "+e.Error())
		}
		return
	}
	fmt.Fprintln(w, "rampart:", err)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// resolveDataDir picks the data directory: flag, config, $RAMPART_DATA_DIR,
// $XDG_DATA_HOME/rampart, ~/.local/share/rampart.
func resolveDataDir(flag, fromConfig string) string {
	for _, d := range []string{flag, fromConfig, os.Getenv("RAMPART_DATA_DIR")} {
		if strings.TrimSpace(d) != "" {
			return d
		}
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "rampart")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "rampart")
	}
	return ".rampart"
}
