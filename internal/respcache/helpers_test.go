package respcache

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// clock is a settable clock for the cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// upstream is a test origin: it counts calls and answers with respond.
type upstream struct {
	calls   atomic.Int64
	respond func(w http.ResponseWriter, r *http.Request)
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	u.respond(w, r)
}

// answer returns a respond func that sets the header pairs and writes body.
func answer(status int, body string, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Add(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

type fixture struct {
	t      *testing.T
	clock  *clock
	up     *upstream
	h      *Handler
	events chan Event
}

// newFixture makes a cache (memory store unless o.Store is set, test clock)
// with one route "r" in front of an upstream answering with respond.
func newFixture(t *testing.T, p Policy, o Options, respond func(http.ResponseWriter, *http.Request)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newClock(), up: &upstream{respond: respond}, events: make(chan Event, 100)}
	if o.Now == nil {
		o.Now = f.clock.now
	}
	if o.OnEvent == nil {
		o.OnEvent = func(e Event) {
			select {
			case f.events <- e:
			default:
			}
		}
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.h, err = c.Wrap("r", p, f.up)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var (
	alice       = &principal.Principal{Subject: "alice", Kind: principal.User, Issuer: "rampart", Method: principal.JWT}
	bob         = &principal.Principal{Subject: "bob", Kind: principal.User, Issuer: "rampart", Method: principal.JWT}
	aliceAPIKey = &principal.Principal{Subject: "alice", Kind: principal.Client, Method: principal.APIKey}
)

// request makes a request for target as p (nil: anonymous) with the header pairs.
func request(method, target string, p *principal.Principal, header ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	if p != nil {
		r = r.WithContext(principal.NewContext(r.Context(), p))
	}
	return r
}

// do serves r and returns the recorded response.
func (f *fixture) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// get serves a GET for target as p and returns the response.
func (f *fixture) get(target string, p *principal.Principal, header ...string) *httptest.ResponseRecorder {
	return f.do(request(http.MethodGet, target, p, header...))
}

// cacheStatus is the response's Cache-Status member for rampart.
func cacheStatus(w *httptest.ResponseRecorder) string {
	vs := w.Result().Header.Values(StatusHeader)
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

func isHit(w *httptest.ResponseRecorder) bool {
	return strings.HasPrefix(cacheStatus(w), "rampart; hit")
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
