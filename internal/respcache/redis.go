package respcache

import (
	"context"
	"crypto/sha256"
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
	DefaultRedisPrefix   = "rampart:cache:"
	DefaultRedisTimeout  = 50 * time.Millisecond
	DefaultRedisMaxValue = 2 << 20
)

// RedisOptions tune a RedisStore.
type RedisOptions struct {
	// Prefix starts every Redis key (DefaultRedisPrefix when empty). Keys
	// are Prefix + route + ":" + the base64url SHA-256 of the cache key.
	Prefix string
	// Timeout bounds each Redis call (DefaultRedisTimeout when 0). The
	// client should set ContextTimeoutEnabled, or go-redis waits for a
	// late reply until its own ReadTimeout.
	Timeout time.Duration
	// BreakAfter failed calls in a row open a circuit breaker for BreakFor:
	// Get and Set then fail at once (a miss, and no store) instead of each
	// waiting Timeout for a Redis that hangs; after BreakFor one call probes
	// Redis again. 0 takes the defaults (5 calls, 1 s); a negative
	// BreakAfter disables it.
	BreakAfter int
	BreakFor   time.Duration
	// MaxValue bounds an encoded entry (DefaultRedisMaxValue when 0);
	// larger ones are not stored.
	MaxValue int
}

// RedisStore keeps entries in Redis, shared by every gateway that uses the
// same Redis and prefix. Each entry is one string value with the entry's
// freshness as its expiry. It is safe for concurrent use.
//
// The value holds the whole cache key and Get hands it back for the cache
// to compare, so two keys with one hash can never share an answer. Anyone
// who can write to the Redis can still plant answers: give the gateway its
// own Redis or ACL user.
type RedisStore struct {
	client   redis.UniversalClient
	prefix   string
	timeout  time.Duration
	maxValue int
	breaker  *breaker.Breaker
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a store in Redis through c. It does no I/O: an
// unreachable Redis shows up as errors from Get and Set.
func NewRedisStore(c redis.UniversalClient, o RedisOptions) (*RedisStore, error) {
	switch {
	case c == nil:
		return nil, errors.New("new redis cache store: no redis client")
	case o.Timeout < 0:
		return nil, fmt.Errorf("new redis cache store: timeout must not be negative, got %v", o.Timeout)
	case o.MaxValue < 0:
		return nil, fmt.Errorf("new redis cache store: max value must not be negative, got %d", o.MaxValue)
	case o.BreakFor < 0:
		return nil, fmt.Errorf("new redis cache store: break_for must not be negative, got %v", o.BreakFor)
	}
	switch {
	case o.BreakAfter == 0:
		o.BreakAfter = 5
	case o.BreakAfter < 0:
		o.BreakAfter = 0
	}
	if o.BreakFor == 0 {
		o.BreakFor = time.Second
	}
	if o.Prefix == "" {
		o.Prefix = DefaultRedisPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultRedisTimeout
	}
	if o.MaxValue == 0 {
		o.MaxValue = DefaultRedisMaxValue
	}
	return &RedisStore{client: c, prefix: o.Prefix, timeout: o.Timeout, maxValue: o.MaxValue,
		breaker: breaker.New(o.BreakAfter, int64(o.BreakFor))}, nil
}

// redisKey is the Redis key for a cache key: the route in clear (so an
// operator can see and delete a route's entries), then a fixed-size hash.
func (s *RedisStore) redisKey(key string) string {
	route, _, _ := strings.Cut(key, "\x00")
	sum := sha256.Sum256([]byte(key))
	return s.prefix + route + ":" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Get returns the entry under key, or nil when there is none.
func (s *RedisStore) Get(ctx context.Context, key string) (*Entry, error) {
	var b []byte
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		b, err = s.client.Get(ctx, s.redisKey(key)).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redis GET: %w", err)
	}
	e, err := decodeEntry(b)
	if err != nil {
		return nil, fmt.Errorf("redis GET: %w", err)
	}
	return e, nil
}

// Set keeps e under key for ttl.
func (s *RedisStore) Set(ctx context.Context, key string, e *Entry, ttl time.Duration) error {
	b := encodeEntry(e)
	if len(b) > s.maxValue {
		return fmt.Errorf("redis cache store: entry of %d bytes, limit %d: %w", len(b), s.maxValue, ErrTooLarge)
	}
	err := s.call(ctx, func(ctx context.Context) error { return s.client.Set(ctx, s.redisKey(key), b, ttl).Err() })
	if err != nil {
		return fmt.Errorf("redis SET: %w", err)
	}
	return nil
}

// call runs one Redis command within the store's timeout, through the
// circuit breaker. A missing key is an answer, and the caller going away
// says nothing about Redis.
func (s *RedisStore) call(ctx context.Context, fn func(context.Context) error) error {
	probe, err := s.breaker.Allow(time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("skipped after %d failures in a row: %w", s.breaker.Threshold(), err)
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err = fn(rctx)
	o := breaker.Success
	switch {
	case err == nil, errors.Is(err, redis.Nil):
	case ctx.Err() != nil:
		o = breaker.Neutral
	default:
		o = breaker.Failure
	}
	s.breaker.Done(o, probe, time.Now().UnixNano())
	return err
}
