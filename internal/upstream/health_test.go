package upstream

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// healthBackend fails its health checks while sick is set and counts the
// checks it answered in each state.
type healthBackend struct {
	*backend
	sick                 atomic.Bool
	passed, failedChecks atomic.Int64
}

func newHealthBackend(t *testing.T, name string) *healthBackend {
	hb := &healthBackend{}
	hb.backend = newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != healthPath {
			_, _ = w.Write([]byte(name))
			return
		}
		if hb.sick.Load() {
			hb.failedChecks.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		hb.passed.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	return hb
}

func TestActiveHealthChecks(t *testing.T) {
	a, b := newHealthBackend(t, "a"), newHealthBackend(t, "b")
	o := Options{
		Targets: urls(a.backend, b.backend),
		Health:  HealthOptions{Path: healthPath, Interval: 5 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 3},
	}
	events := recordHealth(&o)
	p := newPool(t, o)
	p.Start(context.Background())

	// Targets start healthy, before any check has run.
	if !p.Ready() {
		t.Fatal("fresh pool not ready")
	}

	a.sick.Store(true)
	ev := receive(t, events, "a to turn unhealthy")
	if ev != (healthEvent{a.URL, false}) {
		t.Fatalf("event %+v", ev)
	}
	if n := a.failedChecks.Load(); n < 3 {
		t.Fatalf("turned unhealthy after %d failed checks, threshold is 3", n)
	}
	if st := p.Status()[0]; st.Healthy || st.Ejected {
		t.Fatalf("status of a: %+v", st)
	}
	// Attack: a known-bad target must get no traffic; honest requests go to b.
	hitsA := a.hits.Load()
	for range 6 {
		if got := mustFetch(t, p, "/"); got != "b" {
			t.Fatalf("request went to %q while it was unhealthy", got)
		}
	}
	if a.hits.Load() != hitsA {
		t.Fatal("unhealthy target received requests")
	}

	// All targets unhealthy: fail with ErrNoHealthyTarget, never fall back.
	b.sick.Store(true)
	if ev := receive(t, events, "b to turn unhealthy"); ev != (healthEvent{b.URL, false}) {
		t.Fatalf("event %+v", ev)
	}
	if p.Ready() {
		t.Fatal("ready with every target unhealthy")
	}
	if _, _, err := fetch(t, p, http.MethodGet, "/"); !isErr(err, ErrNoHealthyTarget) {
		t.Fatalf("err %v, want ErrNoHealthyTarget", err)
	}
	if a.hits.Load() != hitsA || b.hits.Load() != 6 {
		t.Fatalf("requests reached unhealthy targets: a %d b %d", a.hits.Load(), b.hits.Load())
	}

	// Recovery needs HealthyThreshold passes.
	passedBefore := a.passed.Load()
	a.sick.Store(false)
	if ev := receive(t, events, "a to recover"); ev != (healthEvent{a.URL, true}) {
		t.Fatalf("event %+v", ev)
	}
	if n := a.passed.Load() - passedBefore; n < 2 {
		t.Fatalf("recovered after %d passing checks, threshold is 2", n)
	}
	if got := mustFetch(t, p, "/"); got != "a" {
		t.Fatalf("got %q from the only healthy target a", got)
	}
}

func TestHealthCheckTimeoutCountsAsFailure(t *testing.T) {
	hang := hangUntilGone(t)
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == healthPath {
			hang(w, r)
		}
	})
	o := Options{Targets: urls(b), Health: HealthOptions{Path: healthPath, Interval: 5 * time.Millisecond, Timeout: 20 * time.Millisecond, UnhealthyThreshold: 1}}
	events := recordHealth(&o)
	p := newPool(t, o)
	p.Start(context.Background())
	if ev := receive(t, events, "the hanging target to turn unhealthy"); ev.healthy {
		t.Fatalf("event %+v", ev)
	}
}

func TestStartIsBoundToContextAndIdempotent(t *testing.T) {
	a := newHealthBackend(t, "a")
	p := newPool(t, Options{Targets: urls(a.backend), Health: HealthOptions{Path: healthPath, Interval: 5 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	p.Start(ctx)
	p.Start(ctx) // no second set of checkers
	waitFor(t, "a first check", func() bool { return a.passed.Load() > 0 })
	cancel()
	p.checks.Wait() // returns only once the checkers saw ctx end
	n := a.passed.Load()
	p.Start(context.Background()) // a started pool never restarts
	p.Close()
	if a.passed.Load() != n {
		t.Fatal("checks ran after their context ended")
	}
}
