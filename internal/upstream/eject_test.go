package upstream

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// flaky answers 503 while bad is set.
type flaky struct {
	*backend
	bad atomic.Bool
}

func newFlaky(t *testing.T, name string) *flaky {
	f := &flaky{}
	f.backend = newBackend(t, name, func(w http.ResponseWriter, _ *http.Request) {
		if f.bad.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(name))
	})
	return f
}

func TestPassiveEjectionAndRecovery(t *testing.T) {
	a, b := newFlaky(t, "a"), newFlaky(t, "b")
	o := Options{Targets: urls(a.backend, b.backend), Passive: PassiveOptions{ConsecutiveFailures: 2, EjectFor: 10 * time.Second}}
	events := recordHealth(&o)
	p := newPool(t, o)
	clock := withFakeClock(p)

	a.bad.Store(true)
	for a.hits.Load() < 2 {
		if _, _, err := fetch(t, p, http.MethodGet, "/"); err != nil {
			t.Fatal(err)
		}
	}
	if ev := receive(t, events, "a to be ejected"); ev != (healthEvent{a.URL, false}) {
		t.Fatalf("event %+v", ev)
	}
	if st := p.Status()[0]; !st.Ejected || !st.Healthy || st.ConsecutiveFailures != 2 {
		t.Fatalf("status of a: %+v", st)
	}

	// Attack: an ejected target gets nothing during its window.
	for range 10 {
		if got := mustFetch(t, p, "/"); got != "b" {
			t.Fatalf("got %q", got)
		}
	}
	if a.hits.Load() != 2 {
		t.Fatalf("ejected target got %d requests, want 2", a.hits.Load())
	}

	// After the window one probe goes to a; it fails and a is ejected again.
	clock.advance(10 * time.Second)
	if !p.Ready() {
		t.Fatal("not ready")
	}
	for range 10 {
		_, _, _ = fetch(t, p, http.MethodGet, "/")
	}
	if a.hits.Load() != 3 {
		t.Fatalf("a got %d requests after its window, want exactly one probe (3 in all)", a.hits.Load())
	}

	// The next probe succeeds: a is back and shares the load again.
	clock.advance(10 * time.Second)
	a.bad.Store(false)
	waitFor(t, "a probe to succeed", func() bool {
		mustFetch(t, p, "/")
		return !p.Status()[0].Ejected
	})
	if ev := receive(t, events, "a to recover"); ev != (healthEvent{a.URL, true}) {
		t.Fatalf("event %+v", ev)
	}
	before := a.hits.Load()
	for range 10 {
		mustFetch(t, p, "/")
	}
	if got := a.hits.Load() - before; got != 5 {
		t.Fatalf("recovered target got %d of 10 requests, want 5", got)
	}
	if st := p.Status()[0]; st.ConsecutiveFailures != 0 {
		t.Fatalf("failures not reset by success: %+v", st)
	}
}

func TestSuccessResetsConsecutiveFailures(t *testing.T) {
	a := newFlaky(t, "a")
	p := newPool(t, Options{Targets: urls(a.backend), Passive: PassiveOptions{ConsecutiveFailures: 2, EjectFor: time.Hour}})
	for range 5 {
		a.bad.Store(true)
		_, _, _ = fetch(t, p, http.MethodGet, "/")
		a.bad.Store(false)
		mustFetch(t, p, "/")
	}
	if st := p.Status()[0]; st.Ejected || st.ConsecutiveFailures != 0 {
		t.Fatalf("alternating failures ejected the target: %+v", st)
	}
}

func TestHalfOpenAdmitsOneProbe(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var bad atomic.Bool
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/probe" {
			entered <- struct{}{}
			<-release
		}
		if bad.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	p := newPool(t, Options{Targets: urls(b), Passive: PassiveOptions{ConsecutiveFailures: 1, EjectFor: time.Minute}})
	clock := withFakeClock(p)

	// A connect-level failure (502 here) ejects the only target.
	bad.Store(true)
	if code, _, _ := fetch(t, p, http.MethodGet, "/"); code != http.StatusBadGateway {
		t.Fatalf("code %d", code)
	}
	if _, _, err := fetch(t, p, http.MethodGet, "/"); !isErr(err, ErrNoHealthyTarget) {
		t.Fatalf("all targets ejected: err %v, want ErrNoHealthyTarget", err)
	}
	if p.Ready() {
		t.Fatal("ready with the only target ejected")
	}

	clock.advance(time.Minute)
	bad.Store(false)
	probe := make(chan int, 1)
	go func() {
		code, _, _ := fetch(t, p, http.MethodGet, "/probe")
		probe <- code
	}()
	receive(t, entered, "the probe to arrive")
	// While the probe is out, nobody else gets through.
	if _, _, err := fetch(t, p, http.MethodGet, "/"); !isErr(err, ErrNoHealthyTarget) {
		t.Fatalf("second request during the probe: err %v", err)
	}
	close(release)
	if code := receive(t, probe, "the probe's answer"); code != http.StatusOK {
		t.Fatalf("probe code %d", code)
	}
	if p.Status()[0].Ejected {
		t.Fatal("target still ejected after a successful probe")
	}
	mustFetch(t, p, "/")
	if b.hits.Load() != 3 { // the failure, the probe and the last request
		t.Fatalf("target got %d requests, want 3", b.hits.Load())
	}
}
