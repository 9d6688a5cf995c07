// Package breaker is a circuit breaker for calls to a dependency that can
// fail or hang (an upstream pool, Redis): after Threshold consecutive
// failures it opens for OpenFor, during which calls are refused at once
// with ErrOpen, then lets one probe through whose outcome closes it or
// opens it again. The healthy path takes no lock.
package breaker

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrOpen is returned by Allow while the circuit is open.
var ErrOpen = errors.New("circuit breaker is open")

// Outcome is what one call tells the breaker.
type Outcome uint8

const (
	// Neutral says nothing about the dependency (the caller went away, or
	// nothing was tried).
	Neutral Outcome = iota
	Success
	Failure
)

// States as reported by Describe.
const (
	Closed   = "closed"
	Open     = "open"
	HalfOpen = "half_open"
)

const (
	stateClosed int32 = iota
	stateOpen
	stateHalfOpen
)

// Breaker is one circuit. Times are nanoseconds on the caller's clock. The
// zero value and a zero Threshold never open. It is safe for concurrent use.
type Breaker struct {
	threshold int
	openFor   int64

	// state and fails are read without the lock on the hot path so that a
	// healthy dependency never takes it.
	state atomic.Int32
	fails atomic.Int32

	mu      sync.Mutex
	until   int64
	probing bool
}

// New returns a breaker that opens after threshold consecutive failures
// for openFor nanoseconds. A zero threshold disables it.
func New(threshold int, openFor int64) *Breaker {
	return &Breaker{threshold: threshold, openFor: openFor}
}

// Threshold is the number of consecutive failures that open the circuit.
func (b *Breaker) Threshold() int { return b.threshold }

// Allow admits a call or refuses it with ErrOpen. probe says the call is
// the half-open probe and must be reported to Done with probe=true.
func (b *Breaker) Allow(now int64) (probe bool, err error) {
	if b.threshold == 0 || b.state.Load() == stateClosed {
		return false, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state.Load() {
	case stateClosed:
		return false, nil
	case stateOpen:
		if now < b.until {
			return false, ErrOpen
		}
		b.state.Store(stateHalfOpen)
	}
	if b.probing {
		return false, ErrOpen
	}
	b.probing = true
	return true, nil
}

// Done reports the outcome of a call admitted by Allow.
func (b *Breaker) Done(o Outcome, probe bool, now int64) {
	if b.threshold == 0 {
		return
	}
	if !probe && (o == Neutral || (o == Success && b.fails.Load() == 0)) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
		switch o {
		case Success:
			b.fails.Store(0)
			b.state.Store(stateClosed)
		case Failure:
			b.until = now + b.openFor
			b.state.Store(stateOpen)
		}
		return
	}
	// Results of calls admitted before the circuit opened do not move it;
	// only the probe does.
	if b.state.Load() != stateClosed {
		return
	}
	switch o {
	case Success:
		b.fails.Store(0)
	case Failure:
		if int(b.fails.Add(1)) >= b.threshold {
			b.fails.Store(0)
			b.until = now + b.openFor
			b.state.Store(stateOpen)
		}
	}
}

// Describe names the state; an open circuit whose time is up is reported
// as half-open because the next call will probe.
func (b *Breaker) Describe(now int64) string {
	if b.threshold == 0 {
		return Closed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state.Load() {
	case stateOpen:
		if now >= b.until {
			return HalfOpen
		}
		return Open
	case stateHalfOpen:
		return HalfOpen
	}
	return Closed
}
