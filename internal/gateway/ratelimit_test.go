package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-sec/rampart/internal/event"
)

func rateLimitConfig(up, idp string, extra string) string {
	return fmt.Sprintf(`
gateway:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  tls: {disabled: true}
log: {access: stdout}
%s
issuers:
  - {name: idp, issuer: "https://idp.test", jwks_uri: %q, audiences: [api], algorithms: [EdDSA]}
upstreams:
  svc: {targets: ["http://%s"]}
routes:
  - name: by-ip
    match: {path: /ip}
    upstream: svc
    auth: none
    rate_limit: {rate: 3/m}
  - name: by-ip-too
    match: {path: /ip2}
    upstream: svc
    auth: none
    rate_limit: {rate: 3/m}
  - name: by-principal
    match: {path: /me}
    upstream: svc
    auth: {issuers: [idp]}
    rate_limit: {key: principal, rate: 2/m}
  - name: by-header
    match: {path: /tenant}
    upstream: svc
    auth: none
    rate_limit: {key: "header:X-Tenant", rate: 2/m}
  - name: by-team
    match: {path: /team}
    upstream: svc
    auth: {issuers: [idp]}
    rate_limit: {key: expr, expr: 'principal.roles.size() > 0 ? "team:" + principal.roles[0] : ""', rate: 2/m}
`, extra, idp, up)
}

// A CEL key counts whatever the expression says: here every member of a
// team shares one budget, another team has its own, and a caller for whom
// the key is empty is counted by address rather than in a shared bucket.
func TestRateLimitExpressionKey(t *testing.T) {
	idp := newTestIdP(t)
	up := newUpstream(t, "svc", nil)
	g := startGateway(t, rateLimitConfig(up.addr, idp.srv.URL, ""))
	waitIssuer(t, g.addrs.Admin, "idp")
	call := func(tok string) int {
		status, _, _ := raw(t, g.addrs.Gateway, get("/team", "Authorization: Bearer "+tok))
		return status
	}
	alice, bob := idp.token(t, idp.key, "alice", "", "ops"), idp.token(t, idp.key, "bob", "", "ops")
	carol, dave := idp.token(t, idp.key, "carol", "", "dev"), idp.token(t, idp.key, "dave", "")
	if call(alice) != 200 || call(bob) != 200 {
		t.Fatal("the team's first two calls were refused")
	}
	if s := call(alice); s != 429 {
		t.Fatalf("third call of team ops: %d, want 429 (alice and bob share the budget)", s)
	}
	if call(carol) != 200 || call(dave) != 200 {
		t.Fatal("another team, or a caller without a team, suffered from team ops' limit")
	}
}

// Rate limits at the gateway: 429 with Retry-After and the RateLimit
// headers once the burst is used, per route (two routes never share a
// counter), per principal (one user's flood does not stop another), per
// header value; and the limiter refuses before a flood of bad credentials
// reaches authentication.
func TestRateLimitEndToEnd(t *testing.T) {
	idp := newTestIdP(t)
	up := newUpstream(t, "svc", nil)
	g := startGateway(t, rateLimitConfig(up.addr, idp.srv.URL, ""))
	waitIssuer(t, g.addrs.Admin, "idp")

	for i := 1; i <= 3; i++ {
		if status, _, _ := raw(t, g.addrs.Gateway, get("/ip")); status != 200 {
			t.Fatalf("request %d within the burst: %d", i, status)
		}
	}
	status, hdr, body := raw(t, g.addrs.Gateway, get("/ip"))
	if status != 429 || hdr.Get("Retry-After") == "" || hdr.Get("RateLimit-Policy") != `"by-ip";q=3;w=60` ||
		!strings.HasPrefix(hdr.Get("RateLimit"), `"by-ip";r=0;t=`) || !strings.Contains(body, `"rate_limited"`) {
		t.Fatalf("over the limit: %d %v %s", status, hdr, body)
	}
	g.events.waitFor(t, event.RateLimited, "rate_limit")
	if status, _, _ := raw(t, g.addrs.Gateway, get("/ip2")); status != 200 {
		t.Fatalf("another route shares the counter: %d", status)
	}

	alice := idp.token(t, idp.key, "alice", "")
	bob := idp.token(t, idp.key, "bob", "")
	for i := 0; i < 2; i++ {
		raw(t, g.addrs.Gateway, get("/me", "Authorization: Bearer "+alice))
	}
	if status, _, _ := raw(t, g.addrs.Gateway, get("/me", "Authorization: Bearer "+alice)); status != 429 {
		t.Fatalf("alice over her limit: %d", status)
	}
	if status, _, _ := raw(t, g.addrs.Gateway, get("/me", "Authorization: Bearer "+bob)); status != 200 {
		t.Fatalf("bob limited by alice's requests: %d", status)
	}

	for i := 0; i < 2; i++ {
		raw(t, g.addrs.Gateway, get("/tenant", "X-Tenant: acme"))
	}
	if status, _, _ := raw(t, g.addrs.Gateway, get("/tenant", "X-Tenant: acme")); status != 429 {
		t.Fatalf("tenant acme over its limit: %d", status)
	}
	if status, _, _ := raw(t, g.addrs.Gateway, get("/tenant", "X-Tenant: globex")); status != 200 {
		t.Fatalf("tenant globex limited by acme: %d", status)
	}
}

// redisAddr returns the test Redis, skipping (or failing in CI) without one.
func redisAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("RAMPART_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s is required in CI: %v", addr, err)
		}
		t.Skipf("no Redis at %s (set RAMPART_TEST_REDIS_ADDR): %v", addr, err)
	}
	c.Close()
	return addr
}

// Two gateways sharing one Redis enforce one limit together; with Redis
// unreachable, on_redis_error decides (deny: 503; allow: through), with an event.
func TestRateLimitRedis(t *testing.T) {
	addr := redisAddr(t)
	// A database of its own so that the keys of other runs never meet ours.
	rc := redis.NewClient(&redis.Options{Addr: addr, DB: 9})
	defer rc.Close()
	rc.FlushDB(context.Background())
	t.Cleanup(func() { rc.FlushDB(context.Background()) })

	idp := newTestIdP(t)
	up := newUpstream(t, "svc", nil)
	shared := fmt.Sprintf("rate_limits: {store: redis, redis: {addr: %q, db: 9}}", addr)
	g1 := startGateway(t, rateLimitConfig(up.addr, idp.srv.URL, shared))
	g2 := startGateway(t, rateLimitConfig(up.addr, idp.srv.URL, shared))
	allowed := 0
	for i := 0; i < 4; i++ {
		for _, g := range []*testGateway{g1, g2} {
			if status, _, _ := raw(t, g.addrs.Gateway, get("/ip")); status == 200 {
				allowed++
			}
		}
	}
	if allowed != 3 {
		t.Fatalf("two gateways allowed %d requests of a shared burst of 3", allowed)
	}

	// A Redis that never answers: a listener that accepts and stays silent.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for choice, want := range map[string]int{"deny": 503, "allow": 200} {
		g := startGateway(t, rateLimitConfig(up.addr, idp.srv.URL,
			fmt.Sprintf("rate_limits: {store: redis, redis: {addr: %q, timeout: 30ms}, on_redis_error: %s}", ln.Addr(), choice)))
		if status, _, _ := raw(t, g.addrs.Gateway, get("/ip")); status != want {
			t.Fatalf("on_redis_error %s: %d, want %d", choice, status, want)
		}
		g.events.waitFor(t, event.RateLimitStore, "")
	}
}

// Load shedding: past gateway.limits.max_in_flight requests being served,
// the next one gets 503 at once; when they finish, requests pass again.
func TestMaxInFlightSheds(t *testing.T) {
	release := make(chan struct{})
	up := newUpstream(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
	})
	g := startGateway(t, fmt.Sprintf(`
gateway:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  tls: {disabled: true}
  limits: {max_in_flight: 2}
log: {access: stdout}
upstreams:
  slow: {targets: ["http://%s"]}
routes:
  - {name: all, match: {path: "/*"}, upstream: slow, auth: none}
`, up.addr))
	done := make(chan int, 2)
	for range 2 {
		go func() {
			status, _, _ := raw(t, g.addrs.Gateway, get("/slow"))
			done <- status
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); len(up.requests()) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the slow requests never reached the upstream")
		}
		time.Sleep(5 * time.Millisecond)
	}
	status, hdr, body := raw(t, g.addrs.Gateway, get("/fast"))
	if status != 503 || hdr.Get("Retry-After") != "1" || !strings.Contains(body, `"overloaded"`) {
		t.Fatalf("third request while two are in flight: %d %s", status, body)
	}
	g.events.waitFor(t, event.LimitExceeded, "in_flight")
	close(release)
	for range 2 {
		if s := <-done; s != 200 {
			t.Fatalf("slow request: %d", s)
		}
	}
	if status, _, _ := raw(t, g.addrs.Gateway, get("/fast")); status != 200 {
		t.Fatalf("after the load went: %d", status)
	}
}
