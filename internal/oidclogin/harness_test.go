package oidclogin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/oidclogin/oidctest"
	"github.com/rampart-sec/rampart/sdk/principal"
)

const (
	testClientID = oidctest.DefaultClientID
	testSecret   = oidctest.DefaultClientSecret
)

// browserAccept is what a browser sends when it navigates to a page.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a gateway (a TLS server on 127.0.0.1 that serves Callback,
// Logout, and Session-or-Start for every other path) in front of a test OP
// (an oidctest.Provider), and a browser: an http.Client with a cookie jar
// that does not follow redirects, so each hop is driven and checked.
type harness struct {
	t       *testing.T
	clock   *clock
	op      *oidctest.Provider
	cfg     Config
	login   *Login
	gw      *httptest.Server
	gwURL   *url.URL
	jar     http.CookieJar
	browser *http.Client
	errs    chan error
}

// newHarness starts the OP and the gateway; opts adjust the config and the
// OP before New runs discovery.
func newHarness(t *testing.T, opts ...func(*Config, *oidctest.Provider)) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{t: time.Unix(time.Now().Unix(), 0)}, errs: make(chan error, 32)}
	h.op = oidctest.New(t)
	h.op.Now = h.clock.now
	h.gw = httptest.NewTLSServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.gw.Close)
	h.gwURL, _ = url.Parse(h.gw.URL)
	h.op.RedirectURL = h.gw.URL + "/.rampart/login/callback"
	h.cfg = Config{
		Name:         "corp",
		IssuerURL:    h.op.Issuer(),
		ClientID:     h.op.ClientID,
		ClientSecret: h.op.ClientSecret,
		RedirectURL:  h.op.RedirectURL,
		Scopes:       []string{"profile", "email", "openid"},
		CookieKey:    newKey(t),
		HTTPClient:   h.op.Client(),
		now:          h.clock.now,
	}
	for _, o := range opts {
		o(&h.cfg, h.op)
	}
	l, err := New(context.Background(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.login = l
	h.jar, _ = cookiejar.New(nil)
	h.browser = &http.Client{
		Transport:     h.gw.Client().Transport, // trusts the test certificate, which the OP shares
		Jar:           h.jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}
	return h
}

// s256 is the PKCE S256 challenge of verifier (RFC 7636 4.2), computed
// here rather than taken from the code under test.
func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func (h *harness) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", "req-1")
	switch r.URL.Path {
	case h.login.CallbackPath():
		h.errs <- h.login.Callback(w, r)
	case "/.rampart/logout":
		h.login.Logout(w, r)
	default:
		if p := h.login.Session(r); p != nil {
			fmt.Fprintf(w, "hello %s", p.Subject)
			return
		}
		h.login.Start(w, r)
	}
}

type result struct {
	*http.Response
	body string
}

func (r *result) location(t *testing.T) *url.URL {
	t.Helper()
	u, err := url.Parse(r.Header.Get("Location"))
	if err != nil || r.Header.Get("Location") == "" {
		t.Fatalf("status %d, Location %q: %v", r.StatusCode, r.Header.Get("Location"), err)
	}
	return u
}

// cookie returns the Set-Cookie of name in the response, or nil.
func (r *result) cookie(name string) *http.Cookie {
	var found *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == name {
			found = c
		}
	}
	return found
}

// navigate is the browser following a link (method GET unless given).
func (h *harness) navigate(rawURL string, method ...string) *result {
	h.t.Helper()
	m := http.MethodGet
	if len(method) > 0 {
		m = method[0]
	}
	req, err := http.NewRequest(m, rawURL, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Accept", browserAccept)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	resp, err := h.browser.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return &result{Response: resp, body: string(b)}
}

// begin asks the gateway for path and returns where it sent the browser.
func (h *harness) begin(path string) *url.URL {
	h.t.Helper()
	r := h.navigate(h.gw.URL + path)
	if r.StatusCode != http.StatusFound {
		h.t.Fatalf("GET %s: status %d, want 302 (body %q)", path, r.StatusCode, r.body)
	}
	return r.location(h.t)
}

// authorize follows the redirect to the OP and returns the callback URL.
func (h *harness) authorize(u *url.URL) *url.URL {
	h.t.Helper()
	r := h.navigate(u.String())
	if r.StatusCode != http.StatusFound {
		h.t.Fatalf("authorize: status %d (body %q)", r.StatusCode, r.body)
	}
	cb := r.location(h.t)
	if cb.Host != h.gwURL.Host || cb.Path != h.login.CallbackPath() {
		h.t.Fatalf("OP redirected to %s", cb)
	}
	return cb
}

// callback follows the redirect back to the gateway: the response and what
// Callback returned.
func (h *harness) callback(u *url.URL, method ...string) (*result, error) {
	h.t.Helper()
	r := h.navigate(u.String(), method...)
	return r, h.callbackErr()
}

func (h *harness) callbackErr() error {
	h.t.Helper()
	select {
	case err := <-h.errs:
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("Callback did not return")
		return nil
	}
}

// loginAs runs a whole login from path; it returns the callback's response.
func (h *harness) loginAs(path string) *result {
	h.t.Helper()
	r, err := h.callback(h.authorize(h.begin(path)))
	if err != nil {
		h.t.Fatalf("callback: %v", err)
	}
	if r.StatusCode != http.StatusFound {
		h.t.Fatalf("callback: status %d", r.StatusCode)
	}
	return r
}

// cookie is the value of the browser's cookie name for the gateway, or "".
func (h *harness) cookie(name string) string {
	for _, c := range h.jar.Cookies(h.gwURL) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (h *harness) setCookie(name, value string) {
	h.jar.SetCookies(h.gwURL, []*http.Cookie{{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true}})
}

func (h *harness) dropCookie(name string) {
	h.jar.SetCookies(h.gwURL, []*http.Cookie{{Name: name, Value: "", Path: "/", Secure: true, MaxAge: -1}})
}

// sessionOf asks Session about a request carrying the cookies given as
// name, value pairs.
func sessionOf(l *Login, nameValues ...string) *principal.Principal {
	r := httptest.NewRequest(http.MethodGet, "https://gw.example/x", nil)
	for i := 0; i+1 < len(nameValues); i += 2 {
		r.AddCookie(&http.Cookie{Name: nameValues[i], Value: nameValues[i+1]})
	}
	return l.Session(r)
}

// checkCookie checks a Set-Cookie of a session or login cookie: the
// attributes the __Host- prefix demands plus HttpOnly and SameSite=Lax.
func checkCookie(t *testing.T, r *result, name string, maxAge int) *http.Cookie {
	t.Helper()
	c := r.cookie(name)
	if c == nil {
		t.Fatalf("no Set-Cookie %s in %q", name, r.Header.Values("Set-Cookie"))
	}
	if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode ||
		c.Path != "/" || c.Domain != "" || c.MaxAge != maxAge {
		t.Errorf("cookie %s: %q, want __Host-, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain, MaxAge %d", name, c.Raw, maxAge)
	}
	for _, v := range r.Header.Values("Set-Cookie") {
		if strings.Contains(strings.ToLower(v), "domain=") {
			t.Errorf("Set-Cookie with a Domain: %q", v)
		}
	}
	return c
}

// refusedWith checks a failed callback: the status, the short body without
// details, the reason, and that no session was set.
func refusedWith(t *testing.T, h *harness, r *result, err error, status int, reason string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Callback returned %v, want an *Error", err)
	}
	if e.Reason != reason || e.Status != status || r.StatusCode != status {
		t.Errorf("got reason %s status %d (answered %d), want %s %d; err: %v", e.Reason, e.Status, r.StatusCode, reason, status, err)
	}
	if !strings.HasPrefix(r.body, `{"error":"`) || !strings.HasSuffix(r.body, `","request_id":"req-1"}`+"\n") || len(r.body) > 80 {
		t.Errorf("body %q is not the short JSON error", r.body)
	}
	if c := r.cookie(h.login.cookieName); c != nil {
		t.Errorf("refused callback set the session cookie: %q", c.Raw)
	}
	if h.cookie(h.login.cookieName) != "" {
		t.Error("the browser holds a session cookie after a refused login")
	}
}
