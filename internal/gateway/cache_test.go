package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rampart-sec/rampart/internal/event"
)

// Route caching end to end: a private route answers each principal from
// its own entry (never another's), a public route shares an answer the
// upstream allows to share, and a response varying on a header the route
// does not key on is never stored.
func TestResponseCacheEndToEnd(t *testing.T) {
	idp := newTestIdP(t)
	var calls atomic.Int64
	up := newUpstream(t, "accounts", func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/poison":
			w.Header().Set("Vary", "X-Forwarded-Host")
		case "/catalog":
			w.Header().Set("Cache-Control", "public, max-age=60")
		}
		fmt.Fprintf(w, "answer %d for %s", n, r.Header.Get("X-Rampart-Subject"))
	})
	cfg := authConfig(idp.srv.URL, up.addr) + `
  - name: profile
    match: {path: /profile, methods: [GET]}
    upstream: accounts
    auth: {issuers: [idp]}
    cache: {ttl: 60s}
  - name: catalog
    match: {path: /catalog, methods: [GET]}
    upstream: accounts
    auth: none
    cache: {ttl: 60s, scope: public}
  - name: poison
    match: {path: /poison, methods: [GET]}
    upstream: accounts
    auth: none
    cache: {ttl: 60s, scope: public}
`
	// The catch-all public route of authConfig must stay last.
	cfg = strings.Replace(cfg, "  - name: public\n    match: {path: \"/*\"}\n    upstream: accounts\n    auth: none\n", "", 1) +
		"  - name: public\n    match: {path: \"/*\"}\n    upstream: accounts\n    auth: none\n"
	g := startGateway(t, cfg)
	waitIssuer(t, g.addrs.Admin, "idp")

	alice, bob := idp.token(t, idp.key, "alice", ""), idp.token(t, idp.key, "bob", "")
	call := func(path, tok string) (string, string) {
		h := []string{}
		if tok != "" {
			h = append(h, "Authorization: Bearer "+tok)
		}
		status, hdr, body := raw(t, g.addrs.Gateway, get(path, h...))
		if status != 200 {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		return body, hdr.Get("Cache-Status")
	}
	a1, s1 := call("/profile", alice)
	a2, s2 := call("/profile", alice)
	if a1 != a2 || !strings.Contains(s2, "hit") || strings.Contains(s1, "hit") {
		t.Fatalf("alice twice: %q (%s) then %q (%s): want a miss then a hit", a1, s1, a2, s2)
	}
	b1, _ := call("/profile", bob)
	if b1 == a1 || !strings.Contains(b1, "bob") {
		t.Fatalf("bob was served alice's private answer: %q", b1)
	}

	c1, _ := call("/catalog", "")
	c2, cs := call("/catalog", alice)
	if c1 != c2 || !strings.Contains(cs, "hit") {
		t.Fatalf("public answer not shared: %q then %q (%s)", c1, c2, cs)
	}

	p1, _ := call("/poison", "")
	p2, ps := call("/poison", "")
	if p1 == p2 || strings.Contains(ps, "hit") {
		t.Fatalf("a response varying on an unkeyed header was served from the cache: %q (%s)", p2, ps)
	}
	g.events.waitFor(t, event.CacheRefused, "unkeyed_vary")
}
