package upstream

import (
	"sync"
	"sync/atomic"
)

// Circuit states as reported by Pool.CircuitState.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half_open"
)

const (
	stateClosed int32 = iota
	stateOpen
	stateHalfOpen
)

// breaker is the pool-wide circuit breaker: threshold consecutive failed
// requests open it for openFor, then one probe request decides whether it
// closes or opens again. A zero threshold disables it.
type breaker struct {
	threshold int
	openFor   int64

	// state and fails are read without the lock on the hot path so that a
	// healthy pool never takes it.
	state atomic.Int32
	fails atomic.Int32

	mu      sync.Mutex
	until   int64
	probing bool
}

// allow admits a request or refuses it with ErrCircuitOpen. probe says the
// request is the half-open probe and must be reported with probe=true.
func (b *breaker) allow(now int64) (probe bool, err error) {
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
			return false, ErrCircuitOpen
		}
		b.state.Store(stateHalfOpen)
	}
	if b.probing {
		return false, ErrCircuitOpen
	}
	b.probing = true
	return true, nil
}

// done reports the outcome of a request admitted by allow.
func (b *breaker) done(o outcome, probe bool, now int64) {
	if b.threshold == 0 {
		return
	}
	if !probe && (o == neutral || (o == success && b.fails.Load() == 0)) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
		switch o {
		case success:
			b.fails.Store(0)
			b.state.Store(stateClosed)
		case failure:
			b.until = now + b.openFor
			b.state.Store(stateOpen)
		}
		return
	}
	// Results of requests admitted before the circuit opened do not move it;
	// only the probe does.
	if b.state.Load() != stateClosed {
		return
	}
	switch o {
	case success:
		b.fails.Store(0)
	case failure:
		if int(b.fails.Add(1)) >= b.threshold {
			b.fails.Store(0)
			b.until = now + b.openFor
			b.state.Store(stateOpen)
		}
	}
}

// describe names the state; an open circuit whose time is up is reported as
// half-open because the next request will probe.
func (b *breaker) describe(now int64) string {
	if b.threshold == 0 {
		return CircuitClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state.Load() {
	case stateOpen:
		if now >= b.until {
			return CircuitHalfOpen
		}
		return CircuitOpen
	case stateHalfOpen:
		return CircuitHalfOpen
	}
	return CircuitClosed
}
