package ratelimit

import (
	"context"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rampart-sec/rampart/internal/breaker"
	"github.com/redis/go-redis/v9"
)

// Defaults for RedisOptions.
const (
	DefaultRedisPrefix  = "rampart:rl:"
	DefaultRedisTimeout = 50 * time.Millisecond
	// DefaultBreakAfter and DefaultBreakFor are the Redis limiter's circuit
	// breaker: 5 failed decisions in a row stop it asking Redis for 1 s.
	DefaultBreakAfter = 5
	DefaultBreakFor   = time.Second
)

//go:embed gcra.lua
var gcraScript string

// RedisOptions tunes a Redis limiter. The zero value fails closed.
type RedisOptions struct {
	// FailOpen allows requests when Redis cannot answer in time (and calls
	// OnError); otherwise Allow returns the error and the gateway refuses
	// the request. Either way it is a choice the config states.
	FailOpen bool
	// Prefix starts every key (DefaultRedisPrefix when empty). Keys are
	// Prefix + policy + ":" + client key.
	Prefix string
	// Timeout bounds each decision, Redis round trip included
	// (DefaultRedisTimeout when 0).
	Timeout time.Duration
	// OnError, if set, is called with every Redis failure, in the request's
	// goroutine, so the gateway can count it and emit an event. It must not block.
	OnError func(error)
	// BreakAfter consecutive failures open a circuit breaker for BreakFor:
	// decisions then skip Redis and take the failure path at once (FailOpen
	// or not), instead of each waiting up to Timeout for a Redis that hangs;
	// after BreakFor one decision probes Redis again. 0 takes the defaults
	// (DefaultBreakAfter, DefaultBreakFor); a negative BreakAfter disables it.
	BreakAfter int
	BreakFor   time.Duration

	now func() time.Time // tests pin the clock the script uses instead of Redis TIME
}

// Redis is a GCRA limiter for one policy whose buckets live in Redis, so that
// every gateway using the same Redis and policy shares them. Each decision is
// one script run (EVALSHA, or EVAL if Redis lost the script) on the server's
// clock. It is safe for concurrent use.
//
// It needs Redis 5 or later (scripts that call TIME before writing). If
// Redis evicts a bucket under memory pressure, that client starts again with
// a full bucket.
type Redis struct {
	policy   string
	g        gcra
	client   redis.UniversalClient
	script   *redis.Script
	base     string // Prefix + policy + ":"
	failOpen bool
	timeout  time.Duration
	onError  func(error)
	now      func() time.Time
	breaker  *breaker.Breaker
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter enforcing l for the policy in Redis through c.
// It does no I/O: an unreachable Redis shows up in Allow.
//
// Allow bounds its wait at Timeout whatever c's options, but a client without
// ContextTimeoutEnabled keeps waiting for an abandoned reply in the
// background, holding a pooled connection, until its own ReadTimeout; set
// ContextTimeoutEnabled so the connection is released at Timeout too.
func NewRedis(policy string, l Limit, c redis.UniversalClient, o RedisOptions) (*Redis, error) {
	if err := checkPolicy(policy); err != nil {
		return nil, fmt.Errorf("new redis rate limiter: %w", err)
	}
	g, err := l.gcra()
	if err != nil {
		return nil, fmt.Errorf("new redis rate limiter for policy %q: %w", policy, err)
	}
	if c == nil {
		return nil, fmt.Errorf("new redis rate limiter for policy %q: no redis client", policy)
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("new redis rate limiter for policy %q: timeout must not be negative, got %v", policy, o.Timeout)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultRedisTimeout
	}
	if o.Prefix == "" {
		o.Prefix = DefaultRedisPrefix
	}
	if o.BreakFor < 0 {
		return nil, fmt.Errorf("new redis rate limiter for policy %q: break_for must not be negative, got %v", policy, o.BreakFor)
	}
	switch {
	case o.BreakAfter == 0:
		o.BreakAfter = DefaultBreakAfter
	case o.BreakAfter < 0:
		o.BreakAfter = 0
	}
	if o.BreakFor == 0 {
		o.BreakFor = DefaultBreakFor
	}
	return &Redis{
		policy:   policy,
		g:        g,
		client:   c,
		script:   redis.NewScript(gcraScript),
		base:     o.Prefix + policy + ":",
		failOpen: o.FailOpen,
		timeout:  o.Timeout,
		onError:  o.OnError,
		now:      o.now,
		breaker:  breaker.New(o.BreakAfter, int64(o.BreakFor)),
	}, nil
}

// result carries a script run's outcome out of its goroutine.
type result struct {
	d   Decision
	err error
}

// Allow decides for key and records the request when it is allowed. When
// Redis fails or does not answer within Timeout, it returns an allowed
// Decision (with zero Remaining, RetryAfter and ResetAfter, which are unknown)
// if FailOpen is set, and the error otherwise. When ctx ends first (the
// client went away) it returns ctx's error, FailOpen or not, and does not
// call OnError: Redis did nothing wrong. While the circuit breaker is open
// (BreakAfter) it does not ask Redis and takes the failure path at once.
func (r *Redis) Allow(ctx context.Context, key string) (Decision, error) {
	probe, err := r.breaker.Allow(r.clock())
	if err != nil {
		return r.failed(fmt.Errorf("rate limit policy %q: redis skipped after %d failures in a row: %w", r.policy, r.breaker.Threshold(), err))
	}
	d, o, err := r.decide(ctx, key)
	r.breaker.Done(o, probe, r.clock())
	return d, err
}

// clock is the breaker's time: the test clock when one is set.
func (r *Redis) clock() int64 {
	if r.now != nil {
		return r.now().UnixNano()
	}
	return time.Now().UnixNano()
}

// failed reports a Redis failure and applies the configured choice.
func (r *Redis) failed(err error) (Decision, error) {
	if r.onError != nil {
		r.onError(err)
	}
	if r.failOpen {
		return Decision{Allowed: true}, nil
	}
	return Decision{}, err
}

// decide asks Redis, and says what the call tells the breaker.
func (r *Redis) decide(ctx context.Context, key string) (Decision, breaker.Outcome, error) {
	rctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	k := r.bucketKey(key)
	// The script runs in its own goroutine so that Allow returns at the
	// deadline even when the client ignores contexts during socket reads
	// (go-redis does unless ContextTimeoutEnabled is set). The channel is
	// buffered: an abandoned run finishes without anyone receiving.
	done := make(chan result, 1)
	go func() {
		d, err := r.run(rctx, k)
		done <- result{d, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-rctx.Done():
		res.err = rctx.Err()
	}
	if res.err == nil {
		return res.d, breaker.Success, nil
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, breaker.Neutral, fmt.Errorf("rate limit policy %q: %w", r.policy, err)
	}
	var err error
	if errors.Is(res.err, context.DeadlineExceeded) {
		err = fmt.Errorf("rate limit policy %q: redis did not answer within %v: %w", r.policy, r.timeout, res.err)
	} else {
		err = fmt.Errorf("rate limit policy %q: run GCRA script in redis: %w", r.policy, res.err)
	}
	d, err := r.failed(err)
	return d, breaker.Failure, err
}

func (r *Redis) run(ctx context.Context, key string) (Decision, error) {
	args := []any{r.g.emission, r.g.tolerance}
	if r.now != nil {
		t := r.now()
		args = append(args, t.Unix(), t.Nanosecond())
	}
	v, err := r.script.Run(ctx, r.client, []string{key}, args...).Int64Slice()
	if err != nil {
		return Decision{}, err
	}
	if len(v) != 4 || v[0] < 0 || v[0] > 1 || v[1] < 0 || v[2] < 0 || v[3] < 0 {
		return Decision{}, fmt.Errorf("unexpected script reply %v", v)
	}
	return Decision{
		Allowed:    v[0] == 1,
		Remaining:  int(v[1]),
		RetryAfter: time.Duration(v[2]),
		ResetAfter: time.Duration(v[3]),
	}, nil
}

// bucketKey is the Redis key of key's bucket. Client keys longer than
// maxKeyLen become '#' and their SHA-256 in base64, so a client choosing its
// key cannot make a bucket big; keys that start with '#' are hashed too, so a
// client cannot send the hashed form of someone else's long key and share
// their bucket.
func (r *Redis) bucketKey(key string) string {
	if len(key) <= maxKeyLen && !strings.HasPrefix(key, "#") {
		return r.base + key
	}
	sum := sumKey(key)
	return r.base + "#" + base64.RawURLEncoding.EncodeToString(sum[:])
}
