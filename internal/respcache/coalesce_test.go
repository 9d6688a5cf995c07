package respcache

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockingUpstream answers the first call only when release is closed;
// later calls answer at once.
func blockingUpstream(release chan struct{}, entered chan struct{}, respond func(http.ResponseWriter, *http.Request)) func(http.ResponseWriter, *http.Request) {
	var once sync.Once
	return func(w http.ResponseWriter, r *http.Request) {
		first := false
		once.Do(func() { first = true })
		if first {
			close(entered)
			<-release
		}
		respond(w, r)
	}
}

// concurrently serves n requests made by newReq: the first until the
// upstream holds it, then the others until they all wait on its forward; then
// it releases the upstream and returns the responses.
func concurrently(t *testing.T, f *fixture, n int, release, entered chan struct{}, newReq func() *http.Request) []*httptest.ResponseRecorder {
	t.Helper()
	out := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out[0] = f.do(newReq())
	}()
	<-entered
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = f.do(newReq())
		}()
	}
	waitFor(t, "the requests to wait on the first one's forward", func() bool { return f.h.Stats().Waiting == int64(n-1) })
	close(release)
	wg.Wait()
	return out
}

// N concurrent misses for one key make one upstream request; every caller
// gets its answer.
func TestCoalescing(t *testing.T) {
	const n = 20
	release, entered := make(chan struct{}), make(chan struct{})
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{},
		blockingUpstream(release, entered, answer(200, "shared", "Cache-Control", "public")))
	out := concurrently(t, f, n, release, entered, func() *http.Request { return request(http.MethodGet, "/x", bob) })
	for i, w := range out {
		if w.Code != 200 || w.Body.String() != "shared" {
			t.Errorf("request %d: %d %q", i, w.Code, w.Body)
		}
	}
	if c := f.up.calls.Load(); c != 1 {
		t.Errorf("%d upstream calls, want 1", c)
	}
	if s := f.h.Stats(); s.Misses != 1 || s.Collapsed != n-1 || s.Stored != 1 || s.Waiting != 0 {
		t.Errorf("stats %+v", s)
	}
	if w := f.get("/x", alice); !isHit(w) {
		t.Errorf("after: %q", cacheStatus(w))
	}
}

// Private scope collapses only requests of the same principal.
func TestCoalescingPrivate(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{})
	f := newFixture(t, Policy{TTL: time.Minute}, Options{}, blockingUpstream(release, entered, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Header.Get("X-Who")))
	}))
	out := concurrently(t, f, 5, release, entered, func() *http.Request { return request(http.MethodGet, "/me", alice, "X-Who", "alice") })
	for _, w := range out {
		if w.Body.String() != "alice" {
			t.Errorf("got %q", w.Body)
		}
	}
	if w := f.get("/me", bob, "X-Who", "bob"); w.Body.String() != "bob" {
		t.Errorf("bob got %q", w.Body)
	}
	if c := f.up.calls.Load(); c != 2 {
		t.Errorf("%d upstream calls, want 2", c)
	}
}

// When the shared forward's answer cannot be shared, or the forward fails,
// each waiter forwards on its own.
func TestCoalescingFallThrough(t *testing.T) {
	const n = 5
	t.Run("not shareable", func(t *testing.T) {
		release, entered := make(chan struct{}), make(chan struct{})
		f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{},
			blockingUpstream(release, entered, answer(200, "for one", "Cache-Control", "public", "Set-Cookie", "sid=1")))
		out := concurrently(t, f, n, release, entered, func() *http.Request { return request(http.MethodGet, "/", nil) })
		for _, w := range out {
			if w.Body.String() != "for one" || cacheStatus(w) != statusUncacheable {
				t.Errorf("%q %q", w.Body, cacheStatus(w))
			}
		}
		if c := f.up.calls.Load(); c != n {
			t.Errorf("%d upstream calls, want %d", c, n)
		}
	})
	t.Run("upstream error", func(t *testing.T) {
		release, entered := make(chan struct{}), make(chan struct{})
		f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{},
			blockingUpstream(release, entered, answer(502, "bad gateway")))
		out := concurrently(t, f, n, release, entered, func() *http.Request { return request(http.MethodGet, "/", nil) })
		for _, w := range out {
			if w.Code != 502 {
				t.Errorf("%d", w.Code)
			}
		}
		if c := f.up.calls.Load(); c != n {
			t.Errorf("%d upstream calls, want %d", c, n)
		}
	})
	t.Run("leader aborted", func(t *testing.T) {
		release, entered := make(chan struct{}), make(chan struct{})
		var once sync.Once
		f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{}, blockingUpstream(release, entered,
			func(w http.ResponseWriter, r *http.Request) {
				abort := false
				once.Do(func() { abort = true })
				if abort {
					// What ReverseProxy does when the client goes away mid-body.
					panic(http.ErrAbortHandler)
				}
				answer(200, "ok", "Cache-Control", "public")(w, r)
			}))
		out := make([]*httptest.ResponseRecorder, n)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != http.ErrAbortHandler {
					t.Errorf("leader: recovered %v, want http.ErrAbortHandler", p)
				}
			}()
			f.do(request(http.MethodGet, "/", nil))
		}()
		<-entered
		for i := 1; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i] = f.do(request(http.MethodGet, "/", nil))
			}()
		}
		waitFor(t, "waiters", func() bool { return f.h.Stats().Waiting == n-1 })
		close(release)
		wg.Wait()
		for _, w := range out[1:] {
			if w.Code != 200 || w.Body.String() != "ok" {
				t.Errorf("waiter: %d %q", w.Code, w.Body)
			}
		}
		f.h.mu.Lock()
		left := len(f.h.flights)
		f.h.mu.Unlock()
		if left != 0 {
			t.Errorf("%d flights left after the leader aborted", left)
		}
	})
}

// A waiter stops waiting after the coalesce timeout and forwards itself.
func TestCoalesceTimeout(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{})
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{CoalesceTimeout: 20 * time.Millisecond},
		blockingUpstream(release, entered, answer(200, "ok", "Cache-Control", "public")))
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.do(request(http.MethodGet, "/", nil))
	}()
	<-entered
	// The leader is held until this request has timed out and been answered.
	w := f.get("/", nil)
	close(release)
	<-done
	if w.Code != 200 || cacheStatus(w) != statusMiss {
		t.Errorf("waiter: %d %q", w.Code, cacheStatus(w))
	}
	if c := f.up.calls.Load(); c != 2 {
		t.Errorf("%d upstream calls, want 2", c)
	}
}

// After an answer that could not be stored, requests for the key do not
// queue behind one another's forwards; after a stored one they do again.
func TestHitForPass(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int64
	var calls atomic.Int64
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{}, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			inFlight.Add(1)
			<-release
		}
		answer(200, "x", "Cache-Control", "public", "Set-Cookie", "sid=1")(w, r)
	})
	f.get("/", nil) // uncacheable: the key is passed
	const n = 4
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.get("/", nil)
		}()
	}
	waitFor(t, "every request to reach the upstream at once", func() bool { return inFlight.Load() == n })
	close(release)
	wg.Wait()
	if s := f.h.Stats(); s.Collapsed != 0 || s.Misses != n+1 {
		t.Errorf("stats %+v", s)
	}
	// The pass ends with its time.
	f.clock.advance(passTTL)
	f.h.mu.Lock()
	until, ok := f.h.passes[keyOf(t, f.h, request(http.MethodGet, "/", nil))]
	f.h.mu.Unlock()
	if !ok || f.clock.now().Before(until) {
		t.Errorf("pass until %v at %v", until, f.clock.now())
	}
}
