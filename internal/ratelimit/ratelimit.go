// Package ratelimit decides whether a request may pass under a rate-limit
// policy, with GCRA (the generic cell rate algorithm).
//
// GCRA keeps one number per key: the theoretical arrival time (TAT), the
// moment the key's bucket would be full again if no more requests came. A
// request is allowed when the TAT it would push forward stays within the
// burst tolerance of now. Unlike fixed windows there is no window edge at
// which a client can spend two windows' budget back to back, and unlike a
// token bucket one integer is the whole state, so the Redis limiter can keep
// it in a plain string key updated by one script.
//
// Local keeps the TATs in memory for one gateway; Redis keeps them in Redis so
// that several gateways share each bucket. Both run the same arithmetic and
// give the same Decision for the same sequence of requests.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Limiter decides for a key under one policy.
type Limiter interface {
	Allow(ctx context.Context, key string) (Decision, error)
}

// Decision is the outcome for one request.
type Decision struct {
	Allowed    bool
	Remaining  int           // requests still allowed right now (for RateLimit headers)
	RetryAfter time.Duration // when !Allowed: how long until one request is allowed
	ResetAfter time.Duration // until the bucket is full again
}

// Limit is a GCRA policy: Rate events per Period, of which Burst may come at once.
// 100 per minute with a burst of 20 lets a client send 20 requests at once and
// then one every 600 ms.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// maxRefill bounds Burst × Period/Rate, the time an empty bucket takes to fill.
// The Redis script does its arithmetic in Lua's doubles, relative to now; they
// hold integers exactly up to 2^53 ns (about 104 days), and a month is far past
// any limit a gateway needs.
const maxRefill = 30 * 24 * time.Hour

// Validate reports whether l can be enforced.
func (l Limit) Validate() error {
	_, err := l.gcra()
	return err
}

// gcra is a Limit in the form the algorithm uses.
type gcra struct {
	emission  int64 // ns between two requests at the sustained rate: Period/Rate
	tolerance int64 // ns of credit a full bucket holds: Burst × emission
}

func (l Limit) gcra() (gcra, error) {
	switch {
	case l.Rate < 1:
		return gcra{}, fmt.Errorf("limit: rate must be at least 1, got %d", l.Rate)
	case l.Period <= 0:
		return gcra{}, fmt.Errorf("limit: period must be positive, got %v", l.Period)
	case l.Burst < 1:
		return gcra{}, fmt.Errorf("limit: burst must be at least 1, got %d", l.Burst)
	case int64(l.Rate) > int64(l.Period):
		return gcra{}, fmt.Errorf("limit: %d per %v is more than one per nanosecond", l.Rate, l.Period)
	}
	// Integer division: 3/s becomes one every 333333333 ns. Local and Redis
	// both use this same emission interval, so they agree to the nanosecond.
	e := int64(l.Period) / int64(l.Rate)
	if int64(l.Burst) > int64(maxRefill)/e {
		return gcra{}, fmt.Errorf("limit: burst %d at %d per %v takes longer than %v to refill", l.Burst, l.Rate, l.Period, maxRefill)
	}
	return gcra{emission: e, tolerance: int64(l.Burst) * e}, nil
}

// decide is one GCRA step at now for a key whose TAT is tat (now, or earlier,
// for a key never seen or at full burst). It returns the decision and the TAT
// to store; a refused request leaves the TAT as it was.
func (g gcra) decide(tat, now int64) (Decision, int64) {
	tat = max(tat, now)
	newTAT := tat + g.emission
	allowAt := newTAT - g.tolerance
	if now < allowAt {
		return Decision{RetryAfter: time.Duration(allowAt - now), ResetAfter: time.Duration(tat - now)}, tat
	}
	return Decision{
		Allowed:    true,
		Remaining:  int((now - allowAt) / g.emission),
		ResetAfter: time.Duration(newTAT - now),
	}, newTAT
}

// ParseRate parses a rate as written in the config: a positive count, a slash
// and a unit, one of s, m, h or d ("100/m", "10/s", "5000/h", "1/d").
func ParseRate(s string) (rate int, period time.Duration, err error) {
	count, unit, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("parse rate %q: want <count>/<unit>, e.g. 100/m", s)
	}
	switch unit {
	case "s":
		period = time.Second
	case "m":
		period = time.Minute
	case "h":
		period = time.Hour
	case "d":
		period = 24 * time.Hour
	default:
		return 0, 0, fmt.Errorf("parse rate %q: unit must be s, m, h or d", s)
	}
	// Digits only: Atoi alone would also take "+5" and, for a config value,
	// one spelling is enough.
	if count == "" || strings.TrimLeft(count, "0123456789") != "" {
		return 0, 0, fmt.Errorf("parse rate %q: count must be a positive integer", s)
	}
	rate, err = strconv.Atoi(count)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, 0, fmt.Errorf("parse rate %q: count is too large", s)
		}
		return 0, 0, fmt.Errorf("parse rate %q: %w", s, err)
	}
	if rate < 1 {
		return 0, 0, fmt.Errorf("parse rate %q: count must be at least 1", s)
	}
	if int64(rate) > int64(period) {
		return 0, 0, fmt.Errorf("parse rate %q: more than one per nanosecond", s)
	}
	return rate, period, nil
}

// maxKeyLen is the longest client key kept as it is; longer ones are replaced by
// their SHA-256, so that a client choosing its own key (a header, a path
// parameter) cannot make each bucket cost kilobytes.
const maxKeyLen = 64

// sumKey is the SHA-256 of a client key. It reads the string's bytes in
// place: []byte(key) would copy a long key on every request, and Sum256 only
// reads its input.
func sumKey(key string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(key), len(key)))
}

// checkPolicy refuses policy names that would make two policies' Redis keys
// collide: with a ':' in it, policy "a:b" with client "c" and policy "a" with
// client "b:c" would share a bucket.
func checkPolicy(policy string) error {
	if policy == "" {
		return errors.New("policy name is empty")
	}
	if strings.Contains(policy, ":") {
		return fmt.Errorf("policy name %q contains ':'", policy)
	}
	return nil
}
