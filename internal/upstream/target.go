package upstream

import (
	"sync"
	"sync/atomic"

	"github.com/rampart-sec/rampart/internal/breaker"
)

// outcome is what one attempt or one request tells the failure detectors
// (passive ejection and the circuit breaker).
type outcome = breaker.Outcome

const (
	// neutral says nothing about the upstream: the client went away or no
	// target was tried.
	neutral = breaker.Neutral
	success = breaker.Success
	failure = breaker.Failure
)

// target is one upstream address and everything known about its health.
type target struct {
	key    string // scheme://host, as reported in Status and OnHealthChange
	scheme string
	host   string
	health string // URL of the active check; "" when checks are off

	inFlight atomic.Int64
	// healthy is the verdict of active checks. Targets start healthy so a
	// fresh pool serves at once; a dead target is found by the first checks
	// or by passive ejection.
	healthy atomic.Bool
	// ejected is set by passive ejection and cleared only when a probe
	// request succeeds; until (pool clock) ends the window without traffic,
	// after which probing admits exactly one request.
	ejected atomic.Bool
	until   atomic.Int64
	probing atomic.Bool

	mu    sync.Mutex // guards fails and transitions of ejected
	fails int        // consecutive passive failures

	// Only the health-check goroutine of this target touches these.
	checkPasses, checkFails int

	// notifyMu serializes OnHealthChange calls; reported is the last state
	// sent. notifyPending hands work to whoever holds notifyMu so that no
	// caller ever waits for it.
	notifyMu      sync.Mutex
	notifyPending atomic.Bool
	reported      bool
}

// up is the state OnHealthChange reports.
func (t *target) up() bool { return t.healthy.Load() && !t.ejected.Load() }

// usable reports whether a request may be sent to t now without claiming
// anything.
func (t *target) usable(now int64) bool {
	if !t.healthy.Load() {
		return false
	}
	if !t.ejected.Load() {
		return true
	}
	return now >= t.until.Load() && !t.probing.Load()
}

// claim reserves t for one request. For an ejected target whose window is
// over it takes the single probe slot; probe tells the caller to report the
// result with probe=true.
func (t *target) claim(now int64) (ok, probe bool) {
	if !t.healthy.Load() {
		return false, false
	}
	if !t.ejected.Load() {
		return true, false
	}
	if now < t.until.Load() || !t.probing.CompareAndSwap(false, true) {
		return false, false
	}
	return true, true
}

// record applies the result of one attempt to passive ejection. threshold 0
// disables ejection. It returns whether the usable state changed so the
// caller can notify outside the lock.
func (t *target) record(o outcome, probe bool, threshold int, ejectFor, now int64) (changed bool) {
	if threshold == 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if probe {
		switch o {
		case success:
			t.fails = 0
			t.ejected.Store(false)
			changed = true
		case failure:
			t.fails++
			t.until.Store(now + ejectFor)
		}
		t.probing.Store(false)
		return changed
	}
	// Requests sent before the ejection finish late; only the probe decides
	// what happens to an ejected target.
	if t.ejected.Load() {
		return false
	}
	switch o {
	case success:
		t.fails = 0
	case failure:
		t.fails++
		if t.fails >= threshold {
			t.until.Store(now + ejectFor)
			t.ejected.Store(true)
			changed = true
		}
	}
	return changed
}

func (t *target) consecutiveFailures() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fails
}
