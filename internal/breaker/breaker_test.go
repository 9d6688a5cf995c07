package breaker

import (
	"errors"
	"sync"
	"testing"
)

func TestBreakerStates(t *testing.T) {
	b := New(3, 100)
	now := int64(1000)
	call := func(o Outcome) error {
		probe, err := b.Allow(now)
		if err != nil {
			return err
		}
		b.Done(o, probe, now)
		return nil
	}
	// Failures interrupted by a success do not open it.
	for _, o := range []Outcome{Failure, Failure, Success, Failure, Failure, Neutral} {
		if err := call(o); err != nil {
			t.Fatal(err)
		}
	}
	if s := b.Describe(now); s != Closed {
		t.Fatalf("%s after non-consecutive failures", s)
	}
	if err := call(Failure); err != nil {
		t.Fatal(err)
	}
	if s := b.Describe(now); s != Open {
		t.Fatalf("%s after 3 consecutive failures", s)
	}
	if err := call(Success); !errors.Is(err, ErrOpen) {
		t.Fatalf("open circuit admitted a call: %v", err)
	}
	// After OpenFor, one probe at a time; a failed probe opens it again.
	now += 100
	if s := b.Describe(now); s != HalfOpen {
		t.Fatalf("%s when the probe is due", s)
	}
	probe, err := b.Allow(now)
	if err != nil || !probe {
		t.Fatalf("probe refused: %v %v", probe, err)
	}
	if _, err := b.Allow(now); !errors.Is(err, ErrOpen) {
		t.Fatal("a second call admitted while probing")
	}
	b.Done(Failure, true, now)
	if s := b.Describe(now); s != Open {
		t.Fatalf("%s after a failed probe", s)
	}
	now += 100
	probe, _ = b.Allow(now)
	b.Done(Success, probe, now)
	if s := b.Describe(now); s != Closed {
		t.Fatalf("%s after a good probe", s)
	}
	// A zero threshold never opens.
	off := New(0, 100)
	for range 10 {
		p, err := off.Allow(now)
		if err != nil {
			t.Fatal(err)
		}
		off.Done(Failure, p, now)
	}
}

func TestBreakerConcurrent(t *testing.T) {
	b := New(5, 1000)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 1000 {
				now := int64(j)
				probe, err := b.Allow(now)
				if err != nil {
					continue
				}
				o := Success
				if (i+j)%3 == 0 {
					o = Failure
				}
				b.Done(o, probe, now)
			}
		})
	}
	wg.Wait()
	b.Describe(0)
}
