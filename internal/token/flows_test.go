package token

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/rampart-sec/rampart/internal/requestid"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestClientCredentials(t *testing.T) {
	e := sqliteEnv(t)
	ctx := t.Context()
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: svcSecret, TokenURL: e.issuer + "/oauth2/token", Scopes: []string{"orders:read"},
		AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" || tok.Expiry.IsZero() {
		t.Fatalf("token: %+v", tok)
	}
	p, err := e.verifier().Verify(ctx, tok.AccessToken, []string{"rampart"})
	if err != nil {
		t.Fatalf("the gateway's verifier refused the token: %v", err)
	}
	if p.Subject != "svc" || len(p.Scopes) != 1 || p.Scopes[0] != "orders:read" || p.Claims["client_id"] != "svc" || p.Claims["jti"] == "" {
		t.Fatalf("principal: %+v", p)
	}
	// client_secret_post works too.
	post := cc
	post.AuthStyle = oauth2.AuthStyleInParams
	if _, err := post.Token(ctx); err != nil {
		t.Fatalf("client_secret_post: %v", err)
	}

	for _, tc := range []struct {
		name, user, pass string
		form             url.Values
		status           int
		code             string
	}{
		{"wrong secret", "svc", svcSecret + "x", url.Values{"grant_type": {"client_credentials"}}, 401, "invalid_client"},
		{"unknown client", "nobody", svcSecret, url.Values{"grant_type": {"client_credentials"}}, 401, "invalid_client"},
		{"no credentials", "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc"}}, 401, "invalid_client"},
		{"scope outside the allow-list", "svc", svcSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read admin"}}, 400, "invalid_scope"},
		{"audience outside the allow-list", "svc", svcSecret, url.Values{"grant_type": {"client_credentials"}, "audience": {"billing"}}, 400, "invalid_scope"},
		{"grant not registered", "web", webSecret, url.Values{"grant_type": {"client_credentials"}}, 400, "unauthorized_client"},
		{"password grant", "svc", svcSecret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}}, 400, "unsupported_grant_type"},
		{"implicit-style grant", "svc", svcSecret, url.Values{"grant_type": {"implicit"}}, 400, "unsupported_grant_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.post("/oauth2/token", tc.form, tc.user, tc.pass)
			if status != tc.status || body["error"] != tc.code || body["access_token"] != nil {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
			if strings.Contains(body["error_description"].(string), svcSecret) {
				t.Fatal("error description echoes the secret")
			}
		})
	}
	if e.events.count(ClientAuthFailed) != 3 {
		t.Fatalf("client auth failures emitted %d events, want 3", e.events.count(ClientAuthFailed))
	}
	// A parameter given twice is refused (RFC 6749 3.2).
	req, _ := http.NewRequest("POST", e.issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=orders:read&scope=orders:write"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", svcSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("duplicate parameter: %d", resp.StatusCode)
	}
}

func TestAuthorizationCodeFlowWithOIDCClient(t *testing.T) {
	e := sqliteEnv(t)
	ctx := oidc.ClientContext(t.Context(), http.DefaultClient)
	provider, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	cfg := e.oauth2Config("web", webSecret, oidc.ScopeOpenID, "orders:read")
	cfg.Endpoint = provider.Endpoint()
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	code := e.codeFor(cfg, oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-1"))
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := provider.VerifierContext(ctx, &oidc.Config{ClientID: "web", SupportedSigningAlgs: []string{"EdDSA", "ES256"}}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc refused the ID token: %v", err)
	}
	if idt.Subject != "u-alice" || idt.Nonce != "n-1" {
		t.Fatalf("ID token: sub %q nonce %q", idt.Subject, idt.Nonce)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	p, err := e.verifier().Verify(ctx, tok.AccessToken, []string{"rampart"})
	if err != nil || p.Subject != "u-alice" || len(p.Roles) != 1 || p.Roles[0] != "admin" {
		t.Fatalf("access token at the gateway: %+v %v", p, err)
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != "u-alice" {
		t.Fatalf("userinfo: %+v %v", ui, err)
	}
	// The refresh token rotates.
	src := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken})
	tok2, err := src.Token()
	if err != nil || tok2.RefreshToken == "" || tok2.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %+v %v", tok2, err)
	}
	// The code is single-use: a replay fails and revokes what it issued.
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("code replay: %v", err)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("the replayed code's refresh token still works: %v", err)
	}
	if status, body := e.post("/oauth2/introspect", url.Values{"token": {tok2.AccessToken}}, "web", webSecret); status != 200 || body["active"] != false {
		t.Fatalf("the replayed code's access token is still active: %v", body)
	}
	if e.events.count(CodeReused) != 1 {
		t.Fatal("no event for the code replay")
	}
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

func TestPublicClientPKCE(t *testing.T) {
	e := sqliteEnv(t)
	ctx := t.Context()
	cfg := e.oauth2Config("spa", "", "openid")
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams

	// Honest: S256 challenge and its verifier.
	code := e.codeFor(cfg, oauth2.S256ChallengeOption(verifier))
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("honest PKCE exchange: %v", err)
	}
	// Wrong verifier.
	code = e.codeFor(cfg, oauth2.S256ChallengeOption(verifier))
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier+"x")); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("wrong verifier: %v", err)
	}
	// Downgrades refused at the authorization endpoint.
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"no challenge":     nil,
		"plain":            {oauth2.SetAuthURLParam("code_challenge", verifier), oauth2.SetAuthURLParam("code_challenge_method", "plain")},
		"method missing":   {oauth2.SetAuthURLParam("code_challenge", oauth2.S256ChallengeFromVerifier(verifier))},
		"method lowercase": {oauth2.SetAuthURLParam("code_challenge", oauth2.S256ChallengeFromVerifier(verifier)), oauth2.SetAuthURLParam("code_challenge_method", "s256")},
	} {
		t.Run(name, func(t *testing.T) {
			q, _ := e.login(cfg.AuthCodeURL("st-1", opts...), "alice", password)
			if q.Get("error") != "invalid_request" || q.Get("code") != "" || q.Get("state") != "st-1" {
				t.Fatalf("got %v, want invalid_request", q)
			}
		})
	}
}

func TestConfidentialClientPKCEDowngrade(t *testing.T) {
	e := sqliteEnv(t)
	cfg := e.oauth2Config("web", webSecret, "openid")
	// A challenge stripped from the authorization request: the verifier
	// arrives without a challenge and is refused.
	code := e.codeFor(cfg)
	if _, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier)); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("verifier without challenge: %v", err)
	}
	// A challenge was sent but the verifier is withheld.
	code = e.codeFor(cfg, oauth2.S256ChallengeOption(verifier))
	if _, err := cfg.Exchange(t.Context(), code); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("challenge without verifier: %v", err)
	}
	// Honest confidential client without PKCE.
	code = e.codeFor(cfg)
	if _, err := cfg.Exchange(t.Context(), code); err != nil {
		t.Fatalf("honest exchange: %v", err)
	}
}

func TestRedirectURIMustMatchExactly(t *testing.T) {
	e := sqliteEnv(t)
	cfg := e.oauth2Config("web", webSecret, "openid")
	for _, uri := range []string{
		"http://127.0.0.1:1/Callback",
		"HTTP://127.0.0.1:1/callback",
		"http://127.0.0.1:1/callback/",
		"http://127.0.0.1:1/callback/extra",
		"http://127.0.0.1:1/callback?x=1",
		"http://127.0.0.1:1/callback#f",
		"http://127.0.0.1:1/callback%2F..",
		"http://127.0.0.1:2/callback",
		"http://evil.example/callback",
		"",
	} {
		t.Run(uri, func(t *testing.T) {
			c := *cfg
			c.RedirectURL = uri
			resp, err := browser().Get(c.AuthCodeURL("s"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Fatalf("redirect_uri %q: %d Location %q, want a 400 page and no redirect", uri, resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	// The honest URI passes, and the token request must repeat it exactly.
	code := e.codeFor(cfg)
	c := *cfg
	c.RedirectURL = redirect + "/"
	if _, err := c.Exchange(t.Context(), code); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("token request with another redirect_uri: %v", err)
	}
	code = e.codeFor(cfg)
	if _, err := cfg.Exchange(t.Context(), code); err != nil {
		t.Fatal(err)
	}
}

// userTokens runs the code flow for web with offline access.
func (e *env) userTokens() (*oauth2.Config, *oauth2.Token) {
	e.t.Helper()
	cfg := e.oauth2Config("web", webSecret, "openid", "offline_access", "orders:read")
	code := e.codeFor(cfg, oauth2.S256ChallengeOption(verifier))
	tok, err := cfg.Exchange(e.t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg, tok
}

func (e *env) refresh(rt string) (int, map[string]any) {
	return e.post("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "web", webSecret)
}

func TestIntrospectAndRevoke(t *testing.T) {
	e := sqliteEnv(t)
	_, tok := e.userTokens()
	status, body := e.post("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, "svc", svcSecret)
	if status != 200 || body["active"] != true || body["sub"] != "u-alice" || body["client_id"] != "web" || body["scope"] != "openid offline_access orders:read" {
		t.Fatalf("introspect access token: %d %v", status, body)
	}
	if _, body := e.post("/oauth2/introspect", url.Values{"token": {tok.RefreshToken}}, "web", webSecret); body["active"] != true || body["token_type"] != "refresh_token" {
		t.Fatalf("introspect refresh token: %v", body)
	}
	if _, body := e.post("/oauth2/introspect", url.Values{"token": {tok.RefreshToken}}, "svc", svcSecret); body["active"] != false {
		t.Fatalf("another client learned about web's refresh token: %v", body)
	}
	if status, _ := e.post("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, "svc", "wrong"); status != 401 {
		t.Fatalf("introspection without client authentication: %d", status)
	}
	forged := tok.AccessToken[:len(tok.AccessToken)-4] + "AAAA"
	if _, body := e.post("/oauth2/introspect", url.Values{"token": {forged}}, "svc", svcSecret); body["active"] != false || len(body) != 1 {
		t.Fatalf("forged token: %v", body)
	}
	// Another client cannot revoke web's token; web can.
	if status, _ := e.post("/oauth2/revoke", url.Values{"token": {tok.RefreshToken}}, "svc", svcSecret); status != 200 {
		t.Fatalf("revoke by another client: %d", status)
	}
	if _, body := e.post("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, "svc", svcSecret); body["active"] != true {
		t.Fatal("another client's revocation took effect")
	}
	if status, _ := e.post("/oauth2/revoke", url.Values{"token": {tok.RefreshToken}}, "web", webSecret); status != 200 {
		t.Fatalf("revoke: %d", status)
	}
	if _, body := e.post("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, "svc", svcSecret); body["active"] != false {
		t.Fatal("revoking the refresh token left its access token active")
	}
	if status, body := e.refresh(tok.RefreshToken); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("refresh after revocation: %d %v", status, body)
	}
	// Revoking an access token by itself.
	cc := clientcredentialsToken(t, e)
	if status, _ := e.post("/oauth2/revoke", url.Values{"token": {cc}}, "svc", svcSecret); status != 200 {
		t.Fatal("revoke access token")
	}
	if _, body := e.post("/oauth2/introspect", url.Values{"token": {cc}}, "svc", svcSecret); body["active"] != false {
		t.Fatal("revoked access token still active")
	}
}

func clientcredentialsToken(t testing.TB, e *env) string {
	t.Helper()
	status, body := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc", svcSecret)
	if status != 200 {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	return body["access_token"].(string)
}

func TestDiscoveryAndJWKS(t *testing.T) {
	e := sqliteEnv(t)
	resp, err := http.Get(e.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d["issuer"] != e.issuer || d["jwks_uri"] != e.issuer+"/.well-known/jwks.json" {
		t.Fatalf("discovery: %v", d)
	}
	gt, _ := json.Marshal(d["grant_types_supported"])
	if strings.Contains(string(gt), "implicit") || strings.Contains(string(gt), "password") {
		t.Fatalf("advertises %s", gt)
	}
	resp, err = http.Get(e.issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	// current + next, public halves only.
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2", len(set.Keys))
	}
	for _, k := range set.Keys {
		if k["d"] != nil || k["kid"] == "" || k["alg"] != "EdDSA" {
			t.Fatalf("JWKS key: %v", k)
		}
	}
}

func TestUserinfoRequiresUserToken(t *testing.T) {
	e := sqliteEnv(t)
	cc := clientcredentialsToken(t, e)
	for name, auth := range map[string]string{"none": "", "service token": "Bearer " + cc, "garbage": "Bearer x.y.z"} {
		req, _ := http.NewRequest("GET", e.issuer+"/userinfo", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("%s: %d", name, resp.StatusCode)
		}
	}
}

func TestLogout(t *testing.T) {
	e := sqliteEnv(t)
	_, tok := e.userTokens()
	idt := tok.Extra("id_token").(string)
	u := e.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"http://evil.example/"}}.Encode()
	resp, err := browser().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Location") != "" {
		t.Fatalf("unregistered post-logout redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if status, _ := e.refresh(tok.RefreshToken); status != 400 {
		t.Fatal("refresh token survived sign-out")
	}
	u = e.issuer + "/oauth2/logout?" + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {redirect}, "state": {"z"}}.Encode()
	resp, err = browser().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != redirect+"?state=z" {
		t.Fatalf("registered post-logout redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSecretGuessingIsThrottled(t *testing.T) {
	e := sqliteEnv(t)
	form := url.Values{"grant_type": {"client_credentials"}}
	// The honest client authenticates once: its secret is now cached.
	if status, _ := e.post("/oauth2/token", form, "svc", svcSecret); status != 200 {
		t.Fatal("honest client refused")
	}
	for range secretFailuresPerClient {
		if status, _ := e.post("/oauth2/token", form, "svc", "guess"); status != 401 {
			t.Fatal("a guess was accepted")
		}
	}
	// Further guesses are refused without hashing...
	if status, _ := e.post("/oauth2/token", form, "svc", "guess"); status != 401 {
		t.Fatal("a guess was accepted")
	}
	e.events.mu.Lock()
	last := e.events.ev[len(e.events.ev)-1]
	e.events.mu.Unlock()
	if last.Reason != "secret_guessing_throttled" {
		t.Fatalf("last event %+v, want a throttled guess", last)
	}
	// ...while the honest client, verified before, keeps working.
	if status, _ := e.post("/oauth2/token", form, "svc", svcSecret); status != 200 {
		t.Fatal("the honest client was locked out by the guesses")
	}
}

// TestNoSecretsInLogsOrErrors drives failures through every path that
// logs (the store gone away included) and checks that no secret, password
// or token reaches the log, an event or a response.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	e := sqliteEnv(t)
	_, tok := e.userTokens()
	cc := clientcredentialsToken(t, e)
	var bodies []string
	record := func(_ int, body map[string]any) {
		b, _ := json.Marshal(body)
		bodies = append(bodies, string(b))
	}
	record(e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc", svcSecret+"typo"))
	e.login(e.oauth2Config("web", webSecret, "openid").AuthCodeURL("s"), "alice", password+"typo")
	e.st.Close() // every store call fails from here on
	record(e.refresh(tok.RefreshToken))
	record(e.post("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {"some-code"}, "redirect_uri": {redirect}}, "web", webSecret))
	status, body := e.post("/oauth2/revoke", url.Values{"token": {tok.RefreshToken}}, "web", webSecret)
	if status != 500 || body["error"] != "server_error" {
		t.Fatalf("revocation with the store down answered %d %v: the client would think the token revoked", status, body)
	}
	record(status, body)

	logs := e.logs.String()
	if !strings.Contains(logs, "level=ERROR") {
		t.Fatalf("the store failures were not logged: %q", logs)
	}
	e.events.mu.Lock()
	evs, _ := json.Marshal(e.events.ev)
	e.events.mu.Unlock()
	for _, secret := range []string{svcSecret, webSecret, password, tok.RefreshToken, tok.AccessToken, cc, "some-code"} {
		for where, text := range map[string]string{"log": logs, "events": string(evs), "responses": strings.Join(bodies, "\n")} {
			if strings.Contains(text, secret) {
				t.Fatalf("the %s contain a secret or token", where)
			}
		}
	}
}

// A refusal carries the request id of its event, made by the service: an
// id the client sends is not believed.
func TestRefusalsCarryRequestID(t *testing.T) {
	e := sqliteEnv(t)
	req, _ := http.NewRequest("POST", e.issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Request-Id", "forged-by-client")
	req.SetBasicAuth("nobody", "wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 401 || body.Error != "invalid_client" || !requestid.Valid(id) || id == "forged-by-client" || body.RequestID != id {
		t.Fatalf("got %d %+v with X-Request-Id %q", resp.StatusCode, body, id)
	}
	e.events.mu.Lock()
	defer e.events.mu.Unlock()
	for _, ev := range e.events.ev {
		if ev.Type == ClientAuthFailed && ev.RequestID == id {
			return
		}
	}
	t.Fatalf("no %s event with request id %s in %+v", ClientAuthFailed, id, e.events.ev)
}
