package upstream

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestCircuitBreaker(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{}, 1)
	var bad atomic.Bool
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/probe" {
			entered <- struct{}{}
			<-release
		}
		if bad.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	p := newPool(t, Options{Targets: urls(b), Breaker: BreakerOptions{ConsecutiveFailures: 3, OpenFor: time.Minute}})
	clock := withFakeClock(p)

	// Failures below the threshold, interrupted by a success, do not open it.
	bad.Store(true)
	for range 2 {
		_, _, _ = fetch(t, p, http.MethodGet, "/")
	}
	bad.Store(false)
	mustFetch(t, p, "/")
	bad.Store(true)
	for range 2 {
		_, _, _ = fetch(t, p, http.MethodGet, "/")
	}
	if p.CircuitState() != CircuitClosed {
		t.Fatalf("circuit %s after non-consecutive failures", p.CircuitState())
	}
	_, _, _ = fetch(t, p, http.MethodGet, "/")
	if p.CircuitState() != CircuitOpen {
		t.Fatalf("circuit %s after 3 consecutive failures", p.CircuitState())
	}

	// Open: fail fast, the upstream sees nothing.
	hits := b.hits.Load()
	for range 5 {
		if _, _, err := fetch(t, p, http.MethodGet, "/"); !isErr(err, ErrCircuitOpen) {
			t.Fatalf("err %v, want ErrCircuitOpen", err)
		}
	}
	if b.hits.Load() != hits {
		t.Fatal("an open circuit let requests through")
	}

	// Half-open: one probe; it fails, the circuit opens again.
	clock.advance(time.Minute)
	if p.CircuitState() != CircuitHalfOpen {
		t.Fatalf("circuit %s after OpenFor", p.CircuitState())
	}
	probe := func() <-chan int {
		ch := make(chan int, 1)
		go func() {
			code, _, _ := fetch(t, p, http.MethodGet, "/probe")
			ch <- code
		}()
		receive(t, entered, "the probe to arrive")
		return ch
	}
	answer := probe()
	if _, _, err := fetch(t, p, http.MethodGet, "/"); !isErr(err, ErrCircuitOpen) {
		t.Fatalf("second request while half-open: err %v", err)
	}
	release <- struct{}{}
	if code := receive(t, answer, "the probe's answer"); code != http.StatusServiceUnavailable {
		t.Fatalf("probe code %d", code)
	}
	if p.CircuitState() != CircuitOpen {
		t.Fatalf("circuit %s after a failed probe", p.CircuitState())
	}

	// A successful probe closes it.
	clock.advance(time.Minute)
	bad.Store(false)
	answer = probe()
	release <- struct{}{}
	if code := receive(t, answer, "the probe's answer"); code != http.StatusOK {
		t.Fatalf("probe code %d", code)
	}
	if p.CircuitState() != CircuitClosed {
		t.Fatalf("circuit %s after a good probe", p.CircuitState())
	}
	for range 3 {
		mustFetch(t, p, "/")
	}
}

func TestCircuitIgnoresClientCancel(t *testing.T) {
	entered := make(chan struct{}, 1)
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done()
	})
	p := newPool(t, Options{Targets: urls(b), Breaker: BreakerOptions{ConsecutiveFailures: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.RoundTrip(newRequest(t, ctx, http.MethodGet, "/", nil))
		errc <- err
	}()
	receive(t, entered, "the request to arrive")
	cancel()
	if err := receive(t, errc, "RoundTrip to return"); !isErr(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if p.CircuitState() != CircuitClosed {
		t.Fatal("a client that went away opened the circuit")
	}
}

func TestMaxRequests(t *testing.T) {
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
	})
	p := newPool(t, Options{Targets: urls(b), Breaker: BreakerOptions{MaxRequests: 2}})

	// Two streaming responses hold both slots until their bodies are closed.
	var bodies []io.ReadCloser
	for range 2 {
		resp, err := p.RoundTrip(newRequest(t, context.Background(), http.MethodGet, "/slow", nil))
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
		receive(t, entered, "a slow request to arrive")
	}
	hits := b.hits.Load()
	if _, _, err := fetch(t, p, http.MethodGet, "/"); !isErr(err, ErrOverloaded) {
		t.Fatalf("third request: err %v, want ErrOverloaded", err)
	}
	if b.hits.Load() != hits {
		t.Fatal("an overloaded pool sent the request anyway")
	}
	close(release)
	for _, body := range bodies {
		_, _ = io.Copy(io.Discard, body)
		body.Close()
		body.Close() // a second Close must not free a second slot
	}
	if p.InFlight() != 0 {
		t.Fatalf("in flight %d after closing every body", p.InFlight())
	}
	mustFetch(t, p, "/")
	if st := p.Status()[0]; st.InFlight != 0 {
		t.Fatalf("target in flight %d", st.InFlight)
	}
}

// TestConcurrentTraffic drives every detector from many goroutines at once
// (run with -race) and checks that the books balance afterwards.
func TestConcurrentTraffic(t *testing.T) {
	a, b := newFlaky(t, "a"), newFlaky(t, "b")
	var n atomic.Int64
	flip := newBackend(t, "flip", func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%3 == 0 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	o := Options{Targets: urls(a.backend, b.backend, flip), Balance: LeastRequests, Retries: 1,
		Passive: PassiveOptions{ConsecutiveFailures: 2, EjectFor: time.Millisecond},
		Breaker: BreakerOptions{ConsecutiveFailures: 4, OpenFor: time.Millisecond, MaxRequests: 6}}
	events := make(chan healthEvent, 1024)
	o.OnHealthChange = func(target string, healthy bool) {
		select {
		case events <- healthEvent{target, healthy}:
		default:
		}
	}
	p := newPool(t, o)
	a.bad.Store(true)
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 50 {
				resp, err := p.RoundTrip(newRequest(t, context.Background(), http.MethodGet, "/", nil))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	for range 8 {
		receive(t, done, "the workers")
	}
	if p.InFlight() != 0 {
		t.Fatalf("pool in flight %d", p.InFlight())
	}
	for _, st := range p.Status() {
		if st.InFlight != 0 {
			t.Fatalf("target in flight: %+v", st)
		}
	}
	// Calls for a target alternate: never the same state twice in a row.
	last := map[string]bool{}
	for len(events) > 0 {
		ev := <-events
		if prev, ok := last[ev.target]; (ok && prev == ev.healthy) || (!ok && ev.healthy) {
			t.Fatalf("repeated or out-of-order health event %+v", ev)
		}
		last[ev.target] = ev.healthy
	}
}
