package gateway

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/apikey"
	"github.com/rampart-sec/rampart/internal/event"
)

// API keys end to end: a key made by the store (as the CLI does) works on a
// route that accepts keys, never reaches the service, is refused once
// revoked (the running gateway re-reads the store), and cannot be mixed
// with a bearer token or used where the route does not accept keys.
func TestAPIKeysEndToEnd(t *testing.T) {
	store := filepath.Join(t.TempDir(), "keys", "keys.json")
	s, err := apikey.OpenStore(store, apikey.Options{})
	if err != nil {
		t.Fatal(err)
	}
	batch, _, err := s.Create("billing-batch", []string{"batch"}, []string{"orders:read"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := s.Create("reporting", nil, []string{"reports:read"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	idp := newTestIdP(t)
	up := newUpstream(t, "orders", nil)
	g := startGateway(t, fmt.Sprintf(`
gateway:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  tls: {disabled: true}
log: {access: stdout}
api_keys: {store: %q}
issuers:
  - {name: idp, issuer: "https://idp.test", jwks_uri: %q, audiences: [api], algorithms: [EdDSA]}
upstreams:
  orders: {targets: ["http://%s"]}
routes:
  - name: orders
    match: {path: /orders}
    upstream: orders
    auth: {api_keys: true, issuers: [idp], scopes: [orders:read]}
  - name: tokens-only
    match: {path: /tokens-only}
    upstream: orders
    auth: {issuers: [idp]}
  - name: public
    match: {path: /public}
    upstream: orders
    auth: none
`, store, idp.srv.URL, up.addr))
	waitIssuer(t, g.addrs.Admin, "idp")

	if status, _, body := raw(t, g.addrs.Gateway, get("/orders", "X-API-Key: "+batch)); status != 200 {
		t.Fatalf("honest key: %d %s", status, body)
	}
	seen := up.last(t)
	if seen.Header.Get("X-Api-Key") != "" || seen.Header.Get("X-Rampart-Subject") != "billing-batch" || seen.Header.Get("X-Rampart-Identity") == "" {
		t.Fatalf("upstream saw %v", seen.Header)
	}
	// The key header never reaches a service, even on a public route.
	raw(t, g.addrs.Gateway, get("/public", "X-API-Key: "+batch))
	if up.last(t).Header.Get("X-Api-Key") != "" {
		t.Fatal("an API key reached the service on a public route")
	}

	tok := idp.token(t, idp.key, "42", "orders:read")
	for _, c := range []struct {
		name    string
		path    string
		headers []string
		status  int
		reason  string
	}{
		{"key without the route's scope", "/orders", []string{"X-API-Key: " + other}, 403, "insufficient_scope"},
		{"wrong secret", "/orders", []string{"X-API-Key: " + batch[:len(batch)-4] + "AAAA"}, 401, "bad_key"},
		{"not a key", "/orders", []string{"X-API-Key: hunter2"}, 400, "malformed"},
		{"two key headers", "/orders", []string{"X-API-Key: " + batch, "X-API-Key: " + batch}, 400, "malformed"},
		{"key and token together", "/orders", []string{"X-API-Key: " + batch, "Authorization: Bearer " + tok}, 400, "several_credentials"},
		{"key on a token-only route", "/tokens-only", []string{"X-API-Key: " + batch}, 401, "credential_not_accepted"},
		{"token on the mixed route", "/orders", []string{"Authorization: Bearer " + tok}, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := raw(t, g.addrs.Gateway, get(c.path, c.headers...))
			if status != c.status {
				t.Fatalf("status %d, want %d (%s)", status, c.status, body)
			}
			if c.reason != "" {
				typ := event.AuthnFailed
				if status == 403 {
					typ = event.AuthzDenied
				}
				g.events.waitFor(t, typ, c.reason)
				if strings.Contains(body, c.reason) {
					t.Fatalf("reason leaked to the client: %s", body)
				}
			}
		})
	}

	// Revoked with the CLI's code path, in another Store: the running
	// gateway notices within about a second.
	s2, err := apikey.OpenStore(store, apikey.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Revoke("billing-batch"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, _ := raw(t, g.addrs.Gateway, get("/orders", "X-API-Key: "+batch))
		if status == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked key still accepted (status %d)", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.events.waitFor(t, event.AuthnFailed, "revoked")
}
