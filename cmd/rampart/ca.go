package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/identity"
	"github.com/rampart-sec/rampart/internal/ratelimit"
	"github.com/rampart-sec/rampart/internal/securefile"
)

// caReloadInterval is how often `ca serve` rereads the CA state, so that a
// `ca rotate` run by another process takes effect without a signal.
const caReloadInterval = 10 * time.Second

// caMaintainInterval is how often `ca serve` checks whether the intermediate
// is due for rotation (it has weeks of margin).
const caMaintainInterval = time.Hour

// caCmd runs the workload-identity CA: init, issue, token, rotate, bundle, serve.
func caCmd(stdout, stderr io.Writer) *cobra.Command {
	var dataDir, caDir, kekFile, logLevel string
	var leafTTL time.Duration
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Run the workload-identity CA (short-lived SPIFFE X.509 SVIDs)",
		Long: "The CA issues X.509 SVIDs (one SPIFFE URI SAN, 1h by default) from an intermediate under a root.\n" +
			"Its keys are sealed with AES-256-GCM under a key-encryption key: $" + identity.KEKEnv + " (32 bytes, base64)\n" +
			"or --kek-file. Its state lives in --dir (default DATA_DIR/ca).",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&dataDir, "data-dir", "", "data directory (default $RAMPART_DATA_DIR or ~/.local/share/rampart)")
	pf.StringVar(&caDir, "dir", "", "CA directory (default DATA_DIR/ca)")
	pf.StringVar(&kekFile, "kek-file", "", "file holding the key-encryption key in base64 (mode 0600); default $"+identity.KEKEnv)
	pf.StringVar(&logLevel, "log-level", "info", "level of the JSON log on stderr (security events included)")
	pf.DurationVar(&leafTTL, "svid-ttl", identity.DefaultLeafTTL, "default SVID lifetime")

	dir := func() string {
		if caDir != "" {
			return caDir
		}
		return filepath.Join(resolveDataDir(dataDir, ""), "ca")
	}
	kek := func() ([]byte, error) {
		if kekFile != "" {
			b, err := securefile.ReadPrivate("key-encryption key", kekFile, 1024)
			if err != nil {
				return nil, err
			}
			return identity.ParseKEK(string(b))
		}
		return identity.ParseKEK(os.Getenv(identity.KEKEnv))
	}
	logger := func() *slog.Logger { return newLogger(stderr, logLevel) }
	joinRate, joinBurst := "30/m", 10
	open := func(events event.Emitter) (*identity.CA, error) {
		k, err := kek()
		if err != nil {
			return nil, err
		}
		rate, period, err := ratelimit.ParseRate(joinRate)
		if err != nil {
			return nil, fmt.Errorf("--join-rate: %w", err)
		}
		return identity.Open(dir(), k, identity.WithEvents(events), identity.WithLeafTTL(leafTTL),
			identity.WithJoinLimit(ratelimit.Limit{Rate: rate, Period: period, Burst: joinBurst}))
	}

	var td string
	initCmd := &cobra.Command{
		Use:   "init --trust-domain example.org",
		Short: "Create the root and intermediate CA",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			t, err := spiffeid.TrustDomainFromString(td)
			if err != nil {
				return fmt.Errorf("--trust-domain %q: %w", td, err)
			}
			k, err := kek()
			if err != nil {
				return err
			}
			ca, err := identity.Init(dir(), k, t, identity.WithEvents(syncEvents(logger())), identity.WithLeafTTL(leafTTL))
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "CA for spiffe://%s created in %s. Its trust bundle (give it to workloads as their bootstrap bundle):\n", t.Name(), dir())
			stdout.Write(identity.BundlePEM(ca.Bundle()))
			return nil
		},
	}
	initCmd.Flags().StringVar(&td, "trust-domain", "", "SPIFFE trust domain, e.g. example.org")
	initCmd.MarkFlagRequired("trust-domain")

	var spiffeID, certFile, keyFile string
	var ttl time.Duration
	issueCmd := &cobra.Command{
		Use:   "issue --spiffe-id spiffe://TD/SERVICE --cert FILE --key FILE",
		Short: "Issue an SVID and write its chain and key (for bootstrapping and tests)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := spiffeid.FromString(spiffeID)
			if err != nil {
				return fmt.Errorf("--spiffe-id %q: %w", spiffeID, err)
			}
			ca, err := open(syncEvents(logger()))
			if err != nil {
				return err
			}
			svid, err := ca.NewSVID(cmd.Context(), id, ttl)
			if err != nil {
				return err
			}
			if err := identity.WritePEM(svid, certFile, keyFile); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "issued %s until %s: %s, %s\n", id, svid.Certificates[0].NotAfter.UTC().Format(time.RFC3339), certFile, keyFile)
			return nil
		},
	}
	issueCmd.Flags().StringVar(&spiffeID, "spiffe-id", "", "SPIFFE ID of the workload")
	issueCmd.Flags().StringVar(&certFile, "cert", "svid.pem", "where to write the certificate chain (PEM)")
	issueCmd.Flags().StringVar(&keyFile, "key", "svid.key", "where to write the private key (PEM, mode 0600)")
	issueCmd.Flags().DurationVar(&ttl, "ttl", 0, "lifetime (default: --svid-ttl)")
	issueCmd.MarkFlagRequired("spiffe-id")

	var tokenTTL time.Duration
	tokenCmd := &cobra.Command{
		Use:   "token --spiffe-id spiffe://TD/SERVICE [--ttl 5m]",
		Short: "Create a one-time join token bound to one SPIFFE ID and print it",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			id, err := spiffeid.FromString(spiffeID)
			if err != nil {
				return fmt.Errorf("--spiffe-id %q: %w", spiffeID, err)
			}
			ca, err := open(syncEvents(logger()))
			if err != nil {
				return err
			}
			tok, err := ca.NewJoinToken(id, tokenTTL)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "Join token for %s, valid once within %v. It is shown once, here; only its hash is stored.\n", id, tokenTTL)
			fmt.Fprintln(stdout, tok)
			return nil
		},
	}
	tokenCmd.Flags().StringVar(&spiffeID, "spiffe-id", "", "SPIFFE ID the token is bound to")
	tokenCmd.Flags().DurationVar(&tokenTTL, "ttl", 5*time.Minute, "how long the token may be used (at most 24h)")
	tokenCmd.MarkFlagRequired("spiffe-id")

	var rotInter, rotRoot bool
	var activateAfter time.Duration
	rotateCmd := &cobra.Command{
		Use:   "rotate --intermediate | --root [--activate-after 15m]",
		Short: "Rotate the intermediate or the root CA, with an overlap where old and new are trusted",
		Long: "--intermediate: a new intermediate under the current root signs from now on; SVIDs of the old one stay valid.\n" +
			"--root: a new root joins the trust bundle now and signs after --activate-after (longer than the workloads'\n" +
			"bundle refresh interval); the old root stays trusted until the SVIDs it chained have expired.\n" +
			"A running `ca serve` picks the rotation up within " + caReloadInterval.String() + " (or on SIGHUP).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rotInter == rotRoot {
				return errors.New("give exactly one of --intermediate and --root")
			}
			ca, err := open(syncEvents(logger()))
			if err != nil {
				return err
			}
			if rotInter {
				err = ca.RotateIntermediate(cmd.Context())
			} else {
				err = ca.RotateRoot(cmd.Context(), activateAfter)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, "rotated; trust bundle now:")
			stdout.Write(identity.BundlePEM(ca.Bundle()))
			return nil
		},
	}
	rotateCmd.Flags().BoolVar(&rotInter, "intermediate", false, "rotate the intermediate CA")
	rotateCmd.Flags().BoolVar(&rotRoot, "root", false, "rotate the root CA (and the intermediate)")
	rotateCmd.Flags().DurationVar(&activateAfter, "activate-after", 15*time.Minute, "with --root: delay before the new root signs")

	bundleCmd := &cobra.Command{
		Use:   "bundle",
		Short: "Print the trust bundle (the roots trusted now) in PEM",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ca, err := open(syncEvents(logger()))
			if err != nil {
				return err
			}
			_, err = stdout.Write(identity.BundlePEM(ca.Bundle()))
			return err
		},
	}

	var listen string
	serveCmd := &cobra.Command{
		Use:   "serve [--listen 127.0.0.1:8445]",
		Short: "Serve the CA API: /v1/join, /v1/renew, /v1/bundle over TLS 1.3",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			log := logger()
			ctx, reload, stop := signals()
			defer stop()
			bus := event.NewBus(4096, eventLogSink(log))
			busCtx, stopBus := context.WithCancel(context.Background())
			go bus.Run(busCtx)
			defer func() { stopBus(); <-bus.Done() }()
			ca, err := open(bus)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen %s: %w", listen, err)
			}
			maintain := func() {
				if rotated, err := ca.RotateIntermediateIfDue(ctx); err != nil {
					log.Error("intermediate CA rotation", "error", err)
				} else if rotated {
					log.Info("intermediate CA rotated before its expiry")
				}
			}
			maintain()
			go func() {
				reloadT := time.NewTicker(caReloadInterval)
				defer reloadT.Stop()
				maintainT := time.NewTicker(caMaintainInterval)
				defer maintainT.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-maintainT.C:
						maintain()
						continue
					case <-reload:
					case <-reloadT.C:
					}
					if err := ca.Reload(); err != nil {
						log.Error("reload CA state; serving the previous state", "error", err)
					}
				}
			}()
			log.Info("CA serving", "addr", ln.Addr().String(), "trust_domain", ca.TrustDomain().Name())
			return ca.Serve(ctx, ln, slog.NewLogLogger(log.Handler(), slog.LevelWarn))
		},
	}
	serveCmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8445", "address of the CA API")
	serveCmd.Flags().StringVar(&joinRate, "join-rate", "30/m", "/v1/join calls allowed per client address (count/s|m|h|d); more get 429")
	serveCmd.Flags().IntVar(&joinBurst, "join-burst", 10, "/v1/join calls one address may make at once")

	cmd.AddCommand(initCmd, issueCmd, tokenCmd, rotateCmd, bundleCmd, serveCmd)
	return cmd
}

// eventLogSink logs security events; warnings from medium severity up.
func eventLogSink(log *slog.Logger) event.Sink {
	return event.SinkFunc(func(e event.Event) {
		level := slog.LevelInfo
		if e.Severity >= event.Medium {
			level = slog.LevelWarn
		}
		log.LogAttrs(context.Background(), level, "security event",
			slog.String("type", string(e.Type)), slog.String("severity", e.Severity.String()),
			slog.String("reason", e.Reason), slog.String("principal", e.Principal), slog.String("route", e.Route),
			slog.String("client_ip", e.ClientIP), slog.String("detail", e.Detail))
	})
}

// syncEvents delivers events at once: one-shot commands have no bus to drain.
func syncEvents(log *slog.Logger) event.Emitter { return syncEmitter{eventLogSink(log)} }

type syncEmitter struct{ sink event.Sink }

func (s syncEmitter) Emit(e event.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.sink.Handle(e)
}
