package oidctest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-sec/rampart/internal/oidclogin/oidctest"
)

const redirect = "https://gw.example/cb?x=1"

var (
	verifier  = strings.Repeat("v", 43)
	challenge = func() string {
		h := sha256.Sum256([]byte(verifier))
		return base64.RawURLEncoding.EncodeToString(h[:])
	}()
)

// noRedirects is p's client, stopping at the first redirect.
func noRedirects(p *oidctest.Provider) *http.Client {
	c := p.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func authorizeQuery(p *oidctest.Provider) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {p.ClientID}, "redirect_uri": {redirect},
		"scope": {"openid email"}, "state": {"st"}, "nonce": {"no"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

// authorize asks p for a code with q and returns its answer.
func authorize(t *testing.T, p *oidctest.Provider, q url.Values) *http.Response {
	t.Helper()
	resp, err := noRedirects(p).Get(p.Issuer() + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestAuthorize(t *testing.T) {
	p := oidctest.New(t)
	p.RedirectURL = redirect
	resp := authorize(t, p, authorizeQuery(p))
	back, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	q := back.Query()
	if back.Host != "gw.example" || back.Path != "/cb" || q.Get("x") != "1" || q.Get("state") != "st" ||
		q.Get("iss") != p.Issuer() || q.Get("code") == "" {
		t.Errorf("sent back to %s", back)
	}
	if seen := p.Seen(); !slices.Equal(seen.Challenges, []string{challenge}) || len(seen.Refusals) != 0 {
		t.Errorf("seen %+v", seen)
	}
}

func TestAuthorizeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		redirect string // Provider.RedirectURL
		edit     func(url.Values)
		why      string
	}{
		{"RedirectURL not set", "", nil, "redirect_uri (Provider.RedirectURL is not set)"},
		{"other redirect_uri", redirect, func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, "redirect_uri"},
		{"other client", redirect, func(q url.Values) { q.Set("client_id", "other") }, "client_id"},
		{"implicit flow", redirect, func(q url.Values) { q.Set("response_type", "token") }, "response_type"},
		{"no PKCE", redirect, func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "PKCE S256 required"},
		{"PKCE plain", redirect, func(q url.Values) { q.Set("code_challenge_method", "plain") }, "PKCE S256 required"},
		{"no openid scope", redirect, func(q url.Values) { q.Set("scope", "email") }, "openid scope"},
		{"no nonce", redirect, func(q url.Values) { q.Del("nonce") }, "state and nonce required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := oidctest.New(t)
			p.RedirectURL = tc.redirect
			q := authorizeQuery(p)
			if tc.edit != nil {
				tc.edit(q)
			}
			resp := authorize(t, p, q)
			if seen := p.Seen(); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" ||
				!slices.Equal(seen.Refusals, []string{tc.why}) || len(seen.Challenges) != 0 {
				t.Errorf("status %d, Location %q, seen %+v; want 400 for %q", resp.StatusCode, resp.Header.Get("Location"), seen, tc.why)
			}
		})
	}
}

// TestToken exchanges codes: the client's credentials, the code (once) and
// the verifier are checked before an ID token is issued.
func TestToken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		public bool // Provider.ClientSecret ""
		edit   func(f url.Values, r *http.Request)
		status int
		auth   string // how the client authenticated
		why    string // the refusal, "" for none
	}{
		{name: "basic", status: 200, auth: "basic"},
		{name: "post", edit: func(f url.Values, r *http.Request) {
			r.Header.Del("Authorization")
			f.Set("client_id", oidctest.DefaultClientID)
			f.Set("client_secret", oidctest.DefaultClientSecret)
		}, status: 200, auth: "post"},
		{name: "public client", public: true, edit: func(f url.Values, r *http.Request) {
			r.Header.Del("Authorization")
			f.Set("client_id", oidctest.DefaultClientID)
		}, status: 200, auth: "none"},
		{name: "wrong secret", edit: func(_ url.Values, r *http.Request) {
			r.SetBasicAuth(oidctest.DefaultClientID, "wrong")
		}, status: 401, auth: "basic", why: "client authentication"},
		{name: "secret unencoded", edit: func(_ url.Values, r *http.Request) {
			r.SetBasicAuth(oidctest.DefaultClientID, oidctest.DefaultClientSecret) // "+" decodes as a space
		}, status: 401, auth: "basic", why: "client authentication"},
		{name: "public client with a secret", public: true, edit: func(_ url.Values, r *http.Request) {
			r.SetBasicAuth(oidctest.DefaultClientID, "")
		}, status: 401, auth: "basic", why: "client authentication"},
		{name: "wrong verifier", edit: func(f url.Values, _ *http.Request) {
			f.Set("code_verifier", strings.Repeat("w", 43))
		}, status: 400, auth: "basic", why: "PKCE verifier"},
		{name: "other redirect_uri", edit: func(f url.Values, _ *http.Request) {
			f.Set("redirect_uri", "https://gw.example/cb")
		}, status: 400, auth: "basic", why: "redirect_uri"},
		{name: "unknown code", edit: func(f url.Values, _ *http.Request) {
			f.Set("code", "forged")
		}, status: 400, auth: "basic", why: "unknown or used code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := oidctest.New(t)
			p.RedirectURL = redirect
			if tc.public {
				p.ClientSecret = ""
			}
			back, _ := url.Parse(authorize(t, p, authorizeQuery(p)).Header.Get("Location"))
			f := url.Values{
				"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
				"redirect_uri": {redirect}, "code_verifier": {verifier},
			}
			r, _ := http.NewRequest(http.MethodPost, p.Issuer()+"/token", nil)
			r.SetBasicAuth(url.QueryEscape(oidctest.DefaultClientID), url.QueryEscape(oidctest.DefaultClientSecret))
			if tc.edit != nil {
				tc.edit(f, r)
			}
			form := f.Encode()
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(form)), int64(len(form))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := p.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				IDToken string `json:"id_token"`
				Error   string `json:"error"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			seen := p.Seen()
			if resp.StatusCode != tc.status || !slices.Equal(seen.ClientAuth, []string{tc.auth}) {
				t.Errorf("status %d, client auth %q; want %d, %q", resp.StatusCode, seen.ClientAuth, tc.status, tc.auth)
			}
			if tc.why == "" && (len(seen.Refusals) != 0 || strings.Count(body.IDToken, ".") != 2) {
				t.Errorf("refusals %q, id_token %q", seen.Refusals, body.IDToken)
			}
			if tc.why != "" && (!slices.Equal(seen.Refusals, []string{tc.why}) || body.IDToken != "" || body.Error == "") {
				t.Errorf("refusals %q, body %+v; want refused for %q", seen.Refusals, body, tc.why)
			}
		})
	}
}
