package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rampart-sec/rampart/internal/event"
)

func TestRouteObserveBoundsCardinality(t *testing.T) {
	m := New(func() uint64 { return 7 })
	r := m.Route("orders")
	r.Observe("GET", 200, time.Millisecond)
	r.Observe("BREW", 418, time.Millisecond) // unknown method folds into OTHER
	r.Observe("GET", 999, time.Millisecond)  // nonsense status folds into other
	if got := testutil.ToFloat64(m.requests.WithLabelValues("orders", "GET", "2xx")); got != 1 {
		t.Fatalf("GET 2xx = %v", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("orders", "OTHER", "4xx")); got != 1 {
		t.Fatalf("OTHER 4xx = %v", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("orders", "GET", "other")); got != 1 {
		t.Fatalf("GET other = %v", got)
	}
	if got := testutil.ToFloat64(m.eventsDropped); got != 7 {
		t.Fatalf("dropped = %v", got)
	}
}

func TestEventsAndHealth(t *testing.T) {
	m := New(nil)
	m.Handle(event.Event{Type: event.BadRequest, Severity: event.Medium})
	m.TargetHealth("accounts", "http://127.0.0.1:1", false)
	out, err := testutil.CollectAndLint(m.events)
	if err != nil || len(out) != 0 {
		t.Fatalf("lint: %v %v", err, out)
	}
	if err := testutil.CollectAndCompare(m.events, strings.NewReader(`
# HELP rampart_security_events_total Security events, by type and severity.
# TYPE rampart_security_events_total counter
rampart_security_events_total{severity="medium",type="bad_request"} 1
`)); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.targetHealthy.WithLabelValues("accounts", "http://127.0.0.1:1")); got != 0 {
		t.Fatalf("healthy = %v", got)
	}
}

func BenchmarkRouteObserve(b *testing.B) {
	r := New(nil).Route("bench")
	b.ReportAllocs()
	for b.Loop() {
		r.Observe("GET", 200, time.Millisecond)
	}
}
