package token

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/token/store"
	"github.com/rampart-sec/rampart/internal/token/store/storetest"
)

type clock struct{ ns atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

type events struct {
	mu sync.Mutex
	ev []event.Event
}

func (e *events) Emit(ev event.Event) {
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.mu.Unlock()
}

func (e *events) count(typ event.Type) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.ev {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// env is a token server on 127.0.0.1:0 with a store and a clock.
type env struct {
	t      testing.TB
	srv    *Server
	http   *httptest.Server
	st     store.Store
	dsn    string
	clock  *clock
	events *events
	issuer string
	cfg    Config
	logs   *lockedBuffer
}

// lockedBuffer collects the server's log for tests that read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const (
	svcSecret = "svc-secret-0123456789"
	webSecret = "web-secret-0123456789"
	password  = "correct horse battery staple"
	verifier  = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk-extra"
	redirect  = "http://127.0.0.1:1/callback"
)

// newEnv starts a server over open's store with a service client "svc"
// (client_credentials), a confidential web client "web" and a public
// client "spa" (authorization_code + refresh_token), and user alice.
func newEnv(t testing.TB, open func(testing.TB) (store.Store, string), mod func(*Config)) *env {
	t.Helper()
	st, dsn := open(t)
	e := &env{t: t, st: st, dsn: dsn, clock: newClock(), events: &events{}, logs: &lockedBuffer{}}
	ctx := t.Context()
	for _, c := range []store.Client{
		{ID: "svc", Name: "Service", SecretHash: store.HashSecret(svcSecret), AuthMethod: AuthSecretBasic,
			GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"orders:read", "orders:write"}, Audiences: []string{"api"}},
		{ID: "web", Name: "Web app", SecretHash: store.HashSecret(webSecret), AuthMethod: AuthSecretBasic, RedirectURIs: []string{redirect},
			GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, Scopes: []string{"openid", "profile", "offline_access", "orders:read"}, Audiences: []string{"api"}},
		{ID: "spa", Name: "SPA", Public: true, AuthMethod: AuthNone, RedirectURIs: []string{redirect},
			GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, Scopes: []string{"openid", "orders:read"}, Audiences: []string{"api"}},
	} {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateUser(ctx, store.User{ID: "u-alice", Username: "alice", PasswordHash: store.HashSecret(password), Roles: []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewUnstartedServer(nil)
	e.issuer = "http://" + e.http.Listener.Addr().String()
	e.cfg = Config{Issuer: e.issuer, IssuerName: "rampart"}
	if mod != nil {
		mod(&e.cfg)
	}
	e.start()
	return e
}

func (e *env) start() {
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(e.t.Context(), e.cfg, Options{Store: e.st, Events: e.events, Now: e.clock.now, Log: log})
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = srv
	e.http.Config.Handler = srv.Handler()
	e.http.Start()
	e.t.Cleanup(func() {
		e.http.Close()
		srv.Close()
	})
}

func sqliteEnv(t testing.TB) *env { return newEnv(t, newSQLite, nil) }

var newSQLite = storetest.SQLite

// post sends a form to path with optional basic credentials and decodes
// the JSON answer.
func (e *env) post(path string, form url.Values, user, pass string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			e.t.Fatalf("%s answered %d with non-JSON %q", path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

func (e *env) oauth2Config(clientID, secret string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/oauth2/authorize", TokenURL: e.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// browser is a user agent with cookies that does not follow redirects.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login opens authURL, signs in as user, and returns the redirect's
// query (code or error) and the status of the last response.
func (e *env) login(authURL, user, pass string) (url.Values, int) {
	e.t.Helper()
	b := browser()
	resp, err := b.Get(authURL)
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther {
		return redirectQuery(e.t, resp), resp.StatusCode
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode
	}
	m := csrfRE.FindSubmatch(body)
	if m == nil {
		e.t.Fatalf("no CSRF field in the login page")
	}
	u, _ := url.Parse(authURL)
	form := u.Query()
	form.Set("csrf", string(m[1]))
	form.Set("username", user)
	form.Set("password", pass)
	resp, err = b.PostForm(e.issuer+"/login", form)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return nil, resp.StatusCode
	}
	return redirectQuery(e.t, resp), resp.StatusCode
}

func redirectQuery(t testing.TB, resp *http.Response) url.Values {
	t.Helper()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), redirect) {
		t.Fatalf("redirected to %q, want %s", resp.Header.Get("Location"), redirect)
	}
	return loc.Query()
}

// codeFor runs the browser part of the code flow for client and returns the code.
func (e *env) codeFor(cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) string {
	e.t.Helper()
	q, status := e.login(cfg.AuthCodeURL("st-1", opts...), "alice", password)
	if q.Get("code") == "" || q.Get("state") != "st-1" || q.Get("iss") != e.issuer {
		e.t.Fatalf("login: status %d, redirect query %v", status, q)
	}
	return q.Get("code")
}

// verifierFor returns an authn.Verifier trusting this server's JWKS.
func (e *env) verifier() *authn.Verifier {
	e.t.Helper()
	v, err := authn.NewVerifier([]authn.IssuerConfig{{Name: "rampart", Issuer: e.issuer, JWKSURI: e.issuer + "/.well-known/jwks.json",
		Audiences: []string{"api"}, Algorithms: []string{"EdDSA", "ES256"}, RequireTyp: "at+jwt"}}, authn.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	v.Start(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for !v.Ready("rampart") {
		if time.Now().After(deadline) {
			e.t.Fatal("verifier never loaded the JWKS")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return v
}
