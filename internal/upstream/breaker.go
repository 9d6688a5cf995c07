package upstream

import "github.com/rampart-sec/rampart/internal/breaker"

// Circuit states as reported by Pool.CircuitState.
const (
	CircuitClosed   = breaker.Closed
	CircuitOpen     = breaker.Open
	CircuitHalfOpen = breaker.HalfOpen
)
