package introspect

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/sdk/principal"
)

func TestActiveTokenBecomesPrincipal(t *testing.T) {
	h := newHarness(t, nil)
	now := h.clk.now()
	h.idp.set("tok-alice", activeAt(now, "alice"))
	p, err := h.introspect(t, "tok-alice")
	if err != nil {
		t.Fatalf("honest token refused: %v", err)
	}
	want := principal.Principal{Subject: "alice", Kind: principal.User, Issuer: "idp", Method: principal.Introspection,
		Roles: []string{"admin", "ops"}, Scopes: []string{"read", "write"}}
	if p.Subject != want.Subject || p.Kind != want.Kind || p.Issuer != want.Issuer || p.Method != want.Method ||
		!slices.Equal(p.Roles, want.Roles) || !slices.Equal(p.Scopes, want.Scopes) {
		t.Fatalf("principal = %+v, want %+v", p, want)
	}
	if p.Claims["sub"] != "alice" || p.Claims["active"] != true {
		t.Fatalf("claims = %v", p.Claims)
	}
	if wantExp := time.Unix(now.Add(time.Hour).Unix(), 0).Add(Leeway); !p.Expires.Equal(wantExp) {
		t.Fatalf("expires = %v, want exp plus leeway %v", p.Expires, wantExp)
	}
}

func TestSubjectKindAndClaimPaths(t *testing.T) {
	cases := []struct {
		name     string
		cfg      func(*Config)
		changes  map[string]any
		sub      string
		kind     principal.Kind
		roles    []string
		scopes   []string
		noScopes bool
	}{
		{name: "user", sub: "alice", kind: principal.User, roles: []string{"admin", "ops"}, scopes: []string{"read", "write"}},
		{name: "client credentials: sub is the client", changes: map[string]any{"sub": "web-app"}, sub: "web-app", kind: principal.Client},
		{name: "no sub: username", changes: map[string]any{"sub": nil, "username": "bob"}, sub: "bob", kind: principal.User},
		{name: "no sub nor username: the client", changes: map[string]any{"sub": nil}, sub: "web-app", kind: principal.Client},
		{name: "scp list when no scope", changes: map[string]any{"scope": nil, "scp": []any{"a", "b"}}, sub: "alice", kind: principal.User, scopes: []string{"a", "b"}},
		{name: "no scopes at all", changes: map[string]any{"scope": nil}, sub: "alice", kind: principal.User, noScopes: true},
		{
			name:    "claim paths",
			cfg:     func(c *Config) { c.RolesClaim = "realm_access.roles"; c.ScopesClaim = "ext.perms" },
			changes: map[string]any{"realm_access": map[string]any{"roles": []any{"auditor"}}, "ext": map[string]any{"perms": "x y"}},
			sub:     "alice", kind: principal.User, roles: []string{"auditor"}, scopes: []string{"x", "y"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config, _ *Options) {
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			h.idp.set("tok", with(activeAt(h.clk.now(), "alice"), tc.changes))
			p, err := h.introspect(t, "tok")
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != tc.sub || p.Kind != tc.kind {
				t.Fatalf("subject %q kind %q, want %q %q", p.Subject, p.Kind, tc.sub, tc.kind)
			}
			if tc.roles != nil && !slices.Equal(p.Roles, tc.roles) {
				t.Fatalf("roles %v, want %v", p.Roles, tc.roles)
			}
			if tc.scopes != nil && !slices.Equal(p.Scopes, tc.scopes) {
				t.Fatalf("scopes %v, want %v", p.Scopes, tc.scopes)
			}
			if tc.noScopes && len(p.Scopes) != 0 {
				t.Fatalf("scopes %v, want none", p.Scopes)
			}
		})
	}
}

// Every check refuses the attack and lets the honest variant through.
func TestClaimChecks(t *testing.T) {
	cases := []struct {
		name    string
		changes func(now time.Time) map[string]any
		reason  string // "" accepts
	}{
		{"expired", func(now time.Time) map[string]any {
			return map[string]any{"exp": now.Add(-Leeway - time.Second).Unix()}
		}, authn.ReasonExpired},
		{"expired within leeway", func(now time.Time) map[string]any {
			return map[string]any{"exp": now.Add(-Leeway + time.Second).Unix()}
		}, ""},
		{"no exp", func(time.Time) map[string]any { return map[string]any{"exp": nil} }, ""},
		{"exp not a number", func(time.Time) map[string]any { return map[string]any{"exp": "tomorrow"} }, authn.ReasonMalformedToken},
		{"not yet valid", func(now time.Time) map[string]any { return map[string]any{"nbf": now.Add(Leeway + time.Minute).Unix()} }, authn.ReasonNotYetValid},
		{"nbf within leeway", func(now time.Time) map[string]any { return map[string]any{"nbf": now.Add(Leeway / 2).Unix()} }, ""},
		{"issued in the future", func(now time.Time) map[string]any { return map[string]any{"iat": now.Add(time.Hour).Unix()} }, authn.ReasonIssuedInFuture},
		{"iss mismatch", func(time.Time) map[string]any { return map[string]any{"iss": "https://evil.test"} }, authn.ReasonUnknownIssuer},
		{"iss differs by a slash", func(time.Time) map[string]any { return map[string]any{"iss": testIss + "/"} }, authn.ReasonUnknownIssuer},
		{"iss not a string", func(time.Time) map[string]any { return map[string]any{"iss": 1} }, authn.ReasonUnknownIssuer},
		{"no iss", func(time.Time) map[string]any { return map[string]any{"iss": nil} }, ""},
		{"aud mismatch", func(time.Time) map[string]any { return map[string]any{"aud": "billing"} }, authn.ReasonWrongAudience},
		{"aud list without ours", func(time.Time) map[string]any { return map[string]any{"aud": []any{"billing", 7}} }, authn.ReasonWrongAudience},
		{"aud string ours", func(time.Time) map[string]any { return map[string]any{"aud": testAud} }, ""},
		{"no aud", func(time.Time) map[string]any { return map[string]any{"aud": nil} }, ""},
		{"refresh token", func(time.Time) map[string]any { return map[string]any{"token_type": "refresh_token"} }, authn.ReasonWrongType},
		{"token_type not a string", func(time.Time) map[string]any { return map[string]any{"token_type": true} }, authn.ReasonWrongType},
		{"token_type access_token", func(time.Time) map[string]any { return map[string]any{"token_type": "Access_Token"} }, ""},
		{"token_type bearer", func(time.Time) map[string]any { return map[string]any{"token_type": "bearer"} }, ""},
		{"no token_type", func(time.Time) map[string]any { return map[string]any{"token_type": nil} }, ""},
		{"empty sub", func(time.Time) map[string]any { return map[string]any{"sub": ""} }, authn.ReasonNoSubject},
		{"sub not a string", func(time.Time) map[string]any { return map[string]any{"sub": 42} }, authn.ReasonNoSubject},
		{"no subject at all", func(time.Time) map[string]any {
			return map[string]any{"sub": nil, "client_id": nil}
		}, authn.ReasonNoSubject},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			now := h.clk.now()
			h.idp.set("tok", with(activeAt(now, "alice"), tc.changes(now)))
			p, err := h.introspect(t, "tok")
			if tc.reason == "" {
				if err != nil || p == nil {
					t.Fatalf("honest answer refused: %v", err)
				}
				return
			}
			if r := reasonOf(t, err); r != tc.reason {
				t.Fatalf("reason %q, want %q", r, tc.reason)
			}
			if evs, _ := h.rec.snapshot(); len(evs) != 0 {
				t.Fatalf("a refused token is not an endpoint failure, yet events %v", evs)
			}
			// The refusal is cached like "active": false.
			if _, err := h.introspect(t, "tok"); reasonOf(t, err) != tc.reason || h.idp.calls.Load() != 1 {
				t.Fatalf("second try: %v after %d calls", err, h.idp.calls.Load())
			}
		})
	}
}

func TestAudienceNotCheckedWhenNoneConfigured(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Options) { c.Audiences = nil })
	h.idp.set("tok", with(activeAt(h.clk.now(), "alice"), map[string]any{"aud": "anything"}))
	if _, err := h.introspect(t, "tok"); err != nil {
		t.Fatal(err)
	}
}

func TestInactiveIsRevokedAndNegativelyCached(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Options) { c.NegativeTTL = 10 * time.Second })
	h.idp.set("junk", `{"active":false}`)
	for i := range 5 {
		if r := reasonOf(t, must(h.introspect(t, "junk", fmt.Sprint("scope", i)))); r != authn.ReasonRevoked {
			t.Fatalf("reason %q, want %q", r, authn.ReasonRevoked)
		}
	}
	if n := h.idp.calls.Load(); n != 1 {
		t.Fatalf("5 tries of one inactive token, whatever the scopes, cost the IdP %d calls, want 1", n)
	}
	h.clk.advance(10*time.Second - 1)
	must(h.introspect(t, "junk"))
	if n := h.idp.calls.Load(); n != 1 {
		t.Fatalf("inside NegativeTTL: %d calls", n)
	}
	h.clk.advance(1)
	must(h.introspect(t, "junk"))
	if n := h.idp.calls.Load(); n != 2 {
		t.Fatalf("after NegativeTTL: %d calls, want 2", n)
	}
	if evs, _ := h.rec.snapshot(); len(evs) != 0 {
		t.Fatalf("inactive tokens raised events %v", evs)
	}
}

func must(_ *principal.Principal, err error) error { return err }

func TestCacheHit(t *testing.T) {
	h := newHarness(t, nil)
	h.idp.set("tok", activeAt(h.clk.now(), "alice"))
	p1, err := h.introspect(t, "tok", "read")
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		p2, err := h.introspect(t, "tok", "read")
		if err != nil || p2 != p1 {
			t.Fatalf("cached answer: %v, %p != %p", err, p2, p1)
		}
	}
	if n := h.idp.calls.Load(); n != 1 {
		t.Fatalf("11 requests with one token cost %d calls, want 1", n)
	}
}

func TestPositiveNotReusedPastExp(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Options) { c.CacheTTL = time.Hour })
	now := h.clk.now()
	h.idp.set("tok", with(activeAt(now, "alice"), map[string]any{"exp": now.Add(time.Minute).Unix()}))
	must(h.introspect(t, "tok"))
	h.clk.advance(time.Minute - time.Nanosecond)
	must(h.introspect(t, "tok"))
	if n := h.idp.calls.Load(); n != 1 {
		t.Fatalf("before exp: %d calls", n)
	}
	h.clk.advance(time.Nanosecond)
	// Past exp (inside the leeway, so still accepted), the IdP is asked again.
	if _, err := h.introspect(t, "tok"); err != nil {
		t.Fatal(err)
	}
	if n := h.idp.calls.Load(); n != 2 {
		t.Fatalf("at exp: %d calls, want 2", n)
	}
	// And not cached again: it is past exp.
	must(h.introspect(t, "tok"))
	if n := h.idp.calls.Load(); n != 3 {
		t.Fatalf("an answer past exp was cached: %d calls, want 3", n)
	}
}

func TestPositiveNotReusedPastCacheTTL(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Options) { c.CacheTTL = 2 * time.Minute })
	h.idp.set("tok", activeAt(h.clk.now(), "alice")) // exp in an hour
	must(h.introspect(t, "tok"))
	h.clk.advance(2*time.Minute - time.Nanosecond)
	must(h.introspect(t, "tok"))
	if n := h.idp.calls.Load(); n != 1 {
		t.Fatalf("inside CacheTTL: %d calls", n)
	}
	h.clk.advance(time.Nanosecond)
	must(h.introspect(t, "tok"))
	if n := h.idp.calls.Load(); n != 2 {
		t.Fatalf("after CacheTTL: %d calls, want 2", n)
	}
}

// CVE-2021-32701 (Ory Oathkeeper): the introspection cache was keyed by the
// token only, so a token introspected for a route that required no scope was
// then accepted on a route that required "admin" without the IdP being
// asked. Here the answer for one set of required scopes is never reused for
// another.
func TestCacheKeyIncludesRequiredScopes_CVE_2021_32701(t *testing.T) {
	t.Run("a cached answer for no scope is not reused for admin", func(t *testing.T) {
		h := newHarness(t, nil)
		h.idp.set("tok", with(activeAt(h.clk.now(), "mallory"), map[string]any{"scope": "profile"}))
		if _, err := h.introspect(t, "tok"); err != nil {
			t.Fatalf("public-ish route: %v", err)
		}
		// The IdP would now refuse (as Hydra did when asked with the admin
		// scope; here, the token was revoked meanwhile). With a token-only
		// key, the cached principal would come back instead.
		h.idp.set("tok", `{"active":false}`)
		if r := reasonOf(t, must(h.introspect(t, "tok", "admin"))); r != authn.ReasonRevoked {
			t.Fatalf("admin route got reason %q, want %q: a cached answer for other scopes was reused", r, authn.ReasonRevoked)
		}
		if n := h.idp.calls.Load(); n != 2 {
			t.Fatalf("%d calls, want 2: the admin route must ask the IdP", n)
		}
	})
	t.Run("the principal for admin only carries granted scopes", func(t *testing.T) {
		h := newHarness(t, nil)
		h.idp.set("tok", with(activeAt(h.clk.now(), "mallory"), map[string]any{"scope": "profile"}))
		must(h.introspect(t, "tok"))
		p, err := h.introspect(t, "tok", "admin")
		if err != nil {
			t.Fatal(err)
		}
		if p.HasScope("admin") {
			t.Fatal("principal has the admin scope it was never granted")
		}
		if n := h.idp.calls.Load(); n != 2 {
			t.Fatalf("%d calls, want 2", n)
		}
	})
	t.Run("one scope set is one key, in any order and with repeats", func(t *testing.T) {
		h := newHarness(t, nil)
		h.idp.set("tok", activeAt(h.clk.now(), "alice"))
		must(h.introspect(t, "tok", "b", "a"))
		must(h.introspect(t, "tok", "a", "b"))
		must(h.introspect(t, "tok", "a", "b", "a"))
		if n := h.idp.calls.Load(); n != 1 {
			t.Fatalf("%d calls, want 1", n)
		}
		for i, scopes := range [][]string{{"a"}, {"a", "b", "c"}, nil, {"a b"}, {"ab"}, {"a", ""}} {
			must(h.introspect(t, "tok", scopes...))
			if n := h.idp.calls.Load(); n != int64(i+2) {
				t.Fatalf("scopes %q reused another set's answer: %d calls", scopes, n)
			}
		}
	})
}

func TestConcurrentMissesCoalesced(t *testing.T) {
	h := newHarness(t, nil)
	h.idp.set("tok", activeAt(h.clk.now(), "alice"))
	release := h.idp.hold("tok")
	const n = 32
	var wg sync.WaitGroup
	results := make([]*principal.Principal, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = h.c.Introspect(context.Background(), "tok", []string{"read"}) })
	}
	waitFor(t, "every request to wait on one call", func() bool {
		h.c.flightMu.Lock()
		defer h.c.flightMu.Unlock()
		for _, f := range h.c.flights {
			return f.waiters == n-1
		}
		return false
	})
	release()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i] != results[0] {
			t.Fatalf("request %d: %v", i, errs[i])
		}
	}
	if c := h.idp.calls.Load(); c != 1 {
		t.Fatalf("%d concurrent misses made %d calls, want 1", n, c)
	}
}

// A request that gives up does not fail the call the others wait on, and
// the answer is still cached.
func TestWaitIsBoundedByContext(t *testing.T) {
	h := newHarness(t, nil)
	h.idp.set("tok", activeAt(h.clk.now(), "alice"))
	release := h.idp.hold("tok")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- must(h.c.Introspect(ctx, "tok", nil)) }()
	waitFor(t, "the call to reach the IdP", func() bool { return h.idp.calls.Load() == 1 })
	cancel()
	if r := reasonOf(t, <-done); r != authn.ReasonKeysUnavailable {
		t.Fatalf("cancelled wait: reason %q", r)
	}
	release()
	waitFor(t, "the answer to be cached", func() bool {
		return h.c.cache.shardOf("tok").get("tok", nil, h.clk.now().UnixNano()) != nil
	})
	if _, err := h.introspect(t, "tok"); err != nil || h.idp.calls.Load() != 1 {
		t.Fatalf("after the call finished: %v, %d calls", err, h.idp.calls.Load())
	}
	if evs, _ := h.rec.snapshot(); len(evs) != 0 {
		t.Fatalf("a client giving up raised events %v", evs)
	}
}

func TestRevokeDropsTheCachedAnswer(t *testing.T) {
	h := newHarness(t, nil)
	h.idp.set("tok", activeAt(h.clk.now(), "alice"))
	must(h.introspect(t, "tok"))
	must(h.introspect(t, "tok", "read"))
	h.idp.set("tok", `{"active":false}`)
	h.c.Revoke("tok")
	for _, scopes := range [][]string{nil, {"read"}} {
		if r := reasonOf(t, must(h.introspect(t, "tok", scopes...))); r != authn.ReasonRevoked {
			t.Fatalf("after Revoke, scopes %q: reason %q", scopes, r)
		}
	}
	if n := h.idp.calls.Load(); n != 3 {
		t.Fatalf("%d calls, want 3 (2 answers, then 1 after Revoke, its refusal cached)", n)
	}
	h.c.Revoke("unknown token") // nothing cached: no effect, no panic
}

// An answer the IdP gave before a Revoke is not cached after it.
func TestRevokeDuringCallIsNotCached(t *testing.T) {
	h := newHarness(t, nil)
	h.idp.set("tok", activeAt(h.clk.now(), "alice"))
	release := h.idp.hold("tok")
	first := make(chan error, 1)
	go func() { first <- must(h.c.Introspect(context.Background(), "tok", nil)) }()
	waitFor(t, "the call to reach the IdP", func() bool { return h.idp.calls.Load() == 1 })
	h.idp.set("tok", `{"active":false}`)
	h.c.Revoke("tok")
	release()
	if err := <-first; err != nil {
		t.Fatalf("the request made before Revoke: %v", err)
	}
	if r := reasonOf(t, must(h.introspect(t, "tok"))); r != authn.ReasonRevoked || h.idp.calls.Load() != 2 {
		t.Fatalf("the answer from before Revoke was cached: reason %q, %d calls", r, h.idp.calls.Load())
	}
}

// Requests after a Revoke do not join the call made before it, and its
// answer does not override the refusal they got.
func TestRevokeDuringCallIsNotJoined(t *testing.T) {
	h := newHarness(t, nil)
	h.idp.set("tok", activeAt(h.clk.now(), "alice"))
	release := h.idp.hold("tok")
	first := make(chan error, 1)
	go func() { first <- must(h.c.Introspect(context.Background(), "tok", nil)) }()
	waitFor(t, "the first call to reach the IdP", func() bool { return h.idp.calls.Load() == 1 })

	h.idp.set("tok", `{"active":false}`)
	h.c.Revoke("tok")
	second := make(chan error, 1)
	go func() { second <- must(h.c.Introspect(context.Background(), "tok", nil)) }()
	waitFor(t, "the request after Revoke to make its own call", func() bool { return h.idp.calls.Load() == 2 })
	release()
	if err := <-first; err != nil {
		t.Fatalf("the request made before Revoke: %v", err)
	}
	if r := reasonOf(t, <-second); r != authn.ReasonRevoked {
		t.Fatalf("the request after Revoke: reason %q", r)
	}
	if r := reasonOf(t, must(h.introspect(t, "tok"))); r != authn.ReasonRevoked {
		t.Fatalf("the answer from before Revoke was cached: reason %q", r)
	}
}

// Two calls for one token but different scopes race: the provider says
// active to the first and, the token revoked meanwhile, inactive to the
// second. The refusal is cached first; the older active answer must not be
// cached over it.
func TestRefusalWinsOverARacingAnswer(t *testing.T) {
	h := newHarness(t, nil)
	h.idp.set("tok", activeAt(h.clk.now(), "alice"))
	release := h.idp.hold("tok")
	first := make(chan error, 1)
	go func() { first <- must(h.c.Introspect(context.Background(), "tok", nil)) }()
	waitFor(t, "the first call to reach the IdP", func() bool { return h.idp.calls.Load() == 1 })
	h.idp.mu.Lock()
	delete(h.idp.holds, "tok") // the next call is answered at once
	h.idp.mu.Unlock()
	h.idp.set("tok", `{"active":false}`)
	if r := reasonOf(t, must(h.introspect(t, "tok", "read"))); r != authn.ReasonRevoked {
		t.Fatalf("second call: reason %q", r)
	}
	release()
	if err := <-first; err != nil {
		t.Fatalf("first call: %v", err)
	}
	if r := reasonOf(t, must(h.introspect(t, "tok"))); r != authn.ReasonRevoked || h.idp.calls.Load() != 2 {
		t.Fatalf("the older active answer was cached over the refusal: reason %q, %d calls", r, h.idp.calls.Load())
	}
}

func TestEndpointFailures(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a redirect was followed")
	}))
	t.Cleanup(other.Close)
	json200 := func(body string) func(w http.ResponseWriter, _ *http.Request, _ string) bool {
		return func(w http.ResponseWriter, _ *http.Request, _ string) bool {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, body)
			return true
		}
	}
	cases := []struct {
		name    string
		cfg     func(*Config)
		respond func(w http.ResponseWriter, r *http.Request, token string) bool
		detail  string
	}{
		{name: "500", respond: func(w http.ResponseWriter, _ *http.Request, _ string) bool {
			http.Error(w, "oops", http.StatusInternalServerError)
			return true
		}, detail: "status 500"},
		{name: "401 hints at the credentials", respond: func(w http.ResponseWriter, _ *http.Request, _ string) bool {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return true
		}, detail: "check client_id and client_secret"},
		{name: "html", respond: func(w http.ResponseWriter, _ *http.Request, _ string) bool {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>login</html>")
			return true
		}, detail: "not JSON"},
		{name: "no content type", respond: func(w http.ResponseWriter, _ *http.Request, _ string) bool {
			w.Header()["Content-Type"] = nil
			w.Write([]byte(`{"active":true,"sub":"a"}`))
			return true
		}, detail: "not JSON"},
		{name: "not json", respond: json200(`active=true`), detail: "decode"},
		{name: "active is the string true", respond: json200(`{"active":"true","sub":"alice"}`), detail: `"active" is missing or not a boolean`},
		{name: "active missing", respond: json200(`{"sub":"alice"}`), detail: `"active"`},
		{name: "too large", respond: json200(`{"active":true,"sub":"a","x":"` + strings.Repeat("x", MaxResponseSize) + `"}`), detail: "larger than"},
		{name: "redirect", respond: func(w http.ResponseWriter, r *http.Request, _ string) bool {
			http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
			return true
		}, detail: "redirects are not followed"},
		{name: "timeout", cfg: func(c *Config) { c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond} },
			respond: func(_ http.ResponseWriter, r *http.Request, _ string) bool {
				<-r.Context().Done()
				return true
			}, detail: "Timeout"},
		{name: "unreachable", cfg: func(c *Config) { c.Endpoint = closedEndpoint(t) }, detail: "call introspection endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config, _ *Options) {
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			if tc.respond != nil {
				h.idp.setOverride(tc.respond)
			}
			for range 3 {
				if r := reasonOf(t, must(h.introspect(t, "tok-secret-value"))); r != authn.ReasonKeysUnavailable {
					t.Fatalf("reason %q, want %q", r, authn.ReasonKeysUnavailable)
				}
			}
			evs, logs := h.rec.snapshot()
			if len(evs) != 1 {
				t.Fatalf("3 failures raised %d events, want 1: %v", len(evs), evs)
			}
			e := evs[0]
			if e.Type != event.KeySetFailure || e.Severity != event.High || e.Reason != "introspection_failed" || !strings.Contains(e.Detail, tc.detail) {
				t.Fatalf("event %+v, want detail with %q", e, tc.detail)
			}
			for _, s := range []string{testSecret, "tok-secret-value", (*h.c.authz)[len("Basic "):]} {
				if strings.Contains(e.Detail, s) || strings.Contains(logs, s) {
					t.Fatalf("%q leaked: event %q, logs %q", s, e.Detail, logs)
				}
			}
			if tc.cfg == nil && h.idp.calls.Load() != 3 {
				t.Fatalf("failures must not be cached: %d calls for 3 requests", h.idp.calls.Load())
			}
		})
	}
}

// closedEndpoint is a loopback URL where nothing listens.
func closedEndpoint(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/introspect"
	srv.Close()
	return u
}

func TestFailureEventsAreRateLimited(t *testing.T) {
	h := newHarness(t, nil)
	h.idp.setOverride(func(w http.ResponseWriter, _ *http.Request, _ string) bool {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return true
	})
	for i := range 50 {
		must(h.introspect(t, fmt.Sprint("tok", i)))
	}
	h.clk.advance(EventInterval - 1)
	must(h.introspect(t, "tok-a"))
	if evs, _ := h.rec.snapshot(); len(evs) != 1 {
		t.Fatalf("51 failures inside EventInterval: %d events, want 1", len(evs))
	}
	h.clk.advance(1)
	must(h.introspect(t, "tok-b"))
	evs, logs := h.rec.snapshot()
	if len(evs) != 2 || !strings.Contains(evs[1].Detail, "50 more failures") {
		t.Fatalf("events %v", evs)
	}
	if n := strings.Count(logs, "token introspection failed"); n != 2 {
		t.Fatalf("%d error logs, want 2", n)
	}
}

func TestClientSecretNeverLeaks(t *testing.T) {
	// The fake IdP checks Basic auth on every request (helpers_test.go); an
	// IdP that echoes the request in its error page must not get it into
	// errors, events or logs.
	h := newHarness(t, nil)
	h.idp.setOverride(func(w http.ResponseWriter, r *http.Request, token string) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_request","auth":%q,"token":%q}`, r.Header.Get("Authorization"), token)
		return true
	})
	_, err := h.introspect(t, "tok-1")
	evs, logs := h.rec.snapshot()
	leaks := []string{testSecret, "s3cr", (*h.c.authz)[len("Basic "):], "tok-1"}
	seen := []string{err.Error(), fmt.Sprintf("%+v %#v", err, err), logs, fmt.Sprintf("%+v %#v", h.c, h.c), fmt.Sprintf("%+v", h.c.cfg)}
	for _, e := range evs {
		seen = append(seen, fmt.Sprintf("%+v", e))
	}
	for _, s := range seen {
		for _, l := range leaks {
			if strings.Contains(s, l) {
				t.Fatalf("%q leaked in %q", l, s)
			}
		}
	}
	if len(evs) != 1 {
		t.Fatalf("events %v", evs)
	}

	cfg := Config{Name: "idp", Issuer: testIss, Endpoint: "https://idp.test/introspect", ClientID: "c", ClientSecret: testSecret}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "issuer", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%v", &cfg), logged.String()} {
		if strings.Contains(s, testSecret) || !strings.Contains(s, "REDACTED") {
			t.Fatalf("config printed as %q", s)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := Config{Name: "idp", Issuer: testIss, Endpoint: "https://idp.test/introspect", ClientID: "c", ClientSecret: testSecret}
	if _, err := New(good, Options{}); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	for _, ok := range []string{"http://127.0.0.1:8080/i", "http://[::1]/i", "http://localhost/i", "https://idp.test/i?realm=x"} {
		c := good
		c.Endpoint = ok
		if _, err := New(c, Options{}); err != nil {
			t.Fatalf("endpoint %q refused: %v", ok, err)
		}
	}
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no name", func(c *Config) { c.Name = "" }, "name"},
		{"no issuer", func(c *Config) { c.Issuer = "" }, "issuer"},
		{"no client id", func(c *Config) { c.ClientID = "" }, "client_id"},
		{"no client secret", func(c *Config) { c.ClientSecret = "" }, "client_secret"},
		{"no endpoint", func(c *Config) { c.Endpoint = "" }, "endpoint"},
		{"http to another host", func(c *Config) { c.Endpoint = "http://idp.test/introspect" }, "https"},
		{"http to a private address", func(c *Config) { c.Endpoint = "http://10.0.0.1/introspect" }, "https"},
		{"another scheme", func(c *Config) { c.Endpoint = "ftp://idp.test/introspect" }, "http(s)"},
		{"credentials in the URL", func(c *Config) { c.Endpoint = "https://user:hunter2@idp.test/introspect" }, "user info"},
		{"unparsable URL with the secret", func(c *Config) { c.Endpoint = "https://u:" + testSecret + "@idp.test:x/%zz" }, "endpoint"},
		{"negative ttl", func(c *Config) { c.CacheTTL = -time.Second }, "negative"},
		{"negative negative ttl", func(c *Config) { c.NegativeTTL = -time.Second }, "negative"},
		{"negative max token size", func(c *Config) { c.MaxTokenSize = -1 }, "max_token_size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			_, err := New(c, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the secret is in the error %q", err)
			}
		})
	}
}

func TestTokenSizeAndEmptyTokenNeverReachTheIdP(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Options) { c.MaxTokenSize = 100 })
	h.idp.set(strings.Repeat("a", 100), activeAt(h.clk.now(), "alice"))
	if _, err := h.introspect(t, strings.Repeat("a", 100)); err != nil {
		t.Fatalf("token at the limit: %v", err)
	}
	err := must(h.introspect(t, strings.Repeat("a", 101)))
	if r := reasonOf(t, err); r != authn.ReasonTooLarge || err.(*authn.Error).Code != "invalid_request" {
		t.Fatalf("too large: %+v", err)
	}
	if r := reasonOf(t, must(h.introspect(t, ""))); r != authn.ReasonMalformedToken {
		t.Fatalf("empty token: reason %q", r)
	}
	if n := h.idp.calls.Load(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

// The endpoint's answers come from the configured IdP, but a broken or
// compromised one must still never make the gateway panic or accept.
func TestOddResponsesNeverPanicNorAccept(t *testing.T) {
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	cases := []struct {
		body   string
		reason string
	}{
		{``, authn.ReasonKeysUnavailable},
		{`null`, authn.ReasonKeysUnavailable},
		{`true`, authn.ReasonKeysUnavailable},
		{`"active"`, authn.ReasonKeysUnavailable},
		{`[{"active":true,"sub":"a"}]`, authn.ReasonKeysUnavailable},
		{`{`, authn.ReasonKeysUnavailable},
		{`{"active":true,"sub":"a"`, authn.ReasonKeysUnavailable},
		{`{"active":true,"sub":"a"}{}`, authn.ReasonKeysUnavailable},
		{`{"active":true,"sub":"a"} x`, authn.ReasonKeysUnavailable},
		{`{"active":false,"active":true,"sub":"a"}`, authn.ReasonKeysUnavailable},
		{`{"active":true,"sub":"a","sub":"admin"}`, authn.ReasonKeysUnavailable},
		{`{"active":1,"sub":"a"}`, authn.ReasonKeysUnavailable},
		{`{"active":null,"sub":"a"}`, authn.ReasonKeysUnavailable},
		{`{"active":"yes","sub":"a"}`, authn.ReasonKeysUnavailable},
		{`{"active":[true],"sub":"a"}`, authn.ReasonKeysUnavailable},
		{`{"Active":true,"sub":"a"}`, authn.ReasonKeysUnavailable},
		{`{"active":true,"sub":"a","x":` + deep + `}`, authn.ReasonKeysUnavailable},
		{`{"active":true,"sub":"a","exp":1e400}`, authn.ReasonKeysUnavailable},
		{"\xef\xbb\xbf{\"active\":true,\"sub\":\"a\"}", authn.ReasonKeysUnavailable},
		{`{"active":true,"sub":"a","exp":-1}`, authn.ReasonMalformedToken},
		{`{"active":true,"sub":"a","exp":1e12}`, authn.ReasonMalformedToken},
		{`{"active":true,"sub":"a","nbf":"now"}`, authn.ReasonMalformedToken},
		{`{"active":true,"sub":"a","iat":{}}`, authn.ReasonMalformedToken},
		{`{"active":true}`, authn.ReasonNoSubject},
		{`{"active":true,"sub":null,"username":"root"}`, authn.ReasonNoSubject},
		{`{"active":true,"sub":["a"]}`, authn.ReasonNoSubject},
		{`{"active":true,"username":{"a":1}}`, authn.ReasonNoSubject},
		{`{"active":true,"sub":"a","token_type":null}`, authn.ReasonWrongType},
		{`{"active":true,"sub":"a","iss":null}`, authn.ReasonUnknownIssuer},
		{`{"active":true,"sub":"a","aud":null}`, authn.ReasonWrongAudience},
		{`{"active":true,"sub":"a","aud":{"api":true}}`, authn.ReasonWrongAudience},
		// Odd but harmless: accepted, odd members ignored.
		{`{"active":true,"sub":"a","scope":123,"roles":{"x":1},"scp":null}`, ""},
		{`{"active":true,"sub":"a","roles":[1,null,"ok",""],"scope":"  a   b  "}`, ""},
		{`{"active":true,"sub":"a","client_id":7}`, ""},
		{`{"active":true,"sub":"\ud800x","extra":"\u0000"}`, ""},
		{"{\"active\":true,\"sub\":\"a\xff\"}", ""},
		{`  {"active":true,"sub":"a","exp":` + fmt.Sprint(time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC).Unix()) + `.5}  `, ""},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			h := newHarness(t, func(c *Config, _ *Options) { c.RolesClaim = "roles.x" })
			h.idp.set("tok", tc.body)
			p, err := h.introspect(t, "tok")
			if tc.reason == "" {
				if err != nil || p == nil || p.Subject == "" {
					t.Fatalf("%q: %v", tc.body, err)
				}
				return
			}
			if p != nil {
				t.Fatalf("%q accepted: %+v", tc.body, p)
			}
			if r := reasonOf(t, err); r != tc.reason {
				t.Fatalf("%.80q: reason %q, want %q", tc.body, r, tc.reason)
			}
		})
	}
}

func TestHTTPSEndpointWithGivenClient(t *testing.T) {
	var calls int
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		fmt.Fprint(w, `{"active":true,"sub":"svc","client_id":"svc"}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	t.Cleanup(srv.Close)
	c, err := New(Config{Name: "idp", Issuer: testIss, Endpoint: srv.URL, ClientID: "c", ClientSecret: "s", HTTPClient: srv.Client()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Introspect(context.Background(), "tok", nil)
	if err != nil || p.Kind != principal.Client || p.Expires != (time.Time{}) {
		t.Fatalf("%+v %v", p, err)
	}
	if c.http.Timeout != DefaultTimeout || c.http.CheckRedirect == nil {
		t.Fatalf("a given client without a timeout or redirect policy was used as is")
	}
	// The default client trusts only the system roots: this test server's
	// certificate is refused.
	d, err := New(Config{Name: "idp", Issuer: testIss, Endpoint: srv.URL, ClientID: "c", ClientSecret: "s"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := reasonOf(t, must(d.Introspect(context.Background(), "tok", nil))); r != authn.ReasonKeysUnavailable || calls != 1 {
		t.Fatalf("untrusted certificate: reason %q, %d calls", r, calls)
	}
}

// Junk tokens are refused and cached apart: a flood of them cannot push the
// active answers out of the cache.
func TestJunkFloodDoesNotEvictActiveAnswers(t *testing.T) {
	h := newHarness(t, func(_ *Config, o *Options) { o.CacheEntries = cacheShards })
	h.idp.set("good", activeAt(h.clk.now(), "alice"))
	must(h.introspect(t, "good"))
	for i := range 2000 {
		must(h.introspect(t, fmt.Sprint("junk", i)))
	}
	before := h.idp.calls.Load()
	if _, err := h.introspect(t, "good"); err != nil || h.idp.calls.Load() != before {
		t.Fatalf("the active answer was evicted by junk: %v", err)
	}
	refusals := 0
	for i := range h.c.cache.shards {
		refusals += len(h.c.cache.shards[i].refusals)
	}
	if refusals > cacheShards {
		t.Fatalf("%d refusals cached, bound %d", refusals, cacheShards)
	}
}

func TestCacheIsBounded(t *testing.T) {
	h := newHarness(t, func(_ *Config, o *Options) { o.CacheEntries = 2 * cacheShards })
	body := activeAt(h.clk.now(), "alice")
	h.idp.setOverride(func(w http.ResponseWriter, _ *http.Request, _ string) bool {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"active":true,"sub":"alice","exp":`, body["exp"], `}`)
		return true
	})
	for i := range 1000 {
		if _, err := h.introspect(t, fmt.Sprint("tok", i), "s"); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for i := range h.c.cache.shards {
		s := &h.c.cache.shards[i]
		held := 0
		for _, l := range s.answers {
			held += len(l)
		}
		if held != s.n {
			t.Fatalf("shard %d counts %d answers, holds %d", i, s.n, held)
		}
		n += s.n
	}
	if n == 0 || n > 2*cacheShards {
		t.Fatalf("%d answers cached, bound %d", n, 2*cacheShards)
	}
}

func TestScopeSetsPerTokenAreBounded(t *testing.T) {
	h := newHarness(t, nil)
	h.idp.set("tok", activeAt(h.clk.now(), "alice"))
	for i := range 3 * maxScopeSets {
		must(h.introspect(t, "tok", fmt.Sprint("s", i)))
	}
	s := h.c.cache.shardOf("tok")
	if got := len(s.answers["tok"]); got != maxScopeSets || s.n != maxScopeSets {
		t.Fatalf("%d scope sets held (%d counted), want %d", got, s.n, maxScopeSets)
	}
	// The newest are kept.
	before := h.idp.calls.Load()
	must(h.introspect(t, "tok", fmt.Sprint("s", 3*maxScopeSets-1)))
	if h.idp.calls.Load() != before {
		t.Fatal("the newest scope set was evicted")
	}
}

func TestCacheOff(t *testing.T) {
	h := newHarness(t, func(_ *Config, o *Options) { o.CacheEntries = -1 })
	h.idp.set("tok", activeAt(h.clk.now(), "alice"))
	for range 3 {
		if _, err := h.introspect(t, "tok"); err != nil {
			t.Fatal(err)
		}
	}
	h.c.Revoke("tok")
	if n := h.idp.calls.Load(); n != 3 {
		t.Fatalf("without a cache, %d calls for 3 requests", n)
	}
}
