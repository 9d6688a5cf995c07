package token

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

var rfcErrors = map[string]bool{"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
	"unsupported_grant_type": true, "invalid_scope": true}

// FuzzTokenEndpoint sends arbitrary bodies to /oauth2/token: the answer is
// never a server error, and an error is one of RFC 6749's codes.
func FuzzTokenEndpoint(f *testing.F) {
	e := newEnv(f, newSQLite, nil)
	h := e.srv.Handler()
	for _, s := range []string{
		"grant_type=client_credentials", "grant_type=authorization_code&code=x&code_verifier=y&client_id=spa",
		"grant_type=refresh_token&refresh_token=abc&client_id=spa", "grant_type=client_credentials&scope=a&scope=b",
		"client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c&grant_type=client_credentials",
		"%zz", "grant_type=password&username=alice&password=x",
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, body string, basic bool) {
		req := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			req.SetBasicAuth("svc", "not-the-secret")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("server error %d for %q", rec.Code, body)
		}
		if rec.Code == 200 {
			t.Fatalf("token issued without valid credentials for %q", body)
		}
		var out struct{ Error string }
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || !rfcErrors[out.Error] {
			t.Fatalf("answer %q is not an RFC error", rec.Body)
		}
	})
}

// FuzzAuthorize sends arbitrary query strings to /oauth2/authorize: it
// never redirects anywhere but the registered redirect_uri.
func FuzzAuthorize(f *testing.F) {
	e := newEnv(f, newSQLite, nil)
	h := e.srv.Handler()
	for _, s := range []string{
		"response_type=code&client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback&scope=openid",
		"response_type=token&client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback",
		"response_type=code&client_id=spa&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback%2F&code_challenge=x&code_challenge_method=plain",
		"client_id=web&client_id=spa", "redirect_uri=%00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest("GET", "/oauth2/authorize", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("server error for %q", query)
		}
		if loc := rec.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, redirect+"?") {
			t.Fatalf("redirected to %q for %q", loc, query)
		}
		if rec.Code == http.StatusOK && !strings.Contains(rec.Body.String(), `name="csrf"`) {
			t.Fatalf("200 without a login form for %q", query)
		}
	})
}

// FuzzVerify feeds arbitrary strings to the access-token verifier: none
// verifies, none panics.
func FuzzVerify(f *testing.F) {
	e := newEnv(f, newSQLite, nil)
	tok := clientcredentialsToken(f, e)
	f.Add(tok[:len(tok)-2] + "xx")
	f.Add("eyJhbGciOiJub25lIn0." + strings.Split(tok, ".")[1] + ".")
	f.Add(strings.Repeat(".", 100))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, s string) {
		if s == tok {
			return
		}
		if _, ok := e.srv.checkAccessToken(s); ok {
			t.Fatalf("%q verified", s)
		}
	})
}
