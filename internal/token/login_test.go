package token

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestLoginPage(t *testing.T) {
	e := sqliteEnv(t)
	cfg := e.oauth2Config("web", webSecret, "openid")
	resp, err := browser().Get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h := resp.Header
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	if h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("headers %v", h)
	}
	ck := resp.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("CSRF cookie %+v", ck)
	}
	for _, want := range []string{`<label for="username">`, `<label for="password">`, `lang="en"`, "Web app"} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("login page lacks %s", want)
		}
	}
	if strings.Contains(string(body), "<script") || strings.Contains(string(body), `href="http`) || strings.Contains(string(body), "src=") {
		t.Fatal("login page loads external or script content")
	}
}

// submit posts the login form with explicit CSRF values.
func (e *env) submit(c *http.Client, authURL, csrf, user, pass string) *http.Response {
	e.t.Helper()
	u, _ := url.Parse(authURL)
	form := u.Query()
	form.Set("csrf", csrf)
	form.Set("username", user)
	form.Set("password", pass)
	resp, err := c.PostForm(e.issuer+"/login", form)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestLoginCSRF(t *testing.T) {
	e := sqliteEnv(t)
	authURL := e.oauth2Config("web", webSecret, "openid").AuthCodeURL("s")
	// A cross-site form post has neither the cookie nor a matching field.
	if resp := e.submit(browser(), authURL, "forged", "alice", password); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged CSRF: %d", resp.StatusCode)
	}
	// A field taken from another browser's page does not match this cookie.
	other := browser()
	resp, _ := other.Get(authURL)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	stolen := string(csrfRE.FindSubmatch(b)[1])
	mine := browser()
	resp, _ = mine.Get(authURL)
	resp.Body.Close()
	if resp := e.submit(mine, authURL, stolen, "alice", password); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("CSRF field of another session: %d", resp.StatusCode)
	}
	if resp := e.submit(other, authURL, stolen, "alice", password); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("honest login: %d", resp.StatusCode)
	}
}

func TestLoginRefusals(t *testing.T) {
	e := sqliteEnv(t)
	authURL := e.oauth2Config("web", webSecret, "openid").AuthCodeURL("s")
	if _, status := e.login(authURL, "alice", "wrong"); status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", status)
	}
	if _, status := e.login(authURL, "mallory", password); status != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", status)
	}
	if e.events.count(LoginFailed) != 2 {
		t.Fatalf("login failures emitted %d events", e.events.count(LoginFailed))
	}
	if q, _ := e.login(authURL, "alice", password); q.Get("code") == "" {
		t.Fatal("honest login refused")
	}
	if _, err := e.st.DisableUser(t.Context(), "alice", e.clock.now(), e.clock.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, status := e.login(authURL, "alice", password); status != http.StatusUnauthorized {
		t.Fatalf("disabled user: %d", status)
	}
}

func TestLoginThrottle(t *testing.T) {
	e := newEnv(t, newSQLite, func(c *Config) { c.LoginMaxFailures = 3; c.LoginMaxFailuresPerIP = 5 })
	authURL := e.oauth2Config("web", webSecret, "openid").AuthCodeURL("s")
	for range 3 {
		if _, status := e.login(authURL, "alice", "guess"); status != http.StatusUnauthorized {
			t.Fatalf("guess: %d", status)
		}
	}
	// The account is locked: even the right password is refused for now.
	if _, status := e.login(authURL, "alice", password); status != http.StatusTooManyRequests {
		t.Fatalf("locked account: %d", status)
	}
	if e.events.count(LoginThrottled) != 1 {
		t.Fatal("no throttle event")
	}
	// After the window the honest login passes.
	e.clock.add(e.srv.cfg.LoginWindow)
	if q, _ := e.login(authURL, "alice", password); q.Get("code") == "" {
		t.Fatal("honest login after the window refused")
	}
	// One address trying many accounts is throttled as an address.
	for _, u := range []string{"a", "b", "c", "d", "e"} {
		e.login(authURL, u, "guess")
	}
	if _, status := e.login(authURL, "alice", password); status != http.StatusTooManyRequests {
		t.Fatalf("address over its limit: %d", status)
	}
}

func TestThrottleIsBounded(t *testing.T) {
	th := newThrottle(3, 3, time.Minute, 100)
	now := time.Now()
	for i := range 1000 {
		th.failed("user"+string(rune('a'+i%26))+time.Duration(i).String(), "10.0.0."+time.Duration(i).String(), now.Add(time.Duration(i)*time.Millisecond))
	}
	if len(th.m) > 100 {
		t.Fatalf("throttle holds %d keys, bound 100", len(th.m))
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	e := sqliteEnv(t)
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	base := func() url.Values {
		return url.Values{"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {redirect}, "scope": {"openid"}, "state": {"s"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	}
	for _, tc := range []struct {
		name string
		mod  func(url.Values)
		// code is the error sent back to the client; "" means a 400 page
		// and no redirect (client or redirect_uri not trusted).
		code string
	}{
		{"unknown client", func(v url.Values) { v.Set("client_id", "nobody") }, ""},
		{"duplicate parameter", func(v url.Values) { v.Add("redirect_uri", "http://evil.example/") }, ""},
		{"implicit (response_type=token)", func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		{"hybrid (code id_token)", func(v url.Values) { v.Set("response_type", "code id_token") }, "unsupported_response_type"},
		{"no scope", func(v url.Values) { v.Del("scope") }, "invalid_scope"},
		{"scope outside the allow-list", func(v url.Values) { v.Set("scope", "openid admin") }, "invalid_scope"},
		{"request object", func(v url.Values) { v.Set("request", "e30.e30.") }, "request_not_supported"},
		{"request_uri", func(v url.Values) { v.Set("request_uri", "https://x/r") }, "request_uri_not_supported"},
		{"malformed challenge", func(v url.Values) { v.Set("code_challenge", "short") }, "invalid_request"},
		{"method without challenge", func(v url.Values) { v.Del("code_challenge") }, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := base()
			tc.mod(v)
			resp, err := browser().Get(e.issuer + "/oauth2/authorize?" + v.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tc.code == "" {
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("got %d Location %q, want a 400 page", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("got %d, want a redirect with %s", resp.StatusCode, tc.code)
			}
			if q := redirectQuery(t, resp); q.Get("error") != tc.code || q.Get("state") != "s" || q.Get("code") != "" {
				t.Fatalf("redirect query %v, want error %s", q, tc.code)
			}
		})
	}
	// The honest request gets the login page.
	resp, err := browser().Get(e.issuer + "/oauth2/authorize?" + base().Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("honest request: %d", resp.StatusCode)
	}
	// A client without the authorization_code grant is refused.
	v := base()
	v.Set("client_id", "svc")
	resp, err = browser().Get(e.issuer + "/oauth2/authorize?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("client without redirect URIs: %d", resp.StatusCode)
	}
}
