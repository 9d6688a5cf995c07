package respcache

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// newRecorderWithHeader is a recorder with a header already set, as the
// gateway sets X-Request-Id before the chain runs.
func newRecorderWithHeader(k, v string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	w.Header().Set(k, v)
	return w
}

// A miss is forwarded and stored, the next request is a hit with an Age, and
// after the TTL the answer is fetched again.
func TestHitMissTTL(t *testing.T) {
	f := newFixture(t, Policy{TTL: 30 * time.Second, Scope: Public}, Options{},
		answer(200, "hello", "Content-Type", "text/plain", "Cache-Control", "public"))
	w := f.get("/a", nil)
	if w.Code != 200 || w.Body.String() != "hello" || cacheStatus(w) != statusMiss {
		t.Fatalf("first: %d %q %q", w.Code, w.Body, cacheStatus(w))
	}
	f.clock.advance(10 * time.Second)
	w = f.get("/a", nil)
	if !isHit(w) || w.Body.String() != "hello" || w.Header().Get("Content-Type") != "text/plain" {
		t.Fatalf("second: %q %q %v", cacheStatus(w), w.Body, w.Header())
	}
	if got := w.Header().Get("Age"); got != "10" {
		t.Errorf("Age %q, want 10", got)
	}
	if got := cacheStatus(w); got != "rampart; hit; ttl=20" {
		t.Errorf("Cache-Status %q, want rampart; hit; ttl=20", got)
	}
	f.clock.advance(20 * time.Second)
	if w = f.get("/a", nil); isHit(w) {
		t.Error("served at the TTL")
	}
	if n := f.up.calls.Load(); n != 2 {
		t.Errorf("%d upstream calls, want 2", n)
	}
	if s := f.h.Stats(); s.Hits != 1 || s.Misses != 2 || s.Stored != 2 {
		t.Errorf("stats %+v", s)
	}
}

// The upstream's freshness shortens the route's TTL and never lengthens it.
func TestUpstreamFreshness(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scope  Scope
		header []string
		fresh  time.Duration // the entry is served before this and not at it
	}{
		{"max-age shortens", Public, []string{"Cache-Control", "public, max-age=5"}, 5 * time.Second},
		{"max-age cannot lengthen", Public, []string{"Cache-Control", "public, max-age=3600"}, 30 * time.Second},
		{"s-maxage wins for public", Public, []string{"Cache-Control", "public, max-age=3, s-maxage=7"}, 7 * time.Second},
		{"max-age wins for private", Private, []string{"Cache-Control", "max-age=3, s-maxage=7"}, 3 * time.Second},
		{"age counts", Public, []string{"Cache-Control", "public, max-age=10", "Age", "4"}, 6 * time.Second},
		{"expires", Public, []string{"Cache-Control", "public", "Date", "Mon, 30 Nov 2026 12:00:00 GMT",
			"Expires", "Mon, 30 Nov 2026 12:00:08 GMT"}, 8 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Policy{TTL: 30 * time.Second, Scope: tc.scope}, Options{}, answer(200, "x", tc.header...))
			f.get("/", alice)
			f.clock.advance(tc.fresh - time.Second)
			if w := f.get("/", alice); !isHit(w) {
				t.Fatalf("not served %v before it went stale: %q", time.Second, cacheStatus(w))
			}
			f.clock.advance(time.Second)
			if w := f.get("/", alice); isHit(w) {
				t.Fatalf("served after %v", tc.fresh)
			}
		})
	}
}

// Responses that say they are already stale are not stored.
func TestUpstreamStale(t *testing.T) {
	for _, cc := range [][]string{
		{"Cache-Control", "public, max-age=0"},
		{"Cache-Control", "public, max-age=abc"},
		{"Cache-Control", "public", "Expires", "0"},
		{"Cache-Control", "public, max-age=5", "Age", "5"},
	} {
		f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{}, answer(200, "x", cc...))
		f.get("/", nil)
		if w := f.get("/", nil); isHit(w) {
			t.Errorf("%q: stored", cc)
		}
	}
}

// Private answers are never served to another principal, nor to an anonymous
// caller, nor to an API key with the same name as the user.
func TestPrivateNeverCrossesPrincipals(t *testing.T) {
	f := newFixture(t, Policy{TTL: time.Minute}, Options{}, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("account of " + PrincipalKey(principal.FromContext(r.Context()))))
	})
	callers := []struct {
		name string
		p    *principal.Principal
	}{{"alice", alice}, {"bob", bob}, {"alice's API key", aliceAPIKey}}
	// Each principal twice, interleaved: the second is a hit of its own answer.
	for i := range 2 {
		for _, c := range callers {
			w := f.get("/me", c.p)
			if want := "account of " + PrincipalKey(c.p); w.Body.String() != want {
				t.Errorf("%s got %q, want %q", c.name, w.Body, want)
			}
			if isHit(w) != (i == 1) {
				t.Errorf("%s request %d: Cache-Status %q", c.name, i, cacheStatus(w))
			}
		}
	}
	if n := f.up.calls.Load(); n != 3 {
		t.Errorf("%d upstream calls, want 3 (one per principal)", n)
	}
	// Anonymous callers of a private route are not cached at all.
	for range 2 {
		if w := f.get("/me", nil); cacheStatus(w) != statusBypass || w.Body.String() != "account of " {
			t.Errorf("anonymous: %q %q", cacheStatus(w), w.Body)
		}
	}
}

// Public scope stores only what the upstream marks as shareable.
func TestPublicRefusesPerUserResponses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header []string
		auth   bool
	}{
		{"set-cookie", 200, []string{"Cache-Control", "public", "Set-Cookie", "sid=alice"}, false},
		{"cache-control private", 200, []string{"Cache-Control", "private, max-age=60"}, false},
		{"private with fields", 200, []string{"Cache-Control", `public, private="X-Account"`}, false},
		{"no-store", 200, []string{"Cache-Control", "public, no-store"}, false},
		{"no-cache", 200, []string{"Cache-Control", "public, no-cache"}, false},
		{"no-cache on a second line", 200, []string{"Cache-Control", "public", "Cache-Control", "no-cache"}, false},
		{"pragma no-cache", 200, []string{"Pragma", "no-cache"}, false},
		{"vary authorization", 200, []string{"Cache-Control", "public", "Vary", "Authorization"}, false},
		{"vary cookie", 200, []string{"Cache-Control", "public", "Vary", "Accept, cookie"}, false},
		{"vary star", 200, []string{"Cache-Control", "public", "Vary", "*"}, false},
		{"status 500", 500, []string{"Cache-Control", "public"}, false},
		{"status 206", 206, []string{"Cache-Control", "public"}, false},
		{"status 302", 302, []string{"Cache-Control", "public", "Location", "/x"}, false},
		{"authenticated without public", 200, []string{"Cache-Control", "max-age=60"}, true},
		{"authorization header without public", 200, []string{"Cache-Control", "max-age=60"}, false},
		{"quoted comma is not a directive", 200, []string{"Cache-Control", `max-age=60, community="x, public"`}, true},
		{"event stream", 200, []string{"Cache-Control", "public", "Content-Type", "text/event-stream"}, false},
		{"trailer", 200, []string{"Cache-Control", "public", "Trailer", "X-Sum"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{},
				answer(tc.status, "alice's data", tc.header...))
			var w *httptest.ResponseRecorder
			switch {
			case tc.auth:
				w = f.get("/a", alice)
			case strings.HasPrefix(tc.name, "authorization header"):
				w = f.get("/a", nil, "Authorization", "Bearer x")
			default:
				w = f.get("/a", nil)
			}
			if cacheStatus(w) != statusUncacheable {
				t.Errorf("first: Cache-Status %q, want %q", cacheStatus(w), statusUncacheable)
			}
			f.get("/a", bob)
			if n := f.up.calls.Load(); n != 2 {
				t.Errorf("%d upstream calls, want 2: the response was stored", n)
			}
			if s := f.h.Stats(); s.Stored != 0 || s.Uncacheable != 2 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// What public scope does store: an authenticated request with an explicit
// public or s-maxage, and an anonymous one without.
func TestPublicStoresShareable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []string
		p      bool
	}{
		{"public", []string{"Cache-Control", "public"}, true},
		{"s-maxage", []string{"Cache-Control", "s-maxage=60"}, true},
		{"anonymous, no directives", nil, false},
		{"vary on a keyed header", []string{"Cache-Control", "public", "Vary", "accept-language"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Policy{TTL: time.Minute, Scope: Public, Vary: []string{"Accept-Language"}}, Options{},
				answer(200, "shared", tc.header...))
			first, second := alice, bob
			if !tc.p {
				first, second = nil, nil
			}
			f.get("/a", first)
			if w := f.get("/a", second); !isHit(w) || w.Body.String() != "shared" {
				t.Errorf("second caller: %q %q", cacheStatus(w), w.Body)
			}
		})
	}
}

// Private scope refuses Set-Cookie, no-store and no-cache, and stores
// Cache-Control private and Vary: Authorization (it keys by principal).
func TestPrivateScopeRules(t *testing.T) {
	for _, tc := range []struct {
		header []string
		stored bool
	}{
		{[]string{"Set-Cookie", "sid=1"}, false},
		{[]string{"Cache-Control", "no-store"}, false},
		{[]string{"Cache-Control", "no-cache"}, false},
		{[]string{"Cache-Control", "private, max-age=60"}, true},
		{[]string{"Vary", "Authorization"}, true},
		{[]string{"Vary", "Cookie"}, false},
		{nil, true},
	} {
		f := newFixture(t, Policy{TTL: time.Minute}, Options{}, answer(200, "mine", tc.header...))
		f.get("/a", alice)
		if w := f.get("/a", alice); isHit(w) != tc.stored {
			t.Errorf("%q: hit=%v, want %v", tc.header, isHit(w), tc.stored)
		}
	}
}

// Cache poisoning through a header the key does not hold: the upstream
// reflects it and says so in Vary, and the response is not stored, counted,
// and reported; the victim gets a clean answer.
func TestUnkeyedVaryPoisoningRefused(t *testing.T) {
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public, Vary: []string{"Accept-Language"}}, Options{},
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Vary", "Accept-Language, X-Theme")
			_, _ = w.Write([]byte(`<link href="` + r.Header.Get("X-Theme") + `">`))
		})
	attack := f.get("/", nil, "X-Theme", "https://evil.example/x.css")
	if !strings.Contains(attack.Body.String(), "evil") || cacheStatus(attack) != statusUncacheable {
		t.Fatalf("attack response: %q %q", attack.Body, cacheStatus(attack))
	}
	victim := f.get("/", nil)
	if strings.Contains(victim.Body.String(), "evil") || isHit(victim) {
		t.Fatalf("victim served the poisoned answer: %q %q", victim.Body, cacheStatus(victim))
	}
	if s := f.h.Stats(); s.UnkeyedVary != 2 || s.Stored != 0 {
		t.Errorf("stats %+v, want 2 unkeyed-vary refusals and nothing stored", s)
	}
	select {
	case e := <-f.events:
		if e.Reason != ReasonUnkeyedVary || e.Detail != "X-Theme" || e.Route != "r" {
			t.Errorf("event %+v", e)
		}
	default:
		t.Error("no event for the refused response")
	}
}

// Request-rewrite headers never reach the upstream of a cached route, so an
// upstream that reflects one without Vary cannot be poisoned through it.
func TestOverrideHeadersStripped(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{}, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		for _, k := range overrideHeaders {
			if v := r.Header.Get(k); v != "" {
				seen = append(seen, k)
			}
		}
		mu.Unlock()
		_, _ = w.Write([]byte("page for " + r.Header.Get("X-Forwarded-Host") + r.Header.Get("X-Original-URL")))
	})
	f.get("/", nil, "X-Forwarded-Host", "evil.example", "X-Original-URL", "/admin", "X-HTTP-Method-Override", "DELETE")
	victim := f.get("/", nil)
	if victim.Body.String() != "page for " {
		t.Errorf("victim got %q", victim.Body)
	}
	if len(seen) != 0 {
		t.Errorf("upstream saw %q", seen)
	}

	// A route that keys on one passes it on, and keys by it.
	f = newFixture(t, Policy{TTL: time.Minute, Scope: Public, Vary: []string{"X-Forwarded-Host"}}, Options{},
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Vary", "X-Forwarded-Host")
			_, _ = w.Write([]byte("page for " + r.Header.Get("X-Forwarded-Host")))
		})
	if w := f.get("/", nil, "X-Forwarded-Host", "a.example"); w.Body.String() != "page for a.example" {
		t.Errorf("keyed header not passed: %q", w.Body)
	}
	if w := f.get("/", nil, "X-Forwarded-Host", "b.example"); isHit(w) || w.Body.String() != "page for b.example" {
		t.Errorf("other value: %q %q", cacheStatus(w), w.Body)
	}
	if w := f.get("/", nil, "X-Forwarded-Host", "a.example"); !isHit(w) || w.Body.String() != "page for a.example" {
		t.Errorf("same value again: %q %q", cacheStatus(w), w.Body)
	}
}

// Requests the cache does not handle pass through, marked as such.
func TestBypass(t *testing.T) {
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{}, answer(200, "x", "Cache-Control", "public"))
	post := request(http.MethodPost, "/", nil)
	withBody := request(http.MethodGet, "/", nil)
	withBody.ContentLength = 3
	for name, tc := range map[string]struct {
		r    *http.Request
		want string
	}{
		"post":      {post, statusMethod},
		"body":      {withBody, statusBypass},
		"range":     {request(http.MethodGet, "/", nil, "Range", "bytes=0-1"), statusBypass},
		"upgrade":   {request(http.MethodGet, "/", nil, "Connection", "Upgrade", "Upgrade", "websocket"), statusBypass},
		"semicolon": {request(http.MethodGet, "/?a=1;b=2", nil), statusBypass},
		"bad path":  {request(http.MethodGet, "/a/%2f/b", nil), statusBypass},
	} {
		for range 2 {
			if w := f.do(tc.r); cacheStatus(w) != tc.want {
				t.Errorf("%s: Cache-Status %q, want %q", name, cacheStatus(w), tc.want)
			}
		}
	}
	if s := f.h.Stats(); s.Bypassed != 12 || s.Hits != 0 || s.Stored != 0 {
		t.Errorf("stats %+v", s)
	}
}

// Client directives: honoured on private scope, ignored on public.
func TestClientDirectives(t *testing.T) {
	for _, tc := range []struct {
		scope     Scope
		header    []string
		want      string // Cache-Status of the request with the directive
		thenStore bool   // an answer is stored after it
	}{
		{Private, []string{"Cache-Control", "no-cache"}, statusRequest, true},
		{Private, []string{"Cache-Control", "max-age=0"}, statusRequest, true},
		{Private, []string{"Pragma", "no-cache"}, statusRequest, true},
		{Private, []string{"Cache-Control", "no-store"}, statusRequest, false},
		{Public, []string{"Cache-Control", "no-cache"}, "rampart; hit; ttl=60", true},
		{Public, []string{"Cache-Control", "no-store"}, "rampart; hit; ttl=60", true},
	} {
		f := newFixture(t, Policy{TTL: time.Minute, Scope: tc.scope}, Options{}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "public")
			_, _ = w.Write([]byte(r.URL.RawQuery))
		})
		if tc.scope == Public {
			f.get("/", alice) // stored first: a directive must not get around it
		}
		if w := f.get("/", alice, tc.header...); cacheStatus(w) != tc.want {
			t.Errorf("%v %q: Cache-Status %q, want %q", tc.scope, tc.header, cacheStatus(w), tc.want)
		}
		if w := f.get("/", alice); isHit(w) != tc.thenStore {
			t.Errorf("%v %q: then hit=%v, want %v", tc.scope, tc.header, isHit(w), tc.thenStore)
		}
	}
}

// Stored responses keep status, headers and body, less hop-by-hop headers,
// headers the gateway set for the one request, and exchange-specific ones.
func TestStoredHeaders(t *testing.T) {
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{}, answer(203, "body",
		"Cache-Control", "public", "Etag", `"v1"`, "X-Custom", "a", "X-Custom", "b",
		"Connection", "X-Conn-Only", "X-Conn-Only", "1", "Keep-Alive", "timeout=5",
		"Age", "0", "X-Rampart-Upstream", "accounts", "Authentication-Info", "nextnonce=x", "Cache-Status", "origin; hit"))
	first := request(http.MethodGet, "/", nil)
	w := newRecorderWithHeader("X-Request-Id", "req-1")
	f.h.ServeHTTP(w, first)
	if w.Code != 203 {
		t.Fatalf("first: %d", w.Code)
	}
	w = newRecorderWithHeader("X-Request-Id", "req-2")
	f.h.ServeHTTP(w, request(http.MethodGet, "/", nil))
	h := w.Header()
	if !isHit(w) || w.Code != 203 || w.Body.String() != "body" {
		t.Fatalf("second: %q %d %q", cacheStatus(w), w.Code, w.Body)
	}
	if got := h.Values("X-Custom"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("X-Custom %q", got)
	}
	for _, k := range []string{"Connection", "X-Conn-Only", "Keep-Alive", "X-Rampart-Upstream", "Authentication-Info"} {
		if v := h.Values(k); len(v) != 0 {
			t.Errorf("%s stored: %q", k, v)
		}
	}
	if got := h.Values("X-Request-Id"); len(got) != 1 || got[0] != "req-2" {
		t.Errorf("X-Request-Id %q, want this request's", got)
	}
	if got := h.Values(StatusHeader); len(got) != 1 {
		t.Errorf("Cache-Status %q: the upstream's was stored", got)
	}
	// The served header is the caller's to change: the entry is not.
	h.Add("X-Custom", "c")
	h["Etag"][0] = "changed"
	w = f.get("/", nil)
	if got := w.Header().Values("X-Custom"); len(got) != 2 || w.Header().Get("Etag") != `"v1"` {
		t.Errorf("entry changed through a served header: %q %q", got, w.Header().Get("Etag"))
	}
}

// HEAD is keyed apart from GET and answered without a body.
func TestHead(t *testing.T) {
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{}, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public")
		w.Header().Set("Content-Length", "4")
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte("body"))
		}
	})
	for range 2 {
		w := f.do(request(http.MethodHead, "/", nil))
		if w.Body.Len() != 0 || w.Header().Get("Content-Length") != "4" {
			t.Errorf("HEAD: %q %v", w.Body, w.Header())
		}
	}
	if w := f.get("/", nil); isHit(w) {
		t.Error("GET served from the HEAD entry")
	}
	if w := f.get("/", nil); !isHit(w) || w.Body.String() != "body" {
		t.Errorf("GET: %q %q", cacheStatus(w), w.Body)
	}
	if n := f.up.calls.Load(); n != 2 {
		t.Errorf("%d upstream calls, want 2", n)
	}
}

// A hit for a request whose If-None-Match matches is a 304.
func TestNotModified(t *testing.T) {
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{}, answer(200, "body", "Cache-Control", "public", "Etag", `"v1"`))
	f.get("/", nil)
	for _, inm := range []string{`"v1"`, `W/"v1"`, `"v0", "v1"`, "*"} {
		if w := f.get("/", nil, "If-None-Match", inm); w.Code != 304 || w.Body.Len() != 0 || w.Header().Get("Etag") != `"v1"` {
			t.Errorf("If-None-Match %s: %d %q", inm, w.Code, w.Body)
		}
	}
	if w := f.get("/", nil, "If-None-Match", `"v2"`); w.Code != 200 || w.Body.String() != "body" {
		t.Errorf("other tag: %d %q", w.Code, w.Body)
	}
}

// Bodies over max_body, bodies that do not match their Content-Length and
// bodies followed by trailers are passed on but not stored.
func TestBodyLimits(t *testing.T) {
	big := strings.Repeat("x", 100)
	for name, respond := range map[string]func(http.ResponseWriter, *http.Request){
		"declared too large": answer(200, big, "Cache-Control", "public", "Content-Length", "100"),
		"streamed too large": answer(200, big, "Cache-Control", "public"),
		"unannounced trailer": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Cache-Control", "public")
			_, _ = w.Write([]byte("abc"))
			w.Header().Set(http.TrailerPrefix+"X-Sum", "1")
		},
		"short body": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Cache-Control", "public")
			w.Header().Set("Content-Length", "10")
			_, _ = w.Write([]byte("abc"))
		},
	} {
		f := newFixture(t, Policy{TTL: time.Minute, Scope: Public, MaxBody: 50}, Options{}, respond)
		if w := f.get("/", nil); w.Body.Len() == 0 {
			t.Errorf("%s: body not passed on", name)
		}
		if w := f.get("/", nil); isHit(w) {
			t.Errorf("%s: stored", name)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{Policy{}, "ttl must be positive"},
		{Policy{TTL: -time.Second}, "ttl must be positive"},
		{Policy{TTL: time.Second, Scope: 7}, "unknown scope"},
		{Policy{TTL: time.Second, MaxBody: -1}, "max_body"},
		{Policy{TTL: time.Second, MaxBody: MaxMaxBody + 1}, "max_body"},
		{Policy{TTL: time.Second, Vary: []string{"Accept", "accept"}}, "listed twice"},
		{Policy{TTL: time.Second, Vary: []string{"Authorization"}}, "credentials"},
		{Policy{TTL: time.Second, Vary: []string{"Cookie"}, Scope: Public}, "use scope private"},
		{Policy{TTL: time.Second, Vary: []string{"Connection"}}, "hop-by-hop"},
		{Policy{TTL: time.Second, Vary: []string{"Bad Header"}}, "not a header name"},
		{Policy{TTL: time.Second, Vary: make([]string, MaxVary+1)}, "at most"},
	} {
		err := tc.p.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error containing %q", tc.p, err, tc.want)
		}
	}
	for _, p := range []Policy{
		{TTL: time.Second},
		{TTL: time.Hour, Scope: Public, Vary: []string{"Accept-Encoding", "accept-language"}, MaxBody: 1 << 20},
		{TTL: time.Second, Vary: []string{"Cookie"}},
	} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	c, _ := New(Options{})
	if _, err := c.Wrap("", Policy{TTL: time.Second}, http.NotFoundHandler()); err == nil {
		t.Error("empty route name accepted")
	}
	if _, err := c.Wrap("r", Policy{}, http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), `route "r"`) {
		t.Errorf("invalid policy: %v, want an error naming the route", err)
	}
}

func TestParseScope(t *testing.T) {
	for s, want := range map[string]Scope{"private": Private, "public": Public} {
		if got, err := ParseScope(s); err != nil || got != want || got.String() != s {
			t.Errorf("%s: %v %v", s, got, err)
		}
	}
	if _, err := ParseScope("shared"); err == nil {
		t.Error("unknown scope accepted")
	}
}
