// Package demo runs Rampart's embedded default: the gateway with a generated
// configuration in front of sample services, everything on loopback, and a tour
// of what to try. Each step of the tour is both printed as a curl command and
// checkable (`rampart demo --check`), so the demo a newcomer sees is the demo the
// test suite runs. Later capabilities add services, routes and steps here.
package demo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/rampart-sec/rampart/examples/demo/services"
	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/gateway"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// Options configure the demo.
type Options struct {
	Listen, Admin string
	DataDir       string
	LogLevel      string
	// Check runs the tour and exits instead of serving until interrupted.
	Check  bool
	Stdout io.Writer
	Log    *slog.Logger
}

// Run starts the demo and serves until ctx is done (or, with Check, until the
// tour has run).
func Run(ctx context.Context, o Options) error {
	for _, a := range []string{o.Listen, o.Admin} {
		if err := requireLoopback(a); err != nil {
			return err
		}
	}
	dir := filepath.Join(o.DataDir, "demo")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create demo directory: %w", err)
	}

	events := &eventPrinter{w: o.Stdout, quiet: o.Check}
	// Security events of the token service, the CA and the mesh sidecar.
	svcCtx, stopServices := context.WithCancel(ctx)
	defer stopServices()
	svcEvents := event.NewBus(1024, events)
	go svcEvents.Run(svcCtx)

	// Sample services. Each keeps its own SQLite database under the demo
	// directory. The accounts service verifies the gateway's identity
	// tokens (its verifier needs the admin address, known once the gateway
	// runs); it listens on loopback behind a mesh sidecar. The orders
	// service serves mTLS itself (sdk/mtls) and calls accounts over mTLS.
	identity := &lateVerifier{}
	accounts, err := services.Accounts(filepath.Join(dir, "accounts"), identity.middleware, ordersID.String())
	if err != nil {
		return fmt.Errorf("start accounts service: %w", err)
	}
	defer accounts.Close()
	accountsAPI := &services.AccountsAPI{}
	orders, err := services.Orders(filepath.Join(dir, "orders"), accountsAPI)
	if err != nil {
		return fmt.Errorf("start orders service: %w", err)
	}
	defer orders.Close()
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start accounts service: %w", err)
	}
	asrv := &http.Server{Handler: accounts, ReadHeaderTimeout: 5 * time.Second}
	go asrv.Serve(aln)
	defer asrv.Close()
	wl, err := startWorkloads(svcCtx, dir, aln.Addr().String(), orders, accountsAPI, svcEvents, o.Log)
	if err != nil {
		return err
	}
	defer wl.close()
	joinToken, err := wl.gatewayJoinToken()
	if err != nil {
		return err
	}
	if err := os.Setenv("RAMPART_DEMO_JOIN_TOKEN", joinToken); err != nil {
		return err
	}

	jwksFile, toks, err := writeIssuer(dir)
	if err != nil {
		return fmt.Errorf("demo issuer: %w", err)
	}
	if toks.APIKey, err = demoAPIKey(o.DataDir, toks); err != nil {
		return fmt.Errorf("demo API key: %w", err)
	}
	certs, err := writeClientCerts(dir)
	if err != nil {
		return fmt.Errorf("demo client certificates: %w", err)
	}
	listen, err := reservePort(o.Listen)
	if err != nil {
		return err
	}
	// The token service: the real issuer, next to the stand-in one.
	ts, tsDone, err := startTokenService(svcCtx, dir, o.DataDir, listen, o.Log, svcEvents)
	if err != nil {
		return err
	}
	defer func() { stopServices(); <-tsDone }()
	if err := demoSecrets(ts); err != nil {
		return err
	}
	if err := demoKeyring(dir); err != nil {
		return err
	}
	spec := filepath.Join(dir, "orders-openapi.yaml")
	if err := os.WriteFile(spec, []byte(ordersSpec), 0o600); err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "gateway.yaml")
	accessLog := filepath.Join(dir, "access.log")
	gc := gatewayConfig{Listen: listen, Admin: o.Admin, DataDir: o.DataDir, AccessLog: accessLog, JWKSFile: jwksFile,
		ClientCA: certs.CAFile, AccountsAddr: wl.accountsAddr, OrdersAddr: wl.ordersAddr, CAURL: wl.caURL, MeshBundle: wl.bundleFile,
		TokenIssuer: ts.issuer, DevCA: filepath.Join(o.DataDir, "dev-ca", "dev-ca.crt"),
		KeysDir: filepath.Join(dir, "keys"), OrdersSpec: spec}
	if err := os.WriteFile(cfgPath, []byte(gc.yaml()), 0o600); err != nil {
		return fmt.Errorf("write demo config: %w", err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}

	gwCtx, stopGateway := context.WithCancel(ctx)
	defer stopGateway()
	started := make(chan gateway.Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- gateway.Run(gwCtx, gateway.Options{
			ConfigPath: cfgPath, Config: cfg, DataDir: o.DataDir, Log: o.Log,
			Stdout: o.Stdout, Stderr: o.Stdout,
			Started: func(a gateway.Addrs) { started <- a },
			Events:  events,
		})
	}()
	var ga gateway.Addrs
	select {
	case ga = <-started:
	case err := <-done:
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
		return nil
	}

	v, err := principal.NewVerifier(principal.VerifierOptions{Audience: "accounts", JWKSURL: "http://" + ga.Admin + "/identity/jwks.json"})
	if err != nil {
		return fmt.Errorf("accounts service identity verifier: %w", err)
	}
	identity.v.Store(v)

	t := newTour(ga, cfgPath, accessLog, toks, certs, ts, wl)
	if o.Check {
		failed := t.check(ctx, o.Stdout)
		stopGateway()
		<-done
		if failed > 0 {
			return fmt.Errorf("%d tour step(s) did not behave as described", failed)
		}
		return nil
	}
	t.print(o.Stdout)
	events.start()
	select {
	case <-ctx.Done():
		fmt.Fprintln(o.Stdout, "\nstopping the demo...")
		stopGateway()
		return <-done
	case err := <-done:
		return err
	}
}

// lateVerifier is sdk/principal's middleware with a verifier set after the
// service started; until then requests are refused (fail closed).
type lateVerifier struct {
	v atomic.Pointer[principal.Verifier]
}

func (l *lateVerifier) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := l.v.Load()
		if v == nil {
			http.Error(w, `{"error":"starting"}`, http.StatusServiceUnavailable)
			return
		}
		v.Middleware(next).ServeHTTP(w, r)
	})
}

func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("the demo listens on loopback only; %q is not a loopback address", addr)
	}
	return nil
}

// gatewayConfig is what the demo's generated gateway configuration needs.
type gatewayConfig struct {
	Listen, Admin, DataDir, AccessLog, JWKSFile, ClientCA string
	// AccountsAddr (its sidecar) and OrdersAddr are mTLS endpoints; CAURL
	// and MeshBundle are the workload CA the gateway joins.
	AccountsAddr, OrdersAddr, CAURL, MeshBundle string
	// TokenIssuer is the demo token service; DevCA verifies its certificate.
	TokenIssuer, DevCA  string
	KeysDir, OrdersSpec string
}

func (c gatewayConfig) yaml() string {
	return fmt.Sprintf(`# Generated by "rampart demo". Edit it while the demo runs: the gateway reloads it.
data_dir: %q
gateway:
  listen: %q
  admin: %q
  # no tls.cert/key: the gateway issues a development certificate from a local CA
  tls:
    # services may prove who they are with a client certificate (SPIFFE ID)
    client_certs: {mode: optional, ca_file: %q}
  limits:
    max_body: 64KiB
  hsts: {enabled: true}
log:
  level: warn
  access: %q
issuers:
  # The demo's stand-in identity provider: its public keys in a file, and
  # tokens for Alice, Bob and Carol next to it (tokens/*.jwt).
  - name: demo
    issuer: %q
    jwks_file: %q
    audiences: [%s]
    algorithms: [EdDSA]
    token_type: at+jwt
  # The demo's token service (rampart token): client credentials, browser
  # login; revoking a client or a user there reaches this gateway through
  # the revocation feed.
  - name: rampart
    issuer: %q
    jwks_uri: %q
    ca_file: %q
    audiences: [%s]
    algorithms: [EdDSA]
    token_type: at+jwt
    revocations: {endpoint: %q, client_id: %s, client_secret: "${RAMPART_DEMO_FEED_SECRET}", interval: 1s}
login:
  issuer: rampart
  client_id: %s
  client_secret: "${RAMPART_DEMO_WEB_SECRET}"
  redirect_url: "https://%s%s"
  scopes: [profile, accounts:read]
  cookie_key: "${RAMPART_DEMO_COOKIE_KEY}"
transit:
  # /v1/transit/ on this listener: encrypt and decrypt with the "pii" keyring
  issuers: [rampart]
  dir: %q
identity:
  # the gateway's workload certificate (SPIFFE) from the demo's CA, for mTLS
  # to the services
  trust_domain: %s
  ca: %q
  bundle_file: %q
  join_token: "${RAMPART_DEMO_JOIN_TOKEN}"
upstreams:
  accounts:
    # the accounts service's mesh sidecar: mTLS only, the server must prove it is accounts
    targets: ["https://%s"]
    mtls: {spiffe_id: %q}
    health: {path: /healthz, interval: 2s}
  orders:
    # the orders service serves mTLS itself (sdk/mtls)
    targets: ["https://%s"]
    mtls: {spiffe_id: %q}
    health: {path: /healthz, interval: 2s}
routes:
  - name: status
    match: {path: /status, methods: [GET]}
    upstream: accounts
    auth: none
  - name: read-account
    match: {path: "/accounts/{id}", methods: [GET]}
    upstream: accounts
    auth: {issuers: [demo, rampart], scopes: [accounts:read]}
    # a user reads their own account; admins read any
    allow: 'principal.subject == params.id || "admin" in principal.roles'
    # personal data is masked for callers without pii:read
    mask: {fields: [ssn, card], unless_scopes: ["pii:read"], style: last_four}
  - name: me
    match: {path: /me, methods: [GET]}
    upstream: accounts
    # a token, or a browser session from logging in at the token service
    auth: {issuers: [demo, rampart], login: true}
    # each user may ask 5 times a minute
    rate_limit: {key: principal, rate: 5/m}
  - name: orders
    match: {path: /orders, methods: [GET, POST]}
    upstream: orders
    # users with a token, or machine clients with an API key or client-credentials token
    auth: {issuers: [demo, rampart], api_keys: true, scopes: [orders:read]}
    # orders must match the OpenAPI schema; the WAF (OWASP CRS) screens them
    validate: {openapi: %q, reject_unknown_fields: true, waf: {paranoia: 1}}
  - name: order-account
    # the orders service reads the order's account from accounts, over mTLS
    match: {path: "/orders/{id}/account", methods: [GET]}
    upstream: orders
    auth: {issuers: [demo, rampart], scopes: [orders:read]}
  - name: order-payment
    # ...and tries to read its payment details, which accounts' sidecar refuses
    match: {path: "/orders/{id}/payment", methods: [GET]}
    upstream: orders
    auth: {issuers: [demo, rampart], scopes: [orders:read]}
  - name: read-order
    match: {path: "/orders/{id}", methods: [GET]}
    upstream: orders
    # users with orders:read, or the billing service by its certificate
    auth: {issuers: [demo], mtls: true}
    allow: '"orders:read" in principal.scopes || principal.subject == "%s"'
  - name: echo
    match: {path: /echo, methods: [GET]}
    upstream: accounts
    auth: none
`, c.DataDir, c.Listen, c.Admin, c.ClientCA, c.AccessLog, demoIssuer, c.JWKSFile, demoAudience,
		c.TokenIssuer, c.TokenIssuer+"/.well-known/jwks.json", c.DevCA, demoAudience, c.TokenIssuer+"/revocations", demoFeed,
		demoWeb, c.Listen, callbackPath, c.KeysDir, demoTrustDomain, c.CAURL, c.MeshBundle,
		c.AccountsAddr, accountsID.String(), c.OrdersAddr, ordersID.String(), c.OrdersSpec, demoBillingID)
}

// ordersSpec is the orders service's OpenAPI description, which the gateway
// enforces on the orders route.
const ordersSpec = `openapi: 3.0.3
info: {title: orders, version: "1"}
paths:
  /orders:
    get:
      parameters:
        - {name: q, in: query, schema: {type: string, maxLength: 100}}
      responses:
        "200": {description: the orders}
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [item, qty]
              properties:
                account: {type: string, pattern: "^[0-9]{1,10}$"}
                item: {type: string, minLength: 1, maxLength: 64}
                qty: {type: integer, minimum: 1, maximum: 100}
      responses:
        "201": {description: created}
`

// reservePort turns a ":0" address into a free port chosen now: the token
// service must know the gateway's address (its login callback) before the
// gateway starts.
func reservePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// eventPrinter streams security events to the terminal once the tour is printed.
type eventPrinter struct {
	mu      sync.Mutex
	w       io.Writer
	quiet   bool
	started bool
}

func (p *eventPrinter) start() {
	p.mu.Lock()
	p.started = true
	p.mu.Unlock()
}

func (p *eventPrinter) Handle(e event.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet || !p.started || e.Type == event.UpstreamHealth {
		return
	}
	fmt.Fprintf(p.w, "  event  %s  %-18s severity=%-6s reason=%s route=%s client=%s request_id=%s\n",
		e.Time.Format("15:04:05"), e.Type, e.Severity, e.Reason, dash(e.Route), e.ClientIP, e.RequestID)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// step is one thing to try: a curl command for people and a check for the test suite.
type step struct {
	title string
	curl  string
	// cert, if set, is the client certificate the step's request presents.
	cert *clientCerts
	// repeat sends the request this many times; want judges the last answer.
	repeat int
	// local, when set, is checked instead of sending a request (a look at
	// files the demo wrote).
	local func() error
	// eventually retries, for a few seconds, a step whose answer depends on
	// work done off the request path (security events reach the metrics
	// through a queue).
	eventually bool
	req        func(base string) (*http.Request, error)
	want       func(resp *http.Response, body string) error
}

type tour struct {
	addrs     gateway.Addrs
	base      string
	cfgPath   string
	accessLog string
	tokens    string
	// dataDir is the demo directory (DATA_DIR/demo).
	dataDir string
	steps   []step
	// ccToken is the demo client's access token, once fetched.
	ccToken string
	// tokenIssuer and tokenDir locate the demo's token service.
	tokenIssuer, tokenDir string
	// caURL and meshBundle locate the workload CA and the roots it serves under.
	caURL, meshBundle string
}

func newTour(a gateway.Addrs, cfgPath, accessLog string, toks demoTokens, certs clientCerts, ts *tokenService, wl *workloads) *tour {
	base := "https://" + a.Gateway
	curl := "curl -s --cacert " + a.CAFile
	// as shows the curl option that sends a demo user's token.
	as := func(name string) string { return ` -H "Authorization: Bearer $(cat ` + toks.path(name) + `)"` }
	t := &tour{addrs: a, base: base, cfgPath: cfgPath, accessLog: accessLog, tokens: toks.dir, dataDir: filepath.Dir(toks.dir)}
	get := func(path string, hdr ...string) func(string) (*http.Request, error) {
		return func(base string) (*http.Request, error) {
			r, err := http.NewRequest(http.MethodGet, base+path, nil)
			if err != nil {
				return nil, err
			}
			r.URL.Opaque = path // sent exactly as written, in origin-form (like curl --path-as-is)
			for i := 0; i+1 < len(hdr); i += 2 {
				r.Header.Set(hdr[i], hdr[i+1])
			}
			return r, nil
		}
	}
	status := func(code int, contains ...string) func(*http.Response, string) error {
		return func(resp *http.Response, body string) error {
			if resp.StatusCode != code {
				return fmt.Errorf("status %d, want %d (body %q)", resp.StatusCode, code, clip(body))
			}
			for _, c := range contains {
				if !strings.Contains(body, c) {
					return fmt.Errorf("body %q does not contain %q", clip(body), c)
				}
			}
			return nil
		}
	}
	t.steps = []step{
		{
			title: "A public route, over TLS (HTTP/2 when the client offers it)",
			curl:  curl + " " + base + "/status",
			req:   get("/status"),
			want:  status(200, `"status":"ok"`),
		},
		{
			title: "A protected route without a token: 401 with a Bearer challenge, and an authn_failed event",
			curl:  curl + " -i " + base + "/accounts/42",
			req:   get("/accounts/42"),
			want: func(resp *http.Response, body string) error {
				if err := status(401, `"error":"unauthorized"`, `"request_id"`)(resp, body); err != nil {
					return err
				}
				if h := resp.Header.Get("WWW-Authenticate"); h != `Bearer realm="rampart"` {
					return fmt.Errorf("WWW-Authenticate %q", h)
				}
				return nil
			},
		},
		{
			title: "Alice (user 42, scope accounts:read) reads her own account with her token",
			curl:  curl + as("alice") + " " + base + "/accounts/42",
			req:   get("/accounts/42", "Authorization", "Bearer "+toks.Alice),
			want:  status(200, "Ada Lovelace"),
		},
		{
			title: "Her personal data is masked by the gateway: she lacks pii:read (route mask: ssn, card)",
			curl:  curl + as("alice") + " " + base + "/accounts/42",
			req:   get("/accounts/42", "Authorization", "Bearer "+toks.Alice),
			want: func(resp *http.Response, body string) error {
				if err := status(200, `"ssn":"****1120"`, `"card":"****1111"`)(resp, body); err != nil {
					return err
				}
				if strings.Contains(body, "078-05") {
					return fmt.Errorf("clear SSN in %s", body)
				}
				return nil
			},
		},
		{
			title: "At rest, the accounts service's own database holds only fieldcrypt ciphertexts (bound to row and column)",
			curl:  "grep -a -o 'rampart:v1:[A-Za-z0-9+/=]*' " + filepath.Join(t.dataDir, "accounts", "accounts.db") + "* | head -2; grep -a -c 078-05-1120 " + filepath.Join(t.dataDir, "accounts", "accounts.db") + "*",
			local: func() error {
				files, _ := filepath.Glob(filepath.Join(t.dataDir, "accounts", "accounts.db*"))
				sealed := false
				for _, f := range files {
					b, err := os.ReadFile(f)
					if err != nil {
						return err
					}
					if strings.Contains(string(b), "078-05-1120") || strings.Contains(string(b), "4111111111111111") {
						return fmt.Errorf("%s holds a clear SSN or card number", f)
					}
					sealed = sealed || strings.Contains(string(b), "rampart:v1:")
				}
				if !sealed {
					return fmt.Errorf("no ciphertext found in %v", files)
				}
				return nil
			},
		},
		{
			title: "Bob holds pii:read: he sees his own record in clear",
			curl:  curl + as("bob") + " " + base + "/accounts/7",
			req:   get("/accounts/7", "Authorization", "Bearer "+toks.Bob),
			want:  status(200, `"ssn":"219-09-9999"`),
		},
		{
			title: "Alice cannot read account 7: the route's CEL policy (own account, or role admin) says 403",
			curl:  curl + as("alice") + " " + base + "/accounts/7",
			req:   get("/accounts/7", "Authorization", "Bearer "+toks.Alice),
			want:  status(403, `"error":"forbidden"`),
		},
		{
			title: "Carol's token has no accounts:read scope: 403 insufficient_scope",
			curl:  curl + " -i" + as("carol") + " " + base + "/accounts/42",
			req:   get("/accounts/42", "Authorization", "Bearer "+toks.Carol),
			want: func(resp *http.Response, body string) error {
				if err := status(403)(resp, body); err != nil {
					return err
				}
				if h := resp.Header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope", scope="accounts:read"`) {
					return fmt.Errorf("WWW-Authenticate %q", h)
				}
				return nil
			},
		},
		{
			title: "A forged token (Alice's signature around Bob's claims): 401 invalid_token, a high-severity event",
			curl:  curl + as("forged") + " " + base + "/accounts/7",
			req:   get("/accounts/7", "Authorization", "Bearer "+toks.Forged),
			want:  status(401, `"error":"invalid_token"`),
		},
		{
			title: "The service gets the gateway's signed statement of who called (checked with sdk/principal), never the token",
			curl:  curl + as("alice") + " " + base + "/me",
			req:   get("/me", "Authorization", "Bearer "+toks.Alice),
			want:  status(200, `"subject":"42"`, `"scopes":["accounts:read","orders:read"]`, `"authorization_header_received":false`),
		},
		{
			title:  "Rate limits per user: Carol's 6th call to /me within a minute gets 429 with Retry-After (Alice is not affected)",
			curl:   "for i in 1 2 3 4 5 6; do " + curl + " -o /dev/null -w '%{http_code} '" + as("carol") + " " + base + "/me; done",
			req:    get("/me", "Authorization", "Bearer "+toks.Carol),
			repeat: 6,
			want: func(resp *http.Response, body string) error {
				if err := status(429, `"error":"rate_limited"`)(resp, body); err != nil {
					return err
				}
				if resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit-Policy") != `"me";q=5;w=60` {
					return fmt.Errorf("headers %v", resp.Header)
				}
				return nil
			},
		},
		{
			title: "A machine client with an API key (the store keeps only its keyed hash; `rampart apikey revoke demo-batch` stops it)",
			curl:  curl + ` -H "X-API-Key: $(cat ` + toks.apiKeyPath() + `)" ` + base + "/orders",
			req:   get("/orders", "X-API-Key", toks.APIKey),
			want:  status(200, `"item":"notebook"`),
		},
		{
			title: "The billing service proves who it is with a client certificate (its SPIFFE ID), no token",
			curl:  curl + " --cert " + certs.CertFile + " --key " + certs.KeyFile + " " + base + "/orders/1001",
			req:   get("/orders/1001"),
			cert:  &certs,
			want:  status(200, `"id":"1001"`),
		},
		{
			title: "Dot segments are resolved once; routing, the policy and the upstream see the same canonical path",
			curl:  curl + " --path-as-is" + as("bob") + " " + base + "/orders/../accounts/7",
			req:   get("/orders/../accounts/7", "Authorization", "Bearer "+toks.Bob),
			want:  status(200, "Alan Turing"),
		},
		{
			title: "An encoded slash is refused: 400 with a request id, and a security event",
			curl:  curl + " --path-as-is " + base + "/accounts/..%2f..%2fadmin",
			req:   get("/accounts/..%2f..%2fadmin"),
			want:  status(400, `"error":"bad_request"`, `"request_id"`),
		},
		{
			title: "Spoofed forwarding and identity headers never reach the service",
			curl:  curl + " -H 'X-Forwarded-For: 6.6.6.6' -H 'X-Rampart-Subject: admin' " + base + "/echo",
			req:   get("/echo", "X-Forwarded-For", "6.6.6.6", "X-Rampart-Subject", "admin"),
			want: func(resp *http.Response, body string) error {
				if err := status(200, `"x-forwarded-for":"127.0.0.1"`, `"x-request-id"`)(resp, body); err != nil {
					return err
				}
				// The accounts sidecar adds X-Rampart-Caller (the gateway's SPIFFE ID); the
				// client's X-Rampart-Subject must be gone.
				if strings.Contains(body, "6.6.6.6") || strings.Contains(strings.ToLower(body), "x-rampart-subject") {
					return fmt.Errorf("spoofed header reached the service: %s", body)
				}
				return nil
			},
		},
		{
			title: "A method the route does not allow: 405 with Allow",
			curl:  curl + " -X DELETE -i " + base + "/accounts/42",
			req: func(base string) (*http.Request, error) {
				return http.NewRequest(http.MethodDelete, base+"/accounts/42", nil)
			},
			want: func(resp *http.Response, body string) error {
				if err := status(405)(resp, body); err != nil {
					return err
				}
				if a := resp.Header.Get("Allow"); a != "GET, HEAD" {
					return fmt.Errorf("header Allow is %q, want %q", a, "GET, HEAD")
				}
				return nil
			},
		},
		{
			title: "A body over the route's limit (64 KiB in this demo): 413",
			curl:  "head -c 100000 /dev/zero | " + curl + as("alice") + " -X POST --data-binary @- " + base + "/orders",
			req: func(base string) (*http.Request, error) {
				r, err := http.NewRequest(http.MethodPost, base+"/orders", strings.NewReader(strings.Repeat("0", 100000)))
				if err == nil {
					r.Header.Set("Authorization", "Bearer "+toks.Alice)
				}
				return r, err
			},
			want: status(413, `"error":"body_too_large"`),
		},
		{
			title: "An h2c upgrade (a tunnel around the gateway's checks) is refused",
			curl:  curl + " --http1.1 -H 'Upgrade: h2c' -H 'Connection: Upgrade' " + base + "/status",
			req:   get("/status", "Upgrade", "h2c", "Connection", "Upgrade"),
			want:  status(400, `"error":"bad_request"`),
		},
		{
			title: "Security responses carry safe headers; the service's own Server header is removed",
			curl:  curl + " -I " + base + "/status",
			req:   get("/status"),
			want: func(resp *http.Response, body string) error {
				for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
					"Strict-Transport-Security": "max-age=31536000"} {
					if resp.Header.Get(k) != v {
						return fmt.Errorf("%s = %q, want %q", k, resp.Header.Get(k), v)
					}
				}
				if resp.Header.Get("X-Request-Id") == "" {
					return errors.New("no X-Request-Id")
				}
				return nil
			},
		},
		{
			title: "Metrics count requests and security events (admin listener, loopback only)",
			curl:  "curl -s http://" + a.Admin + "/metrics | grep -E '^rampart_(security_events|requests)_total'",
			req: func(string) (*http.Request, error) {
				return http.NewRequest(http.MethodGet, "http://"+a.Admin+"/metrics", nil)
			},
			eventually: true,
			want: status(200, `rampart_security_events_total{severity="medium",type="bad_request"}`,
				`rampart_security_events_total{severity="high",type="authn_failed"}`, `rampart_requests_total{code="2xx",method="GET",route="read-account"}`),
		},
	}
	t.tokenIssuer, t.tokenDir = ts.issuer, ts.dir
	t.caURL, t.meshBundle = wl.caURL, wl.bundleFile
	t.steps = append(t.steps, t.tokenSteps(ts, status)...)
	return t
}

// clip shortens a response body quoted in a failure.
func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func (t *tour) client(cert *clientCerts) (*http.Client, error) {
	pem, err := os.ReadFile(t.addrs.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read demo CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, errors.New("demo CA file holds no certificate")
	}
	tc := &tls.Config{RootCAs: roots}
	if cert != nil {
		kp, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("demo client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: false, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// check runs every step and prints one line per step; it returns the failures.
func (t *tour) check(ctx context.Context, w io.Writer) int {
	c, err := t.client(nil)
	if err != nil {
		fmt.Fprintln(w, "FAIL  demo client:", err)
		return 1
	}
	failed := 0
	for i, s := range t.steps {
		sc := c
		if s.cert != nil {
			if sc, err = t.client(s.cert); err != nil {
				fmt.Fprintln(w, "FAIL  demo client:", err)
				return 1
			}
		}
		err := t.run(ctx, sc, s)
		word := "ok  "
		if err != nil {
			word = "FAIL"
			failed++
		}
		fmt.Fprintf(w, "%s  %2d. %s\n", word, i+1, s.title)
		if err != nil {
			fmt.Fprintf(w, "        %v\n", err)
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", len(t.steps)-failed, failed)
	return failed
}

func (t *tour) run(ctx context.Context, c *http.Client, s step) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := t.runOnce(ctx, c, s)
		if err == nil || !s.eventually || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (t *tour) runOnce(ctx context.Context, c *http.Client, s step) error {
	if s.local != nil {
		return s.local()
	}
	for i := 1; ; i++ {
		req, err := s.req(t.base)
		if err != nil {
			return err
		}
		resp, err := c.Do(req.WithContext(ctx))
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if i >= s.repeat {
			return s.want(resp, string(b))
		}
	}
}

func (t *tour) print(w io.Writer) {
	fmt.Fprintf(w, `
Rampart demo is running (loopback only). Ctrl-C stops everything.

  gateway   %s
  admin     http://%s  (/healthz /readyz /metrics /identity/jwks.json)
  config    %s  (edit it: the gateway reloads it)
  CA        %s  (the development CA the gateway's certificate comes from)
  access    %s
  tokens    %s
            alice.jwt (user 42: accounts:read orders:read), bob.jwt (user 7: accounts:read pii:read),
            carol.jwt (user 42, no scope), forged.jwt (tampered), batch.apikey (an API key: orders:read),
            billing.crt/.key (a client certificate for spiffe://demo.rampart.local/billing)
  token     %s  (rampart token: OAuth 2.1 / OpenID Connect)
            store, kek, demo-cli.secret (client credentials), alice.password and bob.password (browser login) in
            %s

Try these:
`, t.base, t.addrs.Admin, t.cfgPath, t.addrs.CAFile, t.accessLog, t.tokens, t.tokenIssuer, t.tokenDir)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for i, s := range t.steps {
		fmt.Fprintf(tw, "\n %d. %s\n    %s\n", i+1, s.title, s.curl)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nSecurity events appear below as they happen:")
}
