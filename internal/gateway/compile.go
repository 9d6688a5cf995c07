package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/idtoken"
	"github.com/rampart-sec/rampart/internal/keys"
	"github.com/rampart-sec/rampart/internal/logging"
	"github.com/rampart-sec/rampart/internal/metrics"
	"github.com/rampart-sec/rampart/internal/respcache"
	"github.com/rampart-sec/rampart/internal/router"
	"github.com/rampart-sec/rampart/internal/upstream"
	"github.com/rampart-sec/rampart/internal/validate"
)

// Deps are the long-lived services a compiled table reports to.
type Deps struct {
	Events  event.Emitter
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Access receives one record per request; nil disables the access log.
	Access *logging.AccessLog
	// Identity signs the identity token sent to upstreams on protected
	// routes; nil sends none.
	Identity *idtoken.Signer
	// APIKeys checks API keys (internal/apikey's Store); nil refuses them.
	APIKeys keyVerifier
	// Login is browser login; nil when not configured (login routes then
	// refuse everyone but other credentials).
	Login *login
	// Limits makes the routes' rate limiters; nil: in memory, per table.
	Limits *limiters
	// Workload presents the gateway's SPIFFE identity to mTLS upstreams;
	// nil when the identity section is not set.
	Workload workloadTLS
	// Keys are the keyrings the transit API serves; nil without transit.
	Keys *keys.Manager
	// Cache stores routes' cached responses across reloads; nil: a memory
	// cache per table.
	Cache *respcache.Cache
}

// Table is one configuration compiled for serving: the router, each route's
// chain and the upstream pools. It is immutable once built; a reload builds a
// new Table and swaps it in atomically.
type Table struct {
	router   *router.Router
	routes   []*route
	pools    map[string]*upstream.Pool
	unrouted *metrics.Route
	trust    trust
	tls      bool
	maxBody  int64
	maxHdr   int64
	// maxInFlight bounds the requests served at once (Handler.inFlight).
	maxInFlight int64
	headers     []headerRule
	hsts        string
	// verifier checks bearer tokens; nil when no issuer is configured.
	verifier *verifierHolder
	// apiKeys checks API keys in the apiKeyHeader request header; nil when
	// no key store is configured.
	apiKeys      keyVerifier
	apiKeyHeader string
	// login is browser login (Deps.Login), shared by every table.
	login *login
	// transit is the transit encryption API at /v1/transit/; nil when not
	// configured.
	transit http.Handler
	// validators compiled the routes' validation; the next reload reuses its
	// WAFs (the rule set is embedded and compiling it is expensive).
	validators *validate.Compiler
}

// route is the compiled chain of one configured route.
type route struct {
	name     string
	upstream string
	proxy    *httputil.ReverseProxy
	// serve is the proxy, or the response cache in front of it.
	serve     http.Handler
	metrics   *metrics.Route
	websocket bool
	// auth is nil for a public route without an allow policy.
	auth *routeAuth
	// limit is nil for a route without a rate limit.
	limit *routeLimit
	// mask is nil for a route whose responses are not masked.
	mask *routeMask
	// validate is nil for a route that does not check request content.
	validate *validate.Chain
}

// headerRule is a security response header. Default rules fill a header the
// upstream did not set; configured rules always win; an empty value removes.
type headerRule struct {
	name, value string
	override    bool
}

var defaultSecurityHeaders = []headerRule{
	{name: "X-Content-Type-Options", value: "nosniff"},
	{name: "X-Frame-Options", value: "DENY"},
	{name: "Referrer-Policy", value: "no-referrer"},
	{name: "Cross-Origin-Resource-Policy", value: "same-origin"},
}

// leakyResponseHeaders reveal upstream software versions; the gateway drops them.
var leakyResponseHeaders = []string{"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version"}

// Compile builds a Table from a validated configuration. Errors are
// config.Errors located in the file. Nothing is started: see start.
func Compile(cfg *config.Config, deps Deps) (*Table, error) {
	return compile(cfg, deps, nil)
}

// compile builds a Table; when prev has the same issuers, the new table takes
// over prev's running verifier (key sets and verified-token cache).
func compile(cfg *config.Config, deps Deps, prev *Table) (*Table, error) {
	var errs config.Errors
	src := cfg.Source
	t := &Table{
		pools:       make(map[string]*upstream.Pool, len(cfg.Upstreams)),
		tls:         !cfg.Gateway.TLS.Disabled,
		maxBody:     int64(cfg.Gateway.Limits.MaxBody),
		maxHdr:      int64(cfg.Gateway.Limits.MaxHeader),
		maxInFlight: int64(cfg.Gateway.Limits.MaxInFlight),
	}
	var prevValidators *validate.Compiler
	if prev != nil {
		prevValidators = prev.validators
	}
	t.validators = validate.NewCompiler(prevValidators)
	tr, err := newTrust(cfg.Gateway.TrustedProxies)
	if err != nil {
		errs = append(errs, src.Errorf("gateway.trusted_proxies", "%v", err))
	}
	t.trust = tr
	t.login = deps.Login
	lims := deps.Limits
	if lims == nil {
		// Checking a configuration (rampart validate) connects nowhere: the
		// limits are compiled against a memory store.
		lims = newLimiters(config.RateLimits{Store: "memory", MaxKeys: cfg.RateLimits.MaxKeys}, deps.Events, deps.Log)
	}
	if deps.APIKeys != nil {
		t.apiKeys = deps.APIKeys
		t.apiKeyHeader = http.CanonicalHeaderKey(cfg.APIKeys.Header)
	}
	t.headers = securityHeaders(cfg.Gateway.SecurityHeaders)
	if h := cfg.Gateway.HSTS; h.Enabled && t.tls {
		v := "max-age=" + strconv.FormatInt(int64(h.MaxAge.Std().Seconds()), 10)
		if h.IncludeSubdomains {
			v += "; includeSubDomains"
		}
		if h.Preload {
			v += "; preload"
		}
		t.hsts = v
	}

	names := make([]string, 0, len(cfg.Upstreams))
	for name := range cfg.Upstreams {
		names = append(names, name)
	}
	sort.Strings(names)
	proxies := make(map[string]*httputil.ReverseProxy, len(names))
	for _, name := range names {
		u := cfg.Upstreams[name]
		pool, err := newPool(name, u, deps)
		if err != nil {
			errs = append(errs, src.Errorf("upstreams."+name, "%v", err))
			continue
		}
		t.pools[name] = pool
		proxies[name] = t.newProxy(pool, deps)
	}

	specs := make([]router.Spec, len(cfg.Routes))
	for i, rc := range cfg.Routes {
		specs[i] = router.Spec{
			Host:           rc.Match.Host,
			Path:           rc.Match.Path,
			Methods:        rc.Match.Methods,
			AllowSemicolon: rc.Match.AllowSemicolon,
		}
		t.routes = append(t.routes, &route{
			name:      rc.Name,
			upstream:  rc.Upstream,
			proxy:     proxies[rc.Upstream],
			metrics:   deps.Metrics.Route(rc.Name),
			websocket: rc.WebSocket,
			mask:      compileMask(rc.Mask),
		})
		rt := t.routes[len(t.routes)-1]
		rt.serve = rt.proxy
		if rc.Cache.TTL > 0 && rt.proxy != nil {
			if h, err := cacheRoute(rc, rt.proxy, deps.Cache); err != nil {
				errs = append(errs, src.Errorf(fmt.Sprintf("routes[%d].cache", i), "%v", err))
			} else {
				rt.serve = h
			}
		}
		if vo := validateOptions(rc.Validate, t.maxBody); vo != nil {
			if ch, err := t.validators.Compile(*vo); err != nil {
				errs = append(errs, src.Errorf(fmt.Sprintf("routes[%d].validate", i), "%v", err))
			} else {
				rt.validate = ch
			}
		}
		ra, aerrs := compileAuth(i, &cfg.Routes[i], src)
		errs = append(errs, aerrs...)
		t.routes[len(t.routes)-1].auth = ra
		if rl, err := lims.limit(rc.Name, rc.RateLimit); err != nil {
			errs = append(errs, src.Errorf(fmt.Sprintf("routes[%d].rate_limit", i), "%v", err))
		} else {
			t.routes[len(t.routes)-1].limit = rl
		}
		if proxies[rc.Upstream] == nil && cfg.Upstreams[rc.Upstream] != nil {
			errs = append(errs, src.Errorf(fmt.Sprintf("routes[%d].upstream", i), "upstream %q could not be built", rc.Upstream))
		}
	}
	reuse := len(cfg.Issuers) > 0 && prev != nil && prev.verifier.same(cfg.Issuers, cfg.Gateway.TokenCache)
	if len(cfg.Issuers) > 0 && !reuse {
		h := &verifierHolder{issuers: cfg.Issuers, cache: cfg.Gateway.TokenCache, events: deps.Events, log: deps.Log}
		if ics, err := issuerConfigs(cfg.Issuers); err != nil {
			errs = append(errs, src.Errorf("issuers", "%v", err))
		} else if len(ics) > 0 {
			entries := cfg.Gateway.TokenCache.Entries
			if entries == 0 {
				entries = -1 // 0 in the file: no cache
			}
			if h.verifier, err = authn.NewVerifier(ics, authn.Options{Events: deps.Events, Log: deps.Log,
				CacheEntries: entries, CacheBytes: int(cfg.Gateway.TokenCache.Memory)}); err != nil {
				errs = append(errs, src.Errorf("issuers", "%v", err))
			}
		}
		var err error
		if h.introspectors, err = newIntrospectors(cfg.Issuers, deps); err != nil {
			errs = append(errs, src.Errorf("issuers", "%v", err))
		}
		t.verifier = h
		t.verifier.owner.Store(t)
	}
	rt, err := router.New(specs)
	if err != nil {
		var se *router.SpecError
		if errors.As(err, &se) {
			errs = append(errs, src.Errorf(fmt.Sprintf("routes[%d].%s", se.Index, se.Field), "%s", se.Msg))
		} else {
			errs = append(errs, src.Errorf("routes", "%v", err))
		}
	}
	t.router = rt
	t.unrouted = deps.Metrics.Route("")
	if len(errs) > 0 {
		t.Close()
		return nil, errs
	}
	if reuse {
		// Shared: prev keeps serving with it until the swap; only the owner
		// stops it on Close.
		t.verifier = prev.verifier
		t.verifier.owner.Store(t)
	}
	if t.transit, err = newTransit(t, cfg.Transit, deps.Keys, deps); err != nil {
		t.Close()
		return nil, config.Errors{src.Errorf("transit", "%v", err)}
	}
	return t, nil
}

func securityHeaders(configured map[string]string) []headerRule {
	var rules []headerRule
	for _, d := range defaultSecurityHeaders {
		if _, ok := lookupFold(configured, d.name); !ok {
			rules = append(rules, d)
		}
	}
	names := make([]string, 0, len(configured))
	for k := range configured {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		rules = append(rules, headerRule{name: http.CanonicalHeaderKey(k), value: configured[k], override: true})
	}
	return rules
}

func lookupFold(m map[string]string, k string) (string, bool) {
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v, true
		}
	}
	return "", false
}

func newPool(name string, u *config.Upstream, deps Deps) (*upstream.Pool, error) {
	targets := make([]*url.URL, 0, len(u.Targets))
	for _, s := range u.Targets {
		t, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", s, err)
		}
		targets = append(targets, t)
	}
	var tlsConf *tls.Config
	if u.MTLS.SPIFFEID != "" {
		var err error
		if tlsConf, err = upstreamMTLS(deps.Workload, u.MTLS.SPIFFEID); err != nil {
			return nil, err
		}
	}
	var roots *x509.CertPool
	if u.TLS.CAFile != "" {
		pem, err := os.ReadFile(u.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read tls.ca_file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s holds no PEM certificate", u.TLS.CAFile)
		}
	}
	return upstream.New(upstream.Options{
		Name:    name,
		Targets: targets,
		Balance: u.Balance,
		Health: upstream.HealthOptions{
			Path:               u.Health.Path,
			Interval:           u.Health.Interval.Std(),
			Timeout:            u.Health.Timeout.Std(),
			HealthyThreshold:   u.Health.HealthyThreshold,
			UnhealthyThreshold: u.Health.UnhealthyThreshold,
		},
		Passive: upstream.PassiveOptions{
			ConsecutiveFailures: u.Passive.ConsecutiveFailures,
			EjectFor:            u.Passive.EjectFor.Std(),
		},
		Breaker: upstream.BreakerOptions{
			ConsecutiveFailures: u.CircuitBreaker.ConsecutiveFailures,
			OpenFor:             u.CircuitBreaker.OpenFor.Std(),
			MaxRequests:         u.CircuitBreaker.MaxRequests,
		},
		Timeout:         u.Timeout.Std(),
		TryTimeout:      u.TryTimeout.Std(),
		ConnectTimeout:  u.ConnectTimeout.Std(),
		Retries:         u.Retries,
		RootCAs:         roots,
		ServerName:      u.TLS.ServerName,
		TLSConfig:       tlsConf,
		MaxIdlePerHost:  u.KeepAlive.MaxIdlePerHost,
		IdleConnTimeout: u.KeepAlive.IdleTimeout.Std(),
		OnHealthChange: func(target string, healthy bool) {
			deps.Metrics.TargetHealth(name, target, healthy)
			sev, reason := event.Medium, "target_unhealthy"
			if healthy {
				sev, reason = event.Info, "target_healthy"
			}
			deps.Events.Emit(event.Event{Type: event.UpstreamHealth, Severity: sev, Reason: reason,
				Detail: "upstream " + name + " target " + target})
		},
	})
}

// bufferPool recycles the proxy's copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32*1024)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

var _ httputil.BufferPool = (*bufferPool)(nil)

// Pools returns the table's upstream pools by name.
func (t *Table) Pools() map[string]*upstream.Pool { return t.pools }

// Close stops the table's pools' health checks and idle connections.
// In-flight requests keep working.
func (t *Table) Close() {
	for _, p := range t.pools {
		p.Close()
	}
	if t.verifier != nil && t.verifier.owner.Load() == t {
		t.verifier.stop()
	}
}

// Check compiles cfg the way the gateway would, without starting anything, and
// returns the located problems (for `rampart validate`).
func Check(cfg *config.Config) error {
	m := metrics.New(nil)
	t, err := Compile(cfg, Deps{Events: event.NewBus(1), Metrics: m, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	t.Close()
	return nil
}
