package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/event"
)

// Opaque tokens end to end: introspected with the issuer (client
// authentication, RFC 7662), cached, and the cache keyed by the route's
// scopes: a token first seen on a route without scopes is not then accepted
// on a route that needs one it lacks (Oathkeeper's CVE-2021-32701).
func TestIntrospectionEndToEnd(t *testing.T) {
	t.Setenv("OPAQUE_SECRET", "introspection-secret")
	var calls atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if id, secret, ok := r.BasicAuth(); !ok || id != "rampart" || secret != "introspection-secret" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		exp := time.Now().Add(time.Hour).Unix()
		switch r.PostForm.Get("token") {
		case "opaque-reader":
			json.NewEncoder(w).Encode(map[string]any{"active": true, "sub": "u-9", "scope": "orders:read", "exp": exp, "iss": "https://sso.test", "client_id": "web"})
		case "opaque-admin":
			json.NewEncoder(w).Encode(map[string]any{"active": true, "sub": "u-1", "scope": "orders:read orders:admin", "exp": exp, "iss": "https://sso.test"})
		default:
			json.NewEncoder(w).Encode(map[string]any{"active": false})
		}
	}))
	t.Cleanup(idp.Close)
	up := newUpstream(t, "orders", nil)
	g := startGateway(t, fmt.Sprintf(`
gateway:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  tls: {disabled: true}
log: {access: stdout}
issuers:
  - name: sso
    issuer: https://sso.test
    audiences: [api]
    introspection: {endpoint: %q, client_id: rampart, client_secret: "${OPAQUE_SECRET}"}
upstreams:
  orders: {targets: ["http://%s"]}
routes:
  - name: read
    match: {path: /orders}
    upstream: orders
    auth: {issuers: [sso]}
  - name: admin
    match: {path: /orders/admin}
    upstream: orders
    auth: {issuers: [sso], scopes: [orders:admin]}
`, idp.URL, up.addr))

	bearer := func(tok string) string { return "Authorization: Bearer " + tok }
	if status, _, body := raw(t, g.addrs.Gateway, get("/orders", bearer("opaque-reader"))); status != 200 {
		t.Fatalf("active opaque token: %d %s", status, body)
	}
	if s := up.last(t); s.Header.Get("X-Rampart-Subject") != "u-9" || s.Header.Get("Authorization") != "" {
		t.Fatalf("upstream saw %v", s.Header)
	}
	before := calls.Load()
	raw(t, g.addrs.Gateway, get("/orders", bearer("opaque-reader")))
	if calls.Load() != before {
		t.Fatal("the second request with the same token was introspected again")
	}
	// The CVE-2021-32701 shape: same token, a route with a scope it lacks.
	if status, _, _ := raw(t, g.addrs.Gateway, get("/orders/admin", bearer("opaque-reader"))); status != 403 {
		t.Fatalf("reader token on the admin route: %d", status)
	}
	if status, _, _ := raw(t, g.addrs.Gateway, get("/orders/admin", bearer("opaque-admin"))); status != 200 {
		t.Fatalf("admin token on the admin route: %d", status)
	}
	if status, _, _ := raw(t, g.addrs.Gateway, get("/orders", bearer("made-up"))); status != 401 {
		t.Fatalf("inactive token: %d", status)
	}
	g.events.waitFor(t, event.AuthnFailed, "revoked")
}
