package oidclogin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/rampart-sec/rampart/internal/oidclogin/oidctest"
	"github.com/rampart-sec/rampart/sdk/principal"
)

func TestLoginFlow(t *testing.T) {
	h := newHarness(t)
	const path = "/accounts/42?x=1&y=%2F"

	// A protected page without a session: off to the issuer.
	r := h.navigate(h.gw.URL + path)
	if r.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302", r.StatusCode)
	}
	auth := r.location(t)
	q := auth.Query()
	if auth.Host != strings.TrimPrefix(h.op.Issuer(), "https://") || auth.Path != "/authorize" {
		t.Errorf("redirected to %s, want the OP's /authorize", auth)
	}
	want := map[string]string{
		"response_type":         "code",
		"client_id":             testClientID,
		"redirect_uri":          h.op.RedirectURL,
		"scope":                 "openid profile email",
		"code_challenge_method": "S256",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("authorize %s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("code_challenge")) != 43 || len(q.Get("state")) < 26 || len(q.Get("nonce")) < 26 {
		t.Errorf("challenge %q, state %q, nonce %q: missing or short", q.Get("code_challenge"), q.Get("state"), q.Get("nonce"))
	}
	checkCookie(t, r, LoginCookieName, 600)
	if c := r.Header.Get("Cache-Control"); c != "no-store" {
		t.Errorf("Cache-Control %q", c)
	}

	// The OP sends the browser back with a code; the callback ends the login.
	cb := h.authorize(auth)
	if cb.Query().Get("state") != q.Get("state") {
		t.Fatal("OP changed the state")
	}
	r, err := h.callback(cb)
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != path {
		t.Fatalf("callback: status %d Location %q, want 302 to %q", r.StatusCode, r.Header.Get("Location"), path)
	}
	sc := checkCookie(t, r, DefaultCookieName, int((8 * time.Hour).Seconds()))
	checkCookie(t, r, LoginCookieName, -1) // the login is over
	if n := len(sc.Name) + 1 + len(sc.Value); n >= 3<<10 {
		t.Errorf("session cookie is %d bytes", n)
	}

	// PKCE: the verifier the gateway sent is the one its challenge commits to.
	seen := h.op.Seen()
	verifiers, challenges, auths := seen.Verifiers, seen.Challenges, seen.ClientAuth
	if len(verifiers) != 1 || len(verifiers[0]) != 43 || s256(verifiers[0]) != q.Get("code_challenge") || challenges[0] != q.Get("code_challenge") {
		t.Errorf("verifiers %q do not match challenge %q", verifiers, q.Get("code_challenge"))
	}
	if !slices.Equal(auths, []string{"basic"}) {
		t.Errorf("client authentication %q, want basic", auths)
	}

	// Back where the login started, now with a session.
	r = h.navigate(h.gw.URL + r.Header.Get("Location"))
	if r.StatusCode != http.StatusOK || r.body != "hello alice" {
		t.Fatalf("after login: %d %q", r.StatusCode, r.body)
	}

	p := sessionOf(h.login, DefaultCookieName, h.cookie(DefaultCookieName))
	wantP := &principal.Principal{
		Subject: "alice",
		Kind:    principal.User,
		Issuer:  "corp",
		Roles:   []string{"admin", "dev"},
		Method:  principal.Session,
		Claims: map[string]any{
			"sub": "alice", "email": "alice@example.com", "name": "Alice Liddell",
			"preferred_username": "alice", "login": "oidc",
		},
		Expires: h.clock.now().Add(8 * time.Hour),
	}
	if !reflect.DeepEqual(p, wantP) {
		t.Errorf("Session:\n got %+v\nwant %+v", p, wantP)
	}
}

func TestStartAnswersNonNavigationsWith401(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, method string
		header       map[string]string
		want         int
	}{
		{"browser", "GET", map[string]string{"Accept": browserAccept, "Sec-Fetch-Mode": "navigate"}, 302},
		{"browser without fetch metadata", "GET", map[string]string{"Accept": browserAccept}, 302},
		{"HEAD", "HEAD", map[string]string{"Accept": "text/html"}, 302},
		{"API", "GET", map[string]string{"Accept": "application/json"}, 401},
		{"no Accept", "GET", nil, 401},
		{"wildcard (curl, fetch)", "GET", map[string]string{"Accept": "*/*"}, 401},
		{"html refused with q=0", "GET", map[string]string{"Accept": "text/html;q=0, application/json"}, 401},
		{"POST form", "POST", map[string]string{"Accept": browserAccept}, 401},
		{"fetch from a page", "GET", map[string]string{"Accept": browserAccept, "Sec-Fetch-Mode": "cors"}, 401},
		{"XHR", "GET", map[string]string{"Accept": browserAccept, "X-Requested-With": "XMLHttpRequest"}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "https://gw.example/orders", nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			w.Header().Set("X-Request-Id", "abc-123")
			h.login.Start(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if tc.want == 401 {
				if w.Header().Get("Set-Cookie") != "" || w.Header().Get("Location") != "" {
					t.Errorf("401 with a cookie or a Location: %v", w.Header())
				}
				if got := w.Body.String(); got != `{"error":"login_required","request_id":"abc-123"}`+"\n" {
					t.Errorf("body %q", got)
				}
			}
		})
	}
}

// TestCallbackRefuses drives attacks on the callback: each is refused with a
// short body, a reason, and no session.
func TestCallbackRefuses(t *testing.T) {
	t.Run("state mismatch (CSRF)", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		forged := withParam(cb, "state", rand.Text())
		r, err := h.callback(forged)
		refusedWith(t, h, r, err, 400, ReasonStateMismatch)
		if n := len(h.op.Seen().Verifiers); n != 0 {
			t.Errorf("the code was exchanged %d times", n)
		}
		// The forged callback did not cancel the user's own login.
		if r, err := h.callback(cb); err != nil || r.StatusCode != 302 || h.cookie(DefaultCookieName) == "" {
			t.Errorf("genuine callback after a forged one: %v", err)
		}
	})
	t.Run("missing state", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		r, err := h.callback(withParam(cb, "state", ""))
		refusedWith(t, h, r, err, 400, ReasonStateMismatch)
	})
	t.Run("no login cookie", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		h.dropCookie(LoginCookieName)
		r, err := h.callback(cb)
		refusedWith(t, h, r, err, 400, ReasonNoLoginCookie)
	})
	t.Run("forged login cookie", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		h.setCookie(LoginCookieName, b64.EncodeToString(append([]byte{cookieVersion}, rand.Text()+rand.Text()+rand.Text()...)))
		r, err := h.callback(cb)
		refusedWith(t, h, r, err, 400, ReasonBadLoginCookie)
	})
	t.Run("tampered login cookie", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		h.setCookie(LoginCookieName, flipByte(t, h.cookie(LoginCookieName), 20))
		r, err := h.callback(cb)
		refusedWith(t, h, r, err, 400, ReasonBadLoginCookie)
	})
	t.Run("login cookie sealed with another key", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		var st loginState
		if !h.login.open(h.login.loginAAD, h.cookie(LoginCookieName), &st) {
			t.Fatal("cannot open the login cookie")
		}
		other := newHarness(t) // same Name, its own key
		v, _ := other.login.seal(other.login.loginAAD, &st)
		h.setCookie(LoginCookieName, v)
		r, err := h.callback(cb)
		refusedWith(t, h, r, err, 400, ReasonBadLoginCookie)
	})
	t.Run("login cookie of another issuer, same key", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		var st loginState
		if !h.login.open(h.login.loginAAD, h.cookie(LoginCookieName), &st) {
			t.Fatal("cannot open the login cookie")
		}
		st.Issuer = "partner"
		v, _ := h.login.seal(h.login.loginAAD, &st)
		h.setCookie(LoginCookieName, v)
		r, err := h.callback(cb)
		refusedWith(t, h, r, err, 400, ReasonBadLoginCookie)
	})
	t.Run("session cookie as login cookie", func(t *testing.T) {
		h := newHarness(t)
		h.loginAs("/")
		session := h.cookie(DefaultCookieName)
		h.dropCookie(DefaultCookieName)
		cb := h.authorize(h.begin("/"))
		h.setCookie(LoginCookieName, session)
		r, err := h.callback(cb)
		refusedWith(t, h, r, err, 400, ReasonBadLoginCookie)
	})
	t.Run("login older than 10 minutes", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		h.clock.advance(10*time.Minute + time.Second)
		r, err := h.callback(cb)
		refusedWith(t, h, r, err, 400, ReasonLoginExpired)
	})
	t.Run("issuer error", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		cb = withParam(withParam(cb, "code", ""), "error", "access_denied")
		r, err := h.callback(cb)
		refusedWith(t, h, r, err, 401, ReasonProviderError)
		checkCookie(t, r, LoginCookieName, -1)
	})
	t.Run("iss parameter of another issuer (mix-up)", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		r, err := h.callback(withParam(cb, "iss", "https://evil.example"))
		refusedWith(t, h, r, err, 400, ReasonIssuerMismatch)
		if n := len(h.op.Seen().Verifiers); n != 0 {
			t.Errorf("the code was exchanged %d times", n)
		}
	})
	t.Run("no code", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		r, err := h.callback(withParam(cb, "code", ""))
		refusedWith(t, h, r, err, 400, ReasonNoCode)
	})
	t.Run("POST", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		r, err := h.callback(cb, http.MethodPost)
		refusedWith(t, h, r, err, 405, ReasonMethod)
	})
	t.Run("replayed code", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		stolen := h.cookie(LoginCookieName)
		if _, err := h.callback(cb); err != nil {
			t.Fatal(err)
		}
		// An attacker holding the callback URL and the login cookie replays
		// them: the OP refuses the used code and the callback reports it.
		h.dropCookie(DefaultCookieName)
		h.setCookie(LoginCookieName, stolen)
		r, err := h.callback(cb)
		refusedWith(t, h, r, err, 401, ReasonExchangeRefused)
		if seen := h.op.Seen(); seen.Replays != 1 || !slices.Contains(seen.Refusals, "unknown or used code") {
			t.Errorf("OP saw %d replays, refusals %q", seen.Replays, seen.Refusals)
		}
		if !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("error %v does not say invalid_grant", err)
		}
	})
	t.Run("no ID token", func(t *testing.T) {
		h := newHarness(t, func(_ *Config, op *oidctest.Provider) { op.NoIDToken = true })
		r, err := h.callback(h.authorize(h.begin("/")))
		refusedWith(t, h, r, err, 401, ReasonNoIDToken)
	})
	t.Run("key set down", func(t *testing.T) {
		h := newHarness(t, func(_ *Config, op *oidctest.Provider) { op.JWKSDown = true })
		r, err := h.callback(h.authorize(h.begin("/")))
		refusedWith(t, h, r, err, 502, ReasonIssuerUnavailable)
	})
	t.Run("wrong client secret", func(t *testing.T) {
		h := newHarness(t, func(c *Config, _ *oidctest.Provider) { c.ClientSecret = "wrong" })
		r, err := h.callback(h.authorize(h.begin("/")))
		refusedWith(t, h, r, err, 401, ReasonExchangeRefused)
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("error %v contains the secret", err)
		}
	})
	t.Run("token endpoint down", func(t *testing.T) {
		h := newHarness(t, func(_ *Config, op *oidctest.Provider) { op.TokenURL = "https://127.0.0.1:1/token" })
		r, err := h.callback(h.authorize(h.begin("/")))
		refusedWith(t, h, r, err, 502, ReasonIssuerUnavailable)
	})
}

// TestIDTokenChecks has the OP return ID tokens that must be refused (and
// the legitimate variations that must pass).
func TestIDTokenChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adjust func(c map[string]any, now time.Time)
		forge  bool
		reason string // "" : accepted
	}{
		{name: "wrong nonce", adjust: func(c map[string]any, _ time.Time) { c["nonce"] = "other" }, reason: ReasonNonceMismatch},
		{name: "no nonce", adjust: func(c map[string]any, _ time.Time) { delete(c, "nonce") }, reason: ReasonNonceMismatch},
		{name: "wrong aud", adjust: func(c map[string]any, _ time.Time) { c["aud"] = "another-client" }, reason: ReasonBadIDToken},
		{name: "several aud, no azp", adjust: func(c map[string]any, _ time.Time) { c["aud"] = []string{testClientID, "api"} }, reason: ReasonBadIDToken},
		{name: "several aud, azp is us", adjust: func(c map[string]any, _ time.Time) {
			c["aud"], c["azp"] = []string{testClientID, "api"}, testClientID
		}},
		{name: "azp another client", adjust: func(c map[string]any, _ time.Time) { c["azp"] = "another-client" }, reason: ReasonBadIDToken},
		{name: "expired", adjust: func(c map[string]any, now time.Time) { c["exp"] = now.Add(-time.Second).Unix() }, reason: ReasonBadIDToken},
		{name: "not yet valid", adjust: func(c map[string]any, now time.Time) { c["nbf"] = now.Add(time.Hour).Unix() }, reason: ReasonBadIDToken},
		{name: "wrong iss", adjust: func(c map[string]any, _ time.Time) { c["iss"] = "https://evil.example" }, reason: ReasonBadIDToken},
		{name: "no sub", adjust: func(c map[string]any, _ time.Time) { delete(c, "sub") }, reason: ReasonBadIDToken},
		{name: "signed with another key", forge: true, reason: ReasonBadIDToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.op.ForgeSignature = tc.forge
			if tc.adjust != nil {
				h.op.AdjustClaims = func(c map[string]any) { tc.adjust(c, h.clock.now()) }
			}
			r, err := h.callback(h.authorize(h.begin("/")))
			if tc.reason == "" {
				if err != nil || h.cookie(DefaultCookieName) == "" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			refusedWith(t, h, r, err, 401, tc.reason)
			if tc.name == "expired" {
				var te *oidc.TokenExpiredError
				if !errors.As(err, &te) {
					t.Errorf("error %v is not a TokenExpiredError", err)
				}
			}
		})
	}
}

// TestOPChecksPKCE shows the test OP's PKCE check is real: a verifier that
// does not match the challenge is refused, so a login that passes proves the
// gateway sent the right one.
func TestOPChecksPKCE(t *testing.T) {
	h := newHarness(t)
	cb := h.authorize(h.begin("/"))
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {cb.Query().Get("code")},
		"redirect_uri":  {h.op.RedirectURL},
		"code_verifier": {strings.Repeat("A", 43)},
		"client_id":     {testClientID},
		"client_secret": {testSecret},
	}
	resp, err := h.op.Client().PostForm(h.op.Issuer()+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if seen := h.op.Seen(); resp.StatusCode != http.StatusBadRequest || !slices.Contains(seen.Refusals, "PKCE verifier") {
		t.Fatalf("OP answered %d to a wrong verifier (refusals %q)", resp.StatusCode, seen.Refusals)
	}
	// The code is spent: the gateway's own exchange is refused too.
	r, err := h.callback(cb)
	refusedWith(t, h, r, err, 401, ReasonExchangeRefused)
}

func TestOpenRedirect(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target string // request-target of the request that needed a login
		want   string
	}{
		{"local", "/accounts/1?a=b", "/accounts/1?a=b"},
		{"scheme-relative", "//evil.example/x", "/"},
		{"absolute-form", "https://evil.example", "/"},
		// The request parser escapes it: browsers do not read %5C as a slash.
		{"backslash", `/\evil.example`, "/%5Cevil.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			req.Header.Set("Accept", browserAccept)
			w := httptest.NewRecorder()
			h.login.Start(w, req)
			r := &result{Response: w.Result()}
			c := checkCookie(t, r, LoginCookieName, 600)
			var st loginState
			if !h.login.open(h.login.loginAAD, c.Value, &st) || st.Next != tc.want {
				t.Errorf("login cookie keeps next %q, want %q", st.Next, tc.want)
			}
			h.setCookie(c.Name, c.Value)
			res, err := h.callback(h.authorize(r.location(t)))
			if err != nil || res.Header.Get("Location") != tc.want {
				t.Fatalf("callback: %v, Location %q, want %q", err, res.Header.Get("Location"), tc.want)
			}
		})
	}
	// A login cookie is sealed, so an outside next cannot get in; Callback
	// still checks the one it finds.
	t.Run("next in the cookie rechecked", func(t *testing.T) {
		h := newHarness(t)
		cb := h.authorize(h.begin("/"))
		var st loginState
		if !h.login.open(h.login.loginAAD, h.cookie(LoginCookieName), &st) {
			t.Fatal("cannot open the login cookie")
		}
		st.Next = "//evil.example"
		v, _ := h.login.seal(h.login.loginAAD, &st)
		h.setCookie(LoginCookieName, v)
		res, err := h.callback(cb)
		if err != nil || res.Header.Get("Location") != "/" {
			t.Fatalf("callback: %v, Location %q", err, res.Header.Get("Location"))
		}
	})
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                                "/",
		"/a/b?c=d&e=//f":                   "/a/b?c=d&e=//f",
		"/%2F%2Fevil.example":              "/%2F%2Fevil.example", // a path segment to browsers, not a host
		"":                                 "/",
		"//evil.example":                   "/",
		"///evil.example":                  "/",
		"https://evil.example":             "/",
		"http:evil.example":                "/",
		"javascript:alert(1)":              "/",
		"evil.example":                     "/",
		`/\evil.example`:                   "/",
		"/\t/evil.example":                 "/",
		"/\n/evil.example":                 "/",
		"/ /evil.example":                  "/",
		"/\x7f":                            "/",
		"/caf\xc3\xa9":                     "/",
		"/" + strings.Repeat("a", maxNext): "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSessionCookie(t *testing.T) {
	h := newHarness(t)
	h.loginAs("/")
	v := h.cookie(DefaultCookieName)
	if sessionOf(h.login, DefaultCookieName, v) == nil {
		t.Fatal("a fresh session is refused")
	}

	t.Run("tampered", func(t *testing.T) {
		raw, _ := b64.DecodeString(v)
		for _, i := range []int{0, 1, 12, 13, len(raw) / 2, len(raw) - 1} {
			if p := sessionOf(h.login, DefaultCookieName, flipByte(t, v, i)); p != nil {
				t.Errorf("byte %d flipped: session %v", i, p)
			}
		}
		if p := sessionOf(h.login, DefaultCookieName, v[:len(v)-1]); p != nil {
			t.Error("truncated cookie accepted")
		}
		if p := sessionOf(h.login, DefaultCookieName, v+"A"); p != nil {
			t.Error("extended cookie accepted")
		}
	})
	t.Run("login cookie as session cookie", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/other", nil)
		r.Header.Set("Accept", browserAccept)
		w := httptest.NewRecorder()
		h.login.Start(w, r)
		lc := checkCookie(t, &result{Response: w.Result()}, LoginCookieName, 600)
		if p := sessionOf(h.login, DefaultCookieName, lc.Value); p != nil {
			t.Errorf("login cookie accepted as a session: %v", p)
		}
	})
	t.Run("another key", func(t *testing.T) {
		other := newHarness(t)
		if p := sessionOf(other.login, DefaultCookieName, v); p != nil {
			t.Errorf("session accepted under another key: %v", p)
		}
	})
	t.Run("another issuer, same key", func(t *testing.T) {
		cfg := h.cfg
		cfg.Name = "partner"
		other, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if p := sessionOf(other, DefaultCookieName, v); p != nil {
			t.Errorf("corp's session accepted by partner: %v", p)
		}
	})
	t.Run("another cookie name", func(t *testing.T) {
		cfg := h.cfg
		cfg.CookieName = "__Host-other"
		other, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if p := sessionOf(other, "__Host-other", v); p != nil {
			t.Errorf("session accepted under another cookie name: %v", p)
		}
	})
	t.Run("duplicate cookies", func(t *testing.T) {
		if p := sessionOf(h.login, DefaultCookieName, "garbage", DefaultCookieName, v); p == nil || p.Subject != "alice" {
			t.Errorf("valid cookie after a garbage one: %v", p)
		}
	})
	t.Run("oversized", func(t *testing.T) {
		if p := sessionOf(h.login, DefaultCookieName, strings.Repeat("A", 5000)); p != nil {
			t.Error("5000-byte cookie accepted")
		}
	})
	t.Run("issued in the future", func(t *testing.T) {
		s := h.login.newSession("mallory", nil, h.clock.now().Add(time.Hour))
		f, _ := h.login.seal(h.login.sessionAAD, s)
		if p := sessionOf(h.login, DefaultCookieName, f); p != nil {
			t.Errorf("session issued an hour ahead accepted: %v", p)
		}
	})
}

func TestSessionTTL(t *testing.T) {
	h := newHarness(t)
	h.loginAs("/")
	v := h.cookie(DefaultCookieName)

	// A Login configured with a shorter TTL since the cookie was sealed.
	cfg := h.cfg
	cfg.SessionTTL = time.Hour
	short, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}

	h.clock.advance(time.Hour - time.Second)
	if sessionOf(short, DefaultCookieName, v) == nil {
		t.Fatal("refused within the shorter TTL")
	}
	h.clock.advance(time.Second)
	if p := sessionOf(short, DefaultCookieName, v); p != nil {
		t.Errorf("session sealed under 8h outlived the configured 1h: %v", p)
	}

	h.clock.advance(7*time.Hour - time.Second)
	if sessionOf(h.login, DefaultCookieName, v) == nil {
		t.Fatal("refused a second before the end of the session")
	}
	h.clock.advance(time.Second)
	if p := sessionOf(h.login, DefaultCookieName, v); p != nil {
		t.Errorf("session accepted at SessionTTL: %v", p)
	}
	// The browser is sent to log in again.
	if r := h.navigate(h.gw.URL + "/x"); r.StatusCode != http.StatusFound {
		t.Errorf("expired session: status %d, want 302", r.StatusCode)
	}
}

func TestSessionSize(t *testing.T) {
	roles := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("role-%013d", i)
		}
		return out
	}
	long := strings.Repeat("x", 250)
	t.Run("large ID token, small cookie", func(t *testing.T) {
		h := newHarness(t)
		h.op.AdjustClaims = func(c map[string]any) {
			c["name"] = strings.Repeat("n", 1000) // over maxClaimLen: dropped
			c["groups"] = roles(300)              // not kept
			c["address"] = map[string]any{"street": long}
		}
		r := h.loginAs("/")
		sc := checkCookie(t, r, DefaultCookieName, 8*3600)
		if len(sc.Value) > 400 {
			t.Errorf("session cookie of %d bytes", len(sc.Value))
		}
		p := sessionOf(h.login, DefaultCookieName, sc.Value)
		if _, ok := p.Claims["name"]; ok || p.Claims["email"] != "alice@example.com" || len(p.Claims) != 4 {
			t.Errorf("claims %v", p.Claims)
		}
	})
	t.Run("many roles: claims dropped, roles kept", func(t *testing.T) {
		h := newHarness(t)
		h.op.AdjustClaims = func(c map[string]any) {
			c["roles"] = roles(90)
			c["name"], c["email"], c["preferred_username"] = long, long, long
		}
		r := h.loginAs("/")
		sc := checkCookie(t, r, DefaultCookieName, 8*3600)
		if n := len(sc.Name) + 1 + len(sc.Value); n > 3<<10 {
			t.Errorf("session cookie of %d bytes", n)
		}
		p := sessionOf(h.login, DefaultCookieName, sc.Value)
		if len(p.Roles) != 90 || len(p.Claims) != 2 {
			t.Errorf("%d roles, claims %v", len(p.Roles), p.Claims)
		}
	})
	t.Run("too many roles", func(t *testing.T) {
		h := newHarness(t)
		h.op.AdjustClaims = func(c map[string]any) { c["roles"] = roles(300) }
		r, err := h.callback(h.authorize(h.begin("/")))
		var e *Error
		if !errors.As(err, &e) || e.Reason != ReasonSessionTooLarge || r.StatusCode != 500 || r.cookie(DefaultCookieName) != nil {
			t.Fatalf("status %d, err %v", r.StatusCode, err)
		}
	})
}

func TestRolesClaimPath(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *oidctest.Provider) { c.RolesClaim = "realm_access.roles" })
	h.op.AdjustClaims = func(c map[string]any) {
		c["realm_access"] = map[string]any{"roles": []string{"auditor", "", "reader"}}
	}
	h.loginAs("/")
	p := sessionOf(h.login, DefaultCookieName, h.cookie(DefaultCookieName))
	if !slices.Equal(p.Roles, []string{"auditor", "reader"}) {
		t.Errorf("roles %q", p.Roles)
	}
}

func TestLogout(t *testing.T) {
	h := newHarness(t)
	h.loginAs("/")
	r := h.navigate(h.gw.URL + "/.rampart/logout")
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", r.StatusCode)
	}
	loc := r.location(t)
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != h.op.Issuer()+"/logout" ||
		loc.Query().Get("client_id") != testClientID || loc.Query().Get("ui") != "1" {
		t.Errorf("Location %s, want the end_session_endpoint with client_id", loc)
	}
	c := checkCookie(t, r, DefaultCookieName, -1)
	if c.Value != "" {
		t.Errorf("cleared cookie has value %q", c.Value)
	}
	if h.cookie(DefaultCookieName) != "" {
		t.Error("the browser still holds the session cookie")
	}
	if r := h.navigate(h.gw.URL + "/x"); r.StatusCode != http.StatusFound {
		t.Errorf("after logout: status %d, want 302 to log in", r.StatusCode)
	}

	t.Run("issuer without end_session_endpoint", func(t *testing.T) {
		h := newHarness(t, func(_ *Config, op *oidctest.Provider) { op.NoEndSession = true })
		h.loginAs("/")
		r := h.navigate(h.gw.URL+"/.rampart/logout", http.MethodPost)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
			t.Fatalf("status %d Location %q", r.StatusCode, r.Header.Get("Location"))
		}
		checkCookie(t, r, DefaultCookieName, -1)
	})
}

func TestClientAuthentication(t *testing.T) {
	t.Run("public client: PKCE only", func(t *testing.T) {
		h := newHarness(t, func(c *Config, op *oidctest.Provider) { c.ClientSecret, op.ClientSecret = "", "" })
		h.loginAs("/")
		if auth := h.op.Seen().ClientAuth; !slices.Equal(auth, []string{"none"}) || h.cookie(DefaultCookieName) == "" {
			t.Errorf("client authentication %q", auth)
		}
	})
	t.Run("client_secret_post", func(t *testing.T) {
		h := newHarness(t, func(_ *Config, op *oidctest.Provider) { op.AuthMethods = []string{"client_secret_post"} })
		h.loginAs("/")
		if auth := h.op.Seen().ClientAuth; !slices.Equal(auth, []string{"post"}) {
			t.Errorf("client authentication %q", auth)
		}
	})
}

func TestNewRefuses(t *testing.T) {
	op := oidctest.New(t)
	op.RedirectURL = "https://gw.example/.rampart/login/callback"
	good := Config{
		Name: "corp", IssuerURL: op.Issuer(), ClientID: testClientID, ClientSecret: testSecret,
		RedirectURL: op.RedirectURL, CookieKey: make([]byte, 32), HTTPClient: op.Client(),
	}
	if l, err := New(context.Background(), good); err != nil || l.CallbackPath() != "/.rampart/login/callback" {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(*Config)
		opEdit func(*oidctest.Provider)
		want   string
	}{
		{name: "no name", edit: func(c *Config) { c.Name = "" }, want: "name is empty"},
		{name: "http issuer", edit: func(c *Config) { c.IssuerURL = "http://idp.example" }, want: "only for loopback"},
		{name: "issuer with query", edit: func(c *Config) { c.IssuerURL += "?tenant=1" }, want: "query"},
		{name: "no client id", edit: func(c *Config) { c.ClientID = "" }, want: "client id"},
		{name: "http redirect", edit: func(c *Config) { c.RedirectURL = "http://gw.example/cb" }, want: "only for loopback"},
		{name: "relative redirect", edit: func(c *Config) { c.RedirectURL = "/cb" }, want: "not an absolute URL"},
		{name: "redirect without path", edit: func(c *Config) { c.RedirectURL = "https://gw.example" }, want: "no path"},
		{name: "short key", edit: func(c *Config) { c.CookieKey = make([]byte, 16) }, want: "16 bytes, want 32"},
		{name: "bad cookie name", edit: func(c *Config) { c.CookieName = "a b" }, want: "cookie name"},
		{name: "login cookie name", edit: func(c *Config) { c.CookieName = LoginCookieName }, want: "login cookie"},
		{name: "tiny TTL", edit: func(c *Config) { c.SessionTTL = time.Second }, want: "under a minute"},
		{name: "roles claim", edit: func(c *Config) { c.RolesClaim = "a..b" }, want: "claim path"},
		{name: "scope", edit: func(c *Config) { c.Scopes = []string{"a b"} }, want: "scope"},
		{name: "unreachable issuer", edit: func(c *Config) { c.IssuerURL = "https://127.0.0.1:1" }, want: "https://127.0.0.1:1): discovery"},
		{name: "untrusted certificate (default client)", edit: func(c *Config) { c.HTTPClient = nil }, want: "certificate"},
		{name: "issuer mismatch", edit: func(c *Config) { c.IssuerURL += "/" }, want: "did not match"},
		{name: "http token endpoint", opEdit: func(op *oidctest.Provider) { op.TokenURL = "http://idp.example/token" }, want: "token_endpoint"},
		{name: "no S256", opEdit: func(op *oidctest.Provider) { op.PKCEMethods = []string{"plain"} }, want: "lacks S256"},
		{name: "no secret method", opEdit: func(op *oidctest.Provider) { op.AuthMethods = []string{"private_key_jwt"} }, want: "client_secret_basic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op := oidctest.New(t)
			c := good
			c.IssuerURL, c.HTTPClient = op.Issuer(), op.Client()
			if tc.edit != nil {
				tc.edit(&c)
			}
			if tc.opEdit != nil {
				tc.opEdit(op)
			}
			_, err := New(context.Background(), c)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), `oidclogin: issuer "`+c.Name+`"`) {
				t.Fatalf("error %v, want one naming the issuer and saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error %v contains the client secret", err)
			}
		})
	}
}

func TestIssuerResponsesCapped(t *testing.T) {
	big := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"issuer":"x","pad":"`))
		chunk := []byte(strings.Repeat("a", 64<<10))
		for range 40 { // 2.5 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		w.Write([]byte(`"}`))
	}))
	defer big.Close()
	_, err := New(context.Background(), Config{
		Name: "corp", IssuerURL: big.URL, ClientID: testClientID, RedirectURL: "https://gw.example/cb",
		CookieKey: make([]byte, 32), HTTPClient: big.Client(),
	})
	if !errors.Is(err, errResponseTooLarge) && (err == nil || !strings.Contains(err.Error(), errResponseTooLarge.Error())) {
		t.Fatalf("error %v, want the response refused as too large", err)
	}
}

// flipByte flips one bit of the decoded cookie's byte i.
func flipByte(t *testing.T, v string, i int) string {
	t.Helper()
	raw, err := b64.DecodeString(v)
	if err != nil || i >= len(raw) {
		t.Fatalf("cookie %q: %v", v, err)
	}
	raw[i] ^= 0x01
	return b64.EncodeToString(raw)
}

// withParam sets (or with "" removes) a query parameter of a copy of u.
func withParam(u *url.URL, k, v string) *url.URL {
	c := *u
	q := c.Query()
	if v == "" {
		q.Del(k)
	} else {
		q.Set(k, v)
	}
	c.RawQuery = q.Encode()
	return &c
}

// fuzzLogin is a Login for fuzzing and benchmarks: no issuer behind it.
func fuzzLogin(tb testing.TB, now time.Time) *Login {
	l, err := Config{
		Name: "corp", IssuerURL: "https://idp.example", ClientID: testClientID,
		RedirectURL: "https://gw.example/cb", CookieKey: make([]byte, 32),
		now: func() time.Time { return now },
	}.provision()
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// fuzzSeed is a session for "alice" sealed by fuzzLogin at fuzzNow (the
// all-zero key). Fuzzing runs in several processes, so the one valid cookie
// must be fixed: if the format changes, print a new one with
// l.seal(l.sessionAAD, l.newSession("alice", nil, fuzzNow)).
const fuzzSeed = "AeSgUp4ZnBQ4s4wqS37adzpHpMI-wM9IZV7HXt7HDikQ5wsIzbYiX-hIN-h8_omrEO-fG_H1SIadgVq0zbb3URkgXLLYhtuvYWlTswMrCScqHwCDC9LOBBfWj-yKTabjRobSa8i_NEYV5ROPIFmKYH2hVMR1d04_HYkL__96c_Vhb__1_XbhNN6Ls8J0w5mn"

var fuzzNow = time.Unix(1_700_000_000, 0)

// FuzzSession: no cookie but the one the gateway sealed yields a principal,
// and nothing panics.
func FuzzSession(f *testing.F) {
	l := fuzzLogin(f, fuzzNow)
	if p := l.principal(fuzzSeed); p == nil || p.Subject != "alice" {
		f.Fatal("fuzzSeed does not open: regenerate it (see its comment)")
	}
	login, _ := l.seal(l.loginAAD, &loginState{Issuer: "corp", State: "s", Nonce: "n", Verifier: "v", Next: "/", Expires: fuzzNow.Unix() + 600})
	for _, s := range []string{fuzzSeed, login, "", "AQ", fuzzSeed[:len(fuzzSeed)-2], strings.Repeat("A", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if p := l.principal(v); p != nil && v != fuzzSeed {
			t.Fatalf("cookie %q accepted: %+v", v, p)
		}
	})
}

// FuzzLocalPath: what localPath keeps stays on this host even as a browser
// reads it (tabs and newlines dropped, backslashes as slashes).
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/a?b=c", "//evil.example", `/\evil.example`, "/\t/evil", "https://evil.example", "/%2F%2Fx", "/.//x", "/..//x"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://gw.example/here/")
	f.Fuzz(func(t *testing.T, s string) {
		got := localPath(s)
		if got != "/" && got != s {
			t.Fatalf("localPath(%q) = %q", s, got)
		}
		browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(strings.TrimSpace(got))
		u, err := base.Parse(browser)
		if err != nil || u.Scheme != "https" || u.Host != "gw.example" {
			t.Fatalf("localPath(%q) = %q leads to %v (%v)", s, got, u, err)
		}
	})
}

func BenchmarkSession(b *testing.B) {
	l := fuzzLogin(b, fuzzNow)
	v, _ := l.seal(l.sessionAAD, l.newSession("alice", map[string]any{
		"roles": []any{"admin", "dev"}, "email": "alice@example.com", "name": "Alice Liddell", "preferred_username": "alice",
	}, fuzzNow))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: v})
	b.ReportAllocs()
	for b.Loop() {
		if l.Session(r) == nil {
			b.Fatal("refused")
		}
	}
}
