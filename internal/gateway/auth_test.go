package gateway

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// testIdP is a real issuer key set on 127.0.0.1 and a signer for its tokens.
type testIdP struct {
	srv  *httptest.Server
	key  ed25519.PrivateKey
	down atomic.Bool
}

func newTestIdP(t *testing.T) *testIdP {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIdP{key: priv}
	idp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if idp.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: "k1", Algorithm: "EdDSA", Use: "sig"}}})
	}))
	t.Cleanup(idp.srv.Close)
	return idp
}

// token signs claims for sub with scope and roles, valid for an hour.
func (idp *testIdP) token(t *testing.T, key crypto.Signer, sub, scope string, roles ...string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := map[string]any{"iss": "https://idp.test", "aud": "api", "sub": sub, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": scope, "roles": roles}
	b, _ := json.Marshal(c)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := obj.CompactSerialize()
	return tok
}

func authConfig(idpURL, upstream string) string {
	return fmt.Sprintf(`
gateway:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  tls: {disabled: true}
log: {access: stdout}
issuers:
  - name: idp
    issuer: https://idp.test
    jwks_uri: %s
    audiences: [api]
    algorithms: [EdDSA]
    token_type: at+jwt
upstreams:
  accounts: {targets: ["http://%s"]}
routes:
  - name: read-account
    match: {path: "/accounts/{id}", methods: [GET]}
    upstream: accounts
    auth: {issuers: [idp], scopes: [accounts:read]}
    allow: 'principal.subject == params.id || "admin" in principal.roles'
  - name: forward
    match: {path: /forward, methods: [GET]}
    upstream: accounts
    auth: {issuers: [idp], forward_token: true}
  - name: public
    match: {path: "/*"}
    upstream: accounts
    auth: none
`, idpURL, upstream)
}

// The attacks of the authentication issue, end to end through the gateway:
// each refused with the RFC 6750 answer and an event, and the honest request
// passing with the verified identity (and not the token) at the service.
func TestAuthEndToEnd(t *testing.T) {
	idp := newTestIdP(t)
	up := newUpstream(t, "accounts", nil)
	g := startGateway(t, authConfig(idp.srv.URL, up.addr))
	waitIssuer(t, g.addrs.Admin, "idp")

	alice := idp.token(t, idp.key, "42", "accounts:read")
	admin := idp.token(t, idp.key, "1", "accounts:read", "admin")
	noScope := idp.token(t, idp.key, "42", "orders:read")
	_, attackerKey, _ := ed25519.GenerateKey(rand.Reader)
	forged := idp.token(t, attackerKey, "42", "accounts:read", "admin")

	cases := []struct {
		name     string
		path     string
		headers  []string
		status   int
		wwwAuth  string
		reason   string // the event's reason; the client never sees it
		upstream bool
	}{
		{"no credentials", "/accounts/42", nil, 401, `Bearer realm="rampart"`, "missing", false},
		{"token in the query string is not read", "/accounts/42?access_token=" + alice, nil, 401, `Bearer realm="rampart"`, "missing", false},
		{"own account", "/accounts/42", []string{"Authorization: Bearer " + alice}, 200, "", "", true},
		{"someone else's account (CEL policy)", "/accounts/7", []string{"Authorization: Bearer " + alice}, 403, "", "policy_denied", false},
		{"admin role may read any account", "/accounts/7", []string{"Authorization: Bearer " + admin}, 200, "", "", true},
		{"missing scope", "/accounts/42", []string{"Authorization: Bearer " + noScope}, 403, `Bearer realm="rampart", error="insufficient_scope", scope="accounts:read"`, "insufficient_scope", false},
		{"token signed by another key", "/accounts/42", []string{"Authorization: Bearer " + forged}, 401, `Bearer realm="rampart", error="invalid_token"`, "bad_signature", false},
		{"alg none", "/accounts/42", []string{"Authorization: Bearer eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiI0MiJ9."}, 401, `Bearer realm="rampart", error="invalid_token"`, "alg_none", false},
		{"two Authorization headers", "/accounts/42", []string{"Authorization: Bearer " + alice, "Authorization: Bearer " + admin}, 400, `Bearer realm="rampart", error="invalid_request"`, "malformed", false},
		{"basic credentials", "/accounts/42", []string{"Authorization: Basic YWRtaW46YWRtaW4="}, 400, `Bearer realm="rampart", error="invalid_request"`, "malformed", false},
		{"oversized token", "/accounts/42", []string{"Authorization: Bearer " + strings.Repeat("a", 9000)}, 400, `Bearer realm="rampart", error="invalid_request"`, "too_large", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(up.requests())
			status, hdr, body := raw(t, g.addrs.Gateway, get(c.path, c.headers...))
			if status != c.status {
				t.Fatalf("status %d, want %d (%s)", status, c.status, body)
			}
			if got := hdr.Get("WWW-Authenticate"); got != c.wwwAuth {
				t.Fatalf("WWW-Authenticate %q, want %q", got, c.wwwAuth)
			}
			if reached := len(up.requests()) > before; reached != c.upstream {
				t.Fatalf("reached the upstream: %v, want %v", reached, c.upstream)
			}
			if c.reason != "" {
				if strings.Contains(body, c.reason) {
					t.Fatalf("the refusal reason leaked to the client: %s", body)
				}
				var resp struct {
					RequestID string `json:"request_id"`
				}
				json.Unmarshal([]byte(body), &resp)
				if resp.RequestID == "" {
					t.Fatalf("no request id in %s", body)
				}
				typ := event.AuthnFailed
				if c.status == 403 {
					typ = event.AuthzDenied
				}
				if e := g.events.waitForID(t, typ, c.reason, resp.RequestID); e.Route != "read-account" {
					t.Fatalf("event route %q", e.Route)
				}
			}
		})
	}

	// The service received the gateway's signed statement of the identity,
	// not the client's token, and can verify it with sdk/principal.
	var got seen
	for _, s := range up.requests() {
		if s.URI == "/accounts/42" {
			got = s
		}
	}
	if got.Header.Get("Authorization") != "" {
		t.Fatal("the client's token was forwarded to the service")
	}
	if got.Header.Get("X-Rampart-Subject") != "42" || got.Header.Get("X-Rampart-Scopes") != "accounts:read" {
		t.Fatalf("identity headers: %v", got.Header)
	}
	v, err := principal.NewVerifier(principal.VerifierOptions{Audience: "accounts", JWKSURL: "http://" + g.addrs.Admin + "/identity/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	idTok := got.Header.Get("X-Rampart-Identity")
	p, err := v.Verify(context.Background(), idTok)
	if err != nil {
		t.Fatalf("the service could not verify the identity token: %v", err)
	}
	if p.Subject != "42" || p.Issuer != "idp" || p.Method != principal.JWT || !p.HasScope("accounts:read") {
		t.Fatalf("identity = %+v", p)
	}
	other, _ := principal.NewVerifier(principal.VerifierOptions{Audience: "billing", JWKSURL: "http://" + g.addrs.Admin + "/identity/jwks.json"})
	if _, err := other.Verify(context.Background(), idTok); err == nil {
		t.Fatal("an identity token for accounts was accepted by another service")
	}

	// A client replaying that identity token (or inventing identity headers)
	// gets nowhere: every X-Rampart-* header from a client is removed.
	raw(t, g.addrs.Gateway, get("/anything", "X-Rampart-Identity: "+idTok, "X-Rampart-Subject: 1"))
	last := up.last(t)
	if last.URI != "/anything" || last.Header.Get("X-Rampart-Identity") != "" || last.Header.Get("X-Rampart-Subject") != "" {
		t.Fatalf("spoofed identity reached the service: %v", last.Header)
	}

	// forward_token: the route opts in to passing the client's token on.
	if status, _, body := raw(t, g.addrs.Gateway, get("/forward", "Authorization: Bearer "+alice)); status != 200 {
		t.Fatalf("forward: %d %s", status, body)
	}
	if last := up.last(t); last.Header.Get("Authorization") != "Bearer "+alice || last.Header.Get("X-Rampart-Identity") == "" {
		t.Fatalf("forward_token route: %v", last.Header)
	}
}

// waitForID is waitFor for one request's event.
func (l *eventLog) waitForID(t *testing.T, typ event.Type, reason, requestID string) event.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range l.all() {
			if e.Type == typ && e.Reason == reason && e.RequestID == requestID {
				return e
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %s/%s event for request %s; got %+v", typ, reason, requestID, l.all())
	return event.Event{}
}

// waitIssuer polls /readyz until the issuer's keys are there. /readyz stays
// 200 without them (public routes serve), so its details are what to watch.
func waitIssuer(t *testing.T, admin, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rz struct {
			Details struct {
				Issuers map[string]bool `json:"issuers"`
			} `json:"details"`
		}
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&rz)
			resp.Body.Close()
			if rz.Details.Issuers[name] {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("issuer %s never got its keys: %v", name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An issuer that is down when the gateway starts: the gateway serves, the
// routes that need the issuer answer 503 (never open) and /readyz names them;
// when the issuer comes back they work.
func TestIssuerDownAtStart(t *testing.T) {
	idp := newTestIdP(t)
	idp.down.Store(true)
	up := newUpstream(t, "accounts", nil)
	g := startGateway(t, authConfig(idp.srv.URL, up.addr))
	tok := idp.token(t, idp.key, "42", "accounts:read")

	if status, _, _ := raw(t, g.addrs.Gateway, get("/public")); status != 200 {
		t.Fatalf("public route while the issuer is down: %d", status)
	}
	if status, hdr, _ := raw(t, g.addrs.Gateway, get("/accounts/42", "Authorization: Bearer "+tok)); status != 503 || hdr.Get("Retry-After") == "" {
		t.Fatalf("protected route while the issuer is down: %d", status)
	}
	resp, err := http.Get("http://" + g.addrs.Admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var rz struct {
		Details struct {
			Issuers        map[string]bool `json:"issuers"`
			RoutesNotReady []string        `json:"routes_not_ready"`
		} `json:"details"`
	}
	json.NewDecoder(resp.Body).Decode(&rz)
	resp.Body.Close()
	if rz.Details.Issuers["idp"] || strings.Join(rz.Details.RoutesNotReady, ",") != "read-account,forward" {
		t.Fatalf("readyz details: %+v", rz.Details)
	}
	g.events.waitFor(t, event.KeySetFailure, "fetch_failed")

	idp.down.Store(false)
	waitIssuer(t, g.addrs.Admin, "idp")
	if status, _, body := raw(t, g.addrs.Gateway, get("/accounts/42", "Authorization: Bearer "+tok)); status != 200 {
		t.Fatalf("after the issuer came back: %d %s", status, body)
	}
}

// Bad auth configuration is refused at load, located in the file.
func TestAuthConfigErrors(t *testing.T) {
	idp := newTestIdP(t)
	for name, c := range map[string]struct{ allow, want string }{
		"does not compile":    {`principal.subject ==`, "routes[0].allow"},
		"unknown field":       {`principal.subjekt == "x"`, "routes[0].allow"},
		"not a bool":          {`principal.subject`, "routes[0].allow"},
		"undeclared variable": {`user.id == "1"`, "routes[0].allow"},
	} {
		t.Run(name, func(t *testing.T) {
			first := "routes:\n  - name: first\n    match: {path: /first}\n    upstream: accounts\n    auth: {issuers: [idp]}\n    allow: '" + c.allow + "'\n"
			cfgText := strings.Replace(authConfig(idp.srv.URL, "127.0.0.1:1"), "routes:\n", first, 1)
			path := t.TempDir() + "/gateway.yaml"
			if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			err = Check(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "gateway.yaml:") {
				t.Fatalf("error %v, want one located at %s", err, c.want)
			}
		})
	}
}
