package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rampart-sec/rampart/internal/admin"
	"github.com/rampart-sec/rampart/internal/apikey"
	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/edgetls"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/framing"
	"github.com/rampart-sec/rampart/internal/idtoken"
	"github.com/rampart-sec/rampart/internal/logging"
	"github.com/rampart-sec/rampart/internal/metrics"
	"github.com/rampart-sec/rampart/internal/redact"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// Options start a gateway.
type Options struct {
	// ConfigPath is watched for changes; Config is its already-validated content.
	ConfigPath string
	Config     *config.Config
	// DataDir holds the development CA when no certificate is configured.
	DataDir string
	Log     *slog.Logger
	// Stdout and Stderr are where "stdout"/"stderr" access logs go.
	Stdout, Stderr io.Writer
	// Reload triggers a config (and certificate) reload, e.g. on SIGHUP.
	Reload <-chan struct{}
	// Started, if set, receives the bound addresses once every listener is up.
	Started func(Addrs)
	// Events, if set, also receives every security event (the demo prints them).
	Events event.Sink
}

// Addrs are the addresses the gateway listens on.
type Addrs struct {
	Gateway, Admin, Redirect string
	// CAFile is the development CA to trust when no certificate was configured.
	CAFile string
}

// Run serves until ctx is done, then drains in-flight requests for at most
// gateway.shutdown_timeout. It returns an error if a listener cannot start.
func Run(ctx context.Context, o Options) error {
	cfg := o.Config
	logger := o.Log
	bus := event.NewBus(8192)
	m := metrics.New(bus.Dropped)
	bus.Subscribe(m)
	bus.Subscribe(eventLogger(logger))
	if o.Events != nil {
		bus.Subscribe(o.Events)
	}
	busCtx, stopBus := context.WithCancel(context.Background())
	go bus.Run(busCtx)
	defer func() { stopBus(); <-bus.Done() }()

	accessW, closeAccess, err := accessWriter(cfg.Log.Access, o.Stdout, o.Stderr)
	if err != nil {
		return err
	}
	defer closeAccess()
	deps := Deps{Events: bus, Metrics: m, Log: logger}
	if accessW != nil {
		// PII and secrets in any access-log value (an e-mail in a path, a
		// card number in a query) are masked before the line is written.
		pii, err := redact.New(redact.Options{})
		if err != nil {
			return fmt.Errorf("access log redaction: %w", err)
		}
		deps.Access = logging.NewAccessLog(accessW, pii.Field)
	}
	// The identity-token key lives in the data directory so that services
	// can keep trusting the gateway across restarts.
	idKey, err := idtoken.LoadOrCreateKey(filepath.Join(o.DataDir, "identity", "identity-key.pem"))
	if err != nil {
		return fmt.Errorf("identity token key: %w", err)
	}
	deps.Identity = idtoken.NewSigner(idKey, principal.DefaultGatewayIssuer, IdentityTTL)
	cache, closeCache, err := newResponseCache(cfg.ResponseCache, bus, logger)
	if err != nil {
		return fmt.Errorf("response cache: %w", err)
	}
	defer closeCache()
	deps.Cache = cache
	if len(cfg.Transit.Issuers) > 0 {
		m, err := openKeys(ctx, cfg.Transit, o.DataDir, logger)
		if err != nil {
			return err
		}
		deps.Keys = m
	}
	if cfg.Identity.TrustDomain != "" {
		// The workload identity for mTLS upstreams; a change to the identity
		// section takes a restart.
		src, err := startWorkload(ctx, cfg.Identity, o.DataDir, logger)
		if err != nil {
			return err
		}
		defer src.Close()
		deps.Workload = src
	}
	// The API key store is opened even when no route uses it yet, so that a
	// reload can add such routes; it is re-read when "rampart apikey" changes it.
	keys, err := apikey.OpenStore(cfg.APIKeys.StorePath(o.DataDir), apikey.Options{Log: logger})
	if err != nil {
		return fmt.Errorf("api key store: %w", err)
	}
	keysCtx, stopKeys := context.WithCancel(context.Background())
	defer stopKeys()
	keys.Start(keysCtx)
	deps.APIKeys = keys
	deps.Limits = newLimiters(cfg.RateLimits, bus, logger)
	defer deps.Limits.close()
	if deps.Login, err = newLogin(cfg, logger, bus); err != nil {
		return err
	}
	if deps.Login != nil {
		deps.Login.start(keysCtx)
	}

	table, err := Compile(cfg, deps)
	if err != nil {
		return err
	}
	poolsCtx, stopPools := context.WithCancel(context.Background())
	defer stopPools()
	table.start(poolsCtx)
	go func() {
		// An issuer that is down at start does not stop the gateway: the
		// routes that need it answer 503 and /readyz lists them.
		if !table.verifier.waitReady(poolsCtx, 10*time.Second) {
			st := table.status()
			logger.Error("issuer keys unavailable: routes that need them answer 503 until the keys are fetched",
				"issuers", st.Issuers, "routes_not_ready", st.RoutesNotReady)
		}
	}()
	h := NewHandler(table, deps)
	defer func() { h.Table().Close() }()

	var addrs Addrs
	var tlsConf *tls.Config
	var reloader *edgetls.Reloader
	if !cfg.Gateway.TLS.Disabled {
		certFile, keyFile := cfg.Gateway.TLS.Cert, cfg.Gateway.TLS.Key
		if certFile == "" {
			dir := filepath.Join(o.DataDir, "dev-ca")
			certFile, keyFile, addrs.CAFile, err = edgetls.DevCertificate(dir, nil)
			if err != nil {
				return fmt.Errorf("create development certificate: %w", err)
			}
			logger.Warn("NO TLS CERTIFICATE CONFIGURED: serving a development certificate from a local CA; clients must trust it explicitly. Set gateway.tls.cert and gateway.tls.key for production.",
				"ca_file", addrs.CAFile)
		}
		reloader, err = edgetls.NewReloader(certFile, keyFile, logger)
		if err != nil {
			return fmt.Errorf("load edge certificate: %w", err)
		}
		m.CertificateExpiry(reloader.Leaf().NotAfter)
		go reloader.Watch(ctx, func(err error) {
			if err != nil {
				bus.Emit(event.Event{Type: event.TLSReload, Severity: event.High, Reason: "refused", Detail: err.Error()})
				return
			}
			m.CertificateExpiry(reloader.Leaf().NotAfter)
			bus.Emit(event.Event{Type: event.TLSReload, Severity: event.Info, Reason: "reloaded"})
		})
		if tlsConf, err = edgetls.ServerConfig(reloader, cfg.Gateway.TLS.MinVersion); err != nil {
			return err
		}
		if cc := cfg.Gateway.TLS.ClientCerts; cc.Mode != "" {
			if err := edgetls.RequireClientCerts(tlsConf, cc.CAFile, cc.Mode == "required"); err != nil {
				return err
			}
		}
	} else {
		logger.Warn("TLS IS DISABLED (gateway.tls.disabled): traffic to this listener is plaintext")
	}

	lim := cfg.Gateway.Limits
	errLog := log.New(&serverErrorLog{log: logger}, "", 0)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout.Std(),
		ReadTimeout:       lim.ReadTimeout.Std(),
		WriteTimeout:      lim.WriteTimeout.Std(),
		IdleTimeout:       lim.IdleTimeout.Std(),
		MaxHeaderBytes:    maxHeaderBytes(int(lim.MaxHeader)),
		TLSConfig:         tlsConf,
		ErrorLog:          errLog,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: lim.MaxConcurrentStreams,
			MaxReadFrameSize:     1 << 14,
		},
		Protocols:                    new(http.Protocols),
		ConnContext:                  framing.ConnContext,
		DisableGeneralOptionsHandler: true, // OPTIONS * is routed like any request, never answered by net/http
	}
	srv.Protocols.SetHTTP1(true)
	if tlsConf != nil {
		srv.Protocols.SetHTTP2(true)
	}

	ln, err := net.Listen("tcp", cfg.Gateway.Listen)
	if err != nil {
		return fmt.Errorf("listen on gateway.listen %s: %w", cfg.Gateway.Listen, err)
	}
	ln = newLimitListener(ln, lim.MaxConnections)
	addrs.Gateway = ln.Addr().String()
	// The framing listener terminates TLS itself (handshakes off the accept
	// path, bounded by read_header_timeout and, through the limit listener, by
	// max_connections) and inspects HTTP/1 bytes for ambiguous framing that
	// net/http would silently normalize.
	gatewayLn := framing.NewListener(ln, framing.Options{TLSConfig: tlsConf, HandshakeTimeout: lim.ReadHeaderTimeout.Std()})

	ready := &atomic.Bool{}
	adminLn, err := net.Listen("tcp", cfg.Gateway.Admin)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen on gateway.admin %s: %w", cfg.Gateway.Admin, err)
	}
	addrs.Admin = adminLn.Addr().String()
	adminSrv := &http.Server{
		Handler: admin.Handler(m.Registry, func() (bool, any) {
			return ready.Load(), h.Table().status()
		}, deps.Identity.JWKS()),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          errLog,
	}

	servers := []*http.Server{srv, adminSrv}
	var redirectLn net.Listener
	if cfg.Gateway.RedirectHTTP != "" {
		redirectLn, err = net.Listen("tcp", cfg.Gateway.RedirectHTTP)
		if err != nil {
			ln.Close()
			adminLn.Close()
			return fmt.Errorf("listen on gateway.redirect_http %s: %w", cfg.Gateway.RedirectHTTP, err)
		}
		addrs.Redirect = redirectLn.Addr().String()
		servers = append(servers, &http.Server{
			Handler:           redirectHandler(addrs.Gateway),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       30 * time.Second,
			MaxHeaderBytes:    maxHeaderBytes(int(lim.MaxHeader)),
			ErrorLog:          errLog,
		})
	}

	serveErr := make(chan error, len(servers))
	go func() { serveErr <- srv.Serve(gatewayLn) }()
	go func() { serveErr <- adminSrv.Serve(adminLn) }()
	if redirectLn != nil {
		go func() { serveErr <- servers[2].Serve(redirectLn) }()
	}
	ready.Store(true)
	logger.Info("gateway listening", "listen", addrs.Gateway, "admin", addrs.Admin, "tls", tlsConf != nil,
		"routes", len(cfg.Routes), "upstreams", len(cfg.Upstreams))
	if o.Started != nil {
		o.Started(addrs)
	}

	rl := &reloaderLoop{path: o.ConfigPath, current: cfg, handler: h, deps: deps, metrics: m, log: logger,
		poolsCtx: poolsCtx, tls: reloader}
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); rl.run(ctx, o.Reload) }()

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("serve: %w", err)
		}
	}
	ready.Store(false)
	logger.Info("shutting down: draining in-flight requests", "timeout", cfg.Gateway.ShutdownTimeout.Std().String())
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.Gateway.ShutdownTimeout.Std())
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(shutCtx); err != nil {
				logger.Warn("shutdown did not finish draining", "error", err.Error())
				s.Close()
			}
		}()
	}
	wg.Wait()
	<-watchDone
	return runErr
}

// maxHeaderBytes converts the configured head limit to net/http's setting,
// which adds 4096 bytes of slack of its own.
func maxHeaderBytes(limit int) int {
	if limit > 8192 {
		return limit - 4096
	}
	return limit / 2
}

// start begins the health checks of every pool.
func (t *Table) start(ctx context.Context) {
	for _, p := range t.pools {
		p.Start(ctx)
	}
	t.verifier.start(ctx)
}

// upstreamStatus is the readiness detail of one pool.
type upstreamStatus struct {
	Ready   bool `json:"ready"`
	Targets []struct {
		URL     string `json:"url"`
		Healthy bool   `json:"healthy"`
	} `json:"targets"`
}

// tableStatus is /readyz's detail: each pool, each issuer's key set, and the
// routes that cannot serve yet because an issuer they need has no keys.
type tableStatus struct {
	Upstreams map[string]upstreamStatus `json:"upstreams"`
	Issuers   map[string]bool           `json:"issuers,omitempty"`
	// Login is "ready" or "discovering" when browser login is configured.
	Login          string   `json:"login,omitempty"`
	RoutesNotReady []string `json:"routes_not_ready,omitempty"`
}

func (t *Table) status() tableStatus {
	out := tableStatus{Upstreams: make(map[string]upstreamStatus, len(t.pools))}
	for name, p := range t.pools {
		s := upstreamStatus{Ready: p.Ready()}
		for _, ts := range p.Status() {
			s.Targets = append(s.Targets, struct {
				URL     string `json:"url"`
				Healthy bool   `json:"healthy"`
			}{ts.URL, ts.Healthy && !ts.Ejected})
		}
		out.Upstreams[name] = s
	}
	if t.login != nil {
		out.Login = "discovering"
		if t.login.ready() {
			out.Login = "ready"
		}
	}
	for _, rt := range t.routes {
		if rt.auth != nil && rt.auth.login && !t.login.ready() {
			out.RoutesNotReady = append(out.RoutesNotReady, rt.name)
		}
	}
	if t.verifier != nil {
		out.Issuers = make(map[string]bool, len(t.verifier.issuers))
		for _, is := range t.verifier.issuers {
			out.Issuers[is.Name] = t.verifier.ready(is.Name)
		}
		for _, rt := range t.routes {
			if rt.auth == nil {
				continue
			}
			for _, name := range rt.auth.issuers {
				if !out.Issuers[name] && !slices.Contains(out.RoutesNotReady, rt.name) {
					out.RoutesNotReady = append(out.RoutesNotReady, rt.name)
					break
				}
			}
		}
	}
	return out
}

// reloaderLoop applies config changes: on a file change or a Reload signal it
// loads and compiles the new config and swaps it in; a bad config is refused
// and the old one keeps serving.
type reloaderLoop struct {
	path     string
	current  *config.Config
	handler  *Handler
	deps     Deps
	metrics  *metrics.Metrics
	log      *slog.Logger
	poolsCtx context.Context
	tls      *edgetls.Reloader
}

func (l *reloaderLoop) run(ctx context.Context, signal <-chan struct{}) {
	var fileEvents <-chan fsnotify.Event
	if l.path != "" {
		w, err := fsnotify.NewWatcher()
		if err == nil {
			// Watch the directory: editors and Kubernetes replace files by rename.
			if err := w.Add(filepath.Dir(l.path)); err == nil {
				fileEvents = w.Events
			}
			defer w.Close()
		}
		if fileEvents == nil {
			l.log.Warn("config file watch unavailable; reload with SIGHUP", "path", l.path)
		}
	}
	base := filepath.Base(l.path)
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-signal:
			if l.tls != nil {
				if err := l.tls.Reload(); err != nil {
					l.log.Error("certificate reload refused; the old certificate keeps serving", "error", err.Error())
				}
			}
			l.reload()
		case ev, ok := <-fileEvents:
			if !ok {
				fileEvents = nil
				continue
			}
			name := filepath.Base(ev.Name)
			if name == base || name == "..data" {
				debounce = time.After(200 * time.Millisecond)
			}
		case <-debounce:
			debounce = nil
			l.reload()
		}
	}
}

func (l *reloaderLoop) reload() {
	if l.path == "" {
		return
	}
	cfg, err := config.Load(l.path)
	if err == nil {
		var t *Table
		t, err = compile(cfg, l.deps, l.handler.Table())
		if err == nil {
			warnRestartOnly(l.log, l.current, cfg)
			t.start(l.poolsCtx)
			if !t.verifier.waitReady(l.poolsCtx, 10*time.Second) {
				l.log.Error("reloaded with issuers whose keys could not be fetched yet: routes that need them answer 503",
					"routes_not_ready", t.status().RoutesNotReady)
			}
			old := l.handler.Swap(t)
			old.Close()
			l.current = cfg
			l.metrics.Reload(true)
			l.deps.Events.Emit(event.Event{Type: event.ConfigReload, Severity: event.Info, Reason: "reloaded"})
			l.log.Info("configuration reloaded", "path", l.path, "routes", len(cfg.Routes))
			return
		}
	}
	l.metrics.Reload(false)
	l.deps.Events.Emit(event.Event{Type: event.ConfigReload, Severity: event.High, Reason: "refused"})
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			l.log.Error("configuration reload refused; the previous configuration keeps serving", "problem", e.Error())
		}
		return
	}
	l.log.Error("configuration reload refused; the previous configuration keeps serving", "error", err.Error())
}

// warnRestartOnly logs the settings a reload cannot change on live listeners.
func warnRestartOnly(log *slog.Logger, old, cur *config.Config) {
	a, b := old.Gateway, cur.Gateway
	if a.Listen != b.Listen || a.Admin != b.Admin || a.RedirectHTTP != b.RedirectHTTP || a.TLS != b.TLS ||
		a.Limits.ReadHeaderTimeout != b.Limits.ReadHeaderTimeout || a.Limits.ReadTimeout != b.Limits.ReadTimeout ||
		a.Limits.IdleTimeout != b.Limits.IdleTimeout || a.Limits.WriteTimeout != b.Limits.WriteTimeout ||
		a.Limits.MaxHeader != b.Limits.MaxHeader || a.Limits.MaxConnections != b.Limits.MaxConnections ||
		a.Limits.MaxConcurrentStreams != b.Limits.MaxConcurrentStreams || old.Log != cur.Log || old.APIKeys.Store != cur.APIKeys.Store ||
		!reflect.DeepEqual(old.Login, cur.Login) || old.RateLimits != cur.RateLimits {
		log.Warn("listener, TLS (client certificates included), timeout, header-limit, log, API key store, login and rate-limit store settings changed: they take effect after a restart; routes (their rate limits included), upstreams, issuers, body limits and headers were reloaded")
	}
}

func eventLogger(log *slog.Logger) event.Sink {
	return event.SinkFunc(func(e event.Event) {
		level := slog.LevelInfo
		if e.Severity >= event.Medium {
			level = slog.LevelWarn
		}
		log.LogAttrs(context.Background(), level, "security event",
			slog.String("type", string(e.Type)), slog.String("severity", e.Severity.String()),
			slog.String("reason", e.Reason), slog.String("route", e.Route), slog.String("client_ip", e.ClientIP),
			slog.String("request_id", e.RequestID), slog.String("detail", e.Detail))
	})
}

func accessWriter(dest string, stdout, stderr io.Writer) (io.Writer, func(), error) {
	var dst io.Writer
	var closeFile func() error
	switch dest {
	case "off":
		return nil, func() {}, nil
	case "", "stdout":
		dst = stdout
	case "stderr":
		dst = stderr
	default:
		f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return nil, nil, fmt.Errorf("open access log %s: %w", dest, err)
		}
		dst, closeFile = f, f.Close
	}
	bw := logging.NewBufferedWriter(dst, 64<<10, 200*time.Millisecond)
	return bw, func() {
		bw.Close()
		if closeFile != nil {
			closeFile()
		}
	}, nil
}

// serverErrorLog routes net/http's internal log lines (TLS handshake errors,
// malformed requests) to the structured log at debug level: they are client
// noise, and the request path emits events for what matters.
type serverErrorLog struct{ log *slog.Logger }

func (s *serverErrorLog) Write(p []byte) (int, error) {
	s.log.Debug("http server", "message", strings.TrimSpace(string(p)))
	return len(p), nil
}

// redirectHandler answers plain HTTP with a permanent redirect to HTTPS on the
// gateway's port.
func redirectHandler(gatewayAddr string) http.Handler {
	_, port, _ := net.SplitHostPort(gatewayAddr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !validHost(host) || len(r.RequestURI) == 0 || r.RequestURI[0] != '/' {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if strings.Contains(host, ":") {
			host = "[" + strings.Trim(host, "[]") + "]"
		}
		if port != "443" {
			host += ":" + port
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.RequestURI, http.StatusPermanentRedirect)
	})
}

// limitListener caps concurrently open connections; Accept waits for a free slot.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func newLimitListener(l net.Listener, n int) net.Listener {
	if n <= 0 {
		return l
	}
	return &limitListener{Listener: l, sem: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
