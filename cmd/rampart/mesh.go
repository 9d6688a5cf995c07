package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"gopkg.in/yaml.v3"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/mesh"
	"github.com/rampart-sec/rampart/internal/securefile"
	"github.com/rampart-sec/rampart/sdk/mtls"
)

// joinTokenEnv holds the one-time join token when --join-token-file is not given.
const joinTokenEnv = "RAMPART_JOIN_TOKEN"

// meshCmd runs the sidecar beside one service.
func meshCmd(stdout, stderr io.Writer) *cobra.Command {
	var cfgPath, caURL, bundleFile, tokenFile, svidDir, logLevel string
	cmd := &cobra.Command{
		Use:   "mesh --config FILE --ca URL --bundle FILE",
		Short: "Run the mTLS sidecar beside one service",
		Long: "Run the sidecar of one service: callers reach the service over mTLS (TLS 1.3, client SVID required)\n" +
			"and each request is authorized by caller SPIFFE ID, method and path before it is forwarded to the app\n" +
			"on loopback with X-Rampart-Caller; the app calls its dependencies through plaintext listeners on\n" +
			"loopback that the sidecar turns into mTLS calls checked against each dependency's SPIFFE ID.\n" +
			"The app must listen on loopback only.\n\n" +
			"The identity comes from `rampart ca serve` (--ca) with a one-time join token (--join-token-file or\n" +
			"$" + joinTokenEnv + ") and is renewed at half life; --svid-dir keeps it across restarts.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, root, err := loadMeshConfig(cfgPath)
			if err != nil {
				fmt.Fprintln(stderr, "rampart mesh:", err)
				return exitError{1}
			}
			if errs := mesh.Validate(cfg); len(errs) > 0 {
				fmt.Fprintf(stderr, "invalid configuration %s (%d problem%s):\n", cfgPath, len(errs), plural(len(errs)))
				for _, e := range errs {
					fmt.Fprintln(stderr, "  "+locate(cfgPath, root, e))
				}
				return exitError{1}
			}
			log := newLogger(stderr, logLevel)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			bus := event.NewBus(4096, eventLogSink(log))
			busCtx, stopBus := context.WithCancel(context.Background())
			go bus.Run(busCtx)
			defer func() { stopBus(); <-bus.Done() }()

			src, err := meshSource(ctx, cfg, caURL, bundleFile, tokenFile, svidDir, log)
			if err != nil {
				return err
			}
			defer src.Close()
			s, err := mesh.New(cfg, src, mesh.Options{Log: log, Events: bus})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "rampart mesh: %s: inbound on %s, app %s\n", cfg.Service, s.InboundAddr(), cfg.App)
			for _, d := range cfg.Outbound {
				fmt.Fprintf(stdout, "rampart mesh: outbound %s on %s -> %s (%s)\n", d.Name, s.OutboundAddr(d.Name), d.Target, d.SPIFFEID)
			}
			return s.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "", "sidecar configuration (YAML: service, listen, app, inbound, outbound)")
	f.StringVar(&caURL, "ca", "", "URL of the CA (rampart ca serve), e.g. https://ca.internal:8445")
	f.StringVar(&bundleFile, "bundle", "", "the CA's trust bundle in PEM (rampart ca bundle)")
	f.StringVar(&tokenFile, "join-token-file", "", "file holding a one-time join token from rampart ca token (default $"+joinTokenEnv+")")
	f.StringVar(&svidDir, "svid-dir", "", "directory that keeps the SVID across restarts (svid.pem, svid.key; mode 0600)")
	f.StringVar(&logLevel, "log-level", "info", "level of the JSON log on stderr (security events included)")
	cmd.MarkFlagRequired("config")
	cmd.MarkFlagRequired("ca")
	cmd.MarkFlagRequired("bundle")
	return cmd
}

// loadMeshConfig reads the sidecar's YAML strictly (an unknown key is an
// error) and returns its node tree, which locates later problems.
func loadMeshConfig(path string) (mesh.Config, *yaml.Node, error) {
	var cfg mesh.Config
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, nil, fmt.Errorf("read config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return cfg, nil, fmt.Errorf("config %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, &root, nil
}

// locate formats a validation problem as file:line: key: message, the line
// being that of the key path (or of its nearest parent in the file).
func locate(file string, root *yaml.Node, err error) string {
	var ce *mesh.ConfigError
	if !errors.As(err, &ce) || root == nil || len(root.Content) == 0 {
		return file + ": " + err.Error()
	}
	n, line := root.Content[0], root.Content[0].Line
	for _, part := range strings.FieldsFunc(ce.Field, func(r rune) bool { return r == '.' || r == '[' || r == ']' }) {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					next, line = n.Content[i+1], n.Content[i].Line
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(part); err == nil && i >= 0 && i < len(n.Content) {
				next, line = n.Content[i], n.Content[i].Line
			}
		}
		if next == nil {
			break
		}
		n = next
	}
	return fmt.Sprintf("%s:%d: %s", file, line, err)
}

// meshSource joins the CA as the config's service (or loads the SVID kept
// in svidDir) and keeps the SVID renewed.
func meshSource(ctx context.Context, cfg mesh.Config, caURL, bundleFile, tokenFile, svidDir string, log *slog.Logger) (*mtls.Source, error) {
	id, err := spiffeid.FromString(cfg.Service)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", cfg.Service, err)
	}
	bundle, err := os.ReadFile(bundleFile)
	if err != nil {
		return nil, fmt.Errorf("read trust bundle: %w", err)
	}
	token := os.Getenv(joinTokenEnv)
	if tokenFile != "" {
		b, err := securefile.ReadPrivate("join token", tokenFile, 4096)
		if err != nil {
			return nil, err
		}
		token = strings.TrimSpace(string(b))
	}
	mc := mtls.Config{CA: caURL, TrustDomain: id.TrustDomain(), Bundle: bundle, JoinToken: token, Logger: log}
	if svidDir != "" {
		mc.CertFile, mc.KeyFile = filepath.Join(svidDir, "svid.pem"), filepath.Join(svidDir, "svid.key")
	}
	src, err := mtls.New(ctx, mc)
	if err != nil {
		return nil, fmt.Errorf("workload identity: %w", err)
	}
	log.Info("mesh: identity ready", "spiffe_id", src.ID().String())
	return src, nil
}
