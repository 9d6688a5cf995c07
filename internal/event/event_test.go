package event

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestBusDeliversInOrderToEverySink(t *testing.T) {
	var mu sync.Mutex
	var a, b []string
	bus := NewBus(16,
		SinkFunc(func(e Event) { mu.Lock(); a = append(a, e.Reason); mu.Unlock() }))
	bus.Subscribe(SinkFunc(func(e Event) { mu.Lock(); b = append(b, e.Reason); mu.Unlock() }))
	ctx, cancel := context.WithCancel(context.Background())
	go bus.Run(ctx)
	for _, r := range []string{"one", "two", "three"} {
		bus.Emit(Event{Type: BadRequest, Reason: r})
	}
	cancel()
	<-bus.Done()
	mu.Lock()
	defer mu.Unlock()
	if len(a) != 3 || a[0] != "one" || a[2] != "three" || len(b) != 3 {
		t.Fatalf("sinks got a=%v b=%v", a, b)
	}
}

func TestBusNeverBlocksAndCountsDrops(t *testing.T) {
	bus := NewBus(2) // not running: the queue fills
	for i := 0; i < 5; i++ {
		bus.Emit(Event{Type: BadRequest})
	}
	if got := bus.Dropped(); got != 3 {
		t.Fatalf("dropped = %d, want 3", got)
	}
}

func TestEmitStampsTime(t *testing.T) {
	got := make(chan Event, 1)
	bus := NewBus(1, SinkFunc(func(e Event) { got <- e }))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go bus.Run(ctx)
	before := time.Now()
	bus.Emit(Event{Type: LimitExceeded})
	select {
	case e := <-got:
		if e.Time.Before(before) {
			t.Fatalf("time %v before emit %v", e.Time, before)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event not delivered")
	}
}

func TestSeverityNames(t *testing.T) {
	if High.String() != "high" || Severity(99).String() != "unknown" {
		t.Fatal("severity names")
	}
}
