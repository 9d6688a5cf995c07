package ratelimit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-sec/rampart/internal/breaker"
	"github.com/rampart-sec/rampart/internal/redistest"
)

// testRedis is the test Redis with a key prefix of this test's own.
func testRedis(t testing.TB) (*redis.Client, string) { return redistest.Connect(t, "rampart:rl:test:") }

func newTestClient(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
}

func newTestRedis(t testing.TB, policy string, l Limit, c redis.UniversalClient, o RedisOptions) *Redis {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second // a loaded CI machine under -race: these tests are not about timeouts
	}
	r, err := NewRedis(policy, l, c, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// keys lists the Redis keys under prefix.
func keys(t *testing.T, c *redis.Client, prefix string) []string {
	t.Helper()
	ks, err := c.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// The script, with the clock pinned, decides exactly like Local.
func TestRedisSequences(t *testing.T) {
	c, prefix := testRedis(t)
	for _, seq := range sequences() {
		t.Run(seq.name, func(t *testing.T) {
			clock := newFakeClock()
			r := newTestRedis(t, "seq"+strings.ReplaceAll(seq.name, " ", "-"), seq.limit, c, RedisOptions{Prefix: prefix, now: clock.now})
			for i, st := range seq.steps {
				clock.set(st.at)
				got, err := r.Allow(context.Background(), st.key)
				if err != nil || got != st.want {
					t.Errorf("step %d (at %v, key %.8q): got %+v, %v; want %+v", i, st.at, st.key, got, err, st.want)
				}
			}
		})
	}
}

// On the server's own clock: a burst, a refusal, and the bucket's key expires
// when the bucket is full again.
func TestRedisServerClock(t *testing.T) {
	c, prefix := testRedis(t)
	ctx := context.Background()
	r := newTestRedis(t, "clock", Limit{Rate: 1, Period: time.Hour, Burst: 3}, c, RedisOptions{Prefix: prefix})
	for i, want := range []bool{true, true, true, false, false} {
		d, err := r.Allow(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed != want {
			t.Fatalf("request %d: %+v, want allowed=%v", i, d, want)
		}
		if want && d.Remaining != 2-i {
			t.Errorf("request %d: remaining %d, want %d", i, d.Remaining, 2-i)
		}
		if !want && (d.RetryAfter <= 0 || d.RetryAfter > time.Hour || d.ResetAfter <= 2*time.Hour || d.ResetAfter > 3*time.Hour) {
			t.Errorf("request %d: %+v: want a retry within 1h and a reset within 2h-3h", i, d)
		}
	}
	ttl, err := c.PTTL(ctx, prefix+"clock:alice").Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl <= 2*time.Hour || ttl > 3*time.Hour {
		t.Errorf("bucket TTL %v, want the reset time (just under 3h)", ttl)
	}
}

// Two policies never share a bucket, even for the same client key.
func TestRedisPolicyIsolation(t *testing.T) {
	c, prefix := testRedis(t)
	ctx := context.Background()
	l := Limit{Rate: 1, Period: time.Hour, Burst: 2}
	orders := newTestRedis(t, "orders", l, c, RedisOptions{Prefix: prefix})
	accounts := newTestRedis(t, "accounts", l, c, RedisOptions{Prefix: prefix})
	for range 2 {
		if d, err := orders.Allow(ctx, "alice"); err != nil || !d.Allowed {
			t.Fatalf("orders: %+v, %v", d, err)
		}
	}
	if d, _ := orders.Allow(ctx, "alice"); d.Allowed {
		t.Fatal("orders: third request allowed with burst 2")
	}
	for i := range 2 {
		if d, err := accounts.Allow(ctx, "alice"); err != nil || !d.Allowed || d.Remaining != 1-i {
			t.Errorf("accounts request %d after orders was exhausted: %+v, %v", i, d, err)
		}
	}
	got := keys(t, c, prefix)
	if len(got) != 2 {
		t.Errorf("keys %q, want %s and %s", got, prefix+"orders:alice", prefix+"accounts:alice")
	}
}

// Client keys the attacker chooses cannot make Redis keys big, and cannot
// name the bucket of a hashed key.
func TestRedisKeyHashing(t *testing.T) {
	c, prefix := testRedis(t)
	ctx := context.Background()
	r := newTestRedis(t, "p", Limit{Rate: 1, Period: time.Hour, Burst: 1}, c, RedisOptions{Prefix: prefix})
	long := strings.Repeat("A", 10_000)
	if d, _ := r.Allow(ctx, long); !d.Allowed {
		t.Fatal("long key: first request refused")
	}
	if d, _ := r.Allow(ctx, long); d.Allowed {
		t.Fatal("long key: second request allowed with burst 1: the hashed key is not stable")
	}
	ks := keys(t, c, prefix)
	if len(ks) != 1 || len(ks[0]) > len(prefix)+len("p:#")+43 {
		t.Fatalf("keys %q: want one key of at most %d bytes", ks, len(prefix)+len("p:#")+43)
	}
	hashed := strings.TrimPrefix(ks[0], prefix+"p:")
	if d, _ := r.Allow(ctx, hashed); !d.Allowed {
		t.Errorf("client key %q shares the bucket of the long key it is the hash of", hashed)
	}
	if d, _ := r.Allow(ctx, strings.Repeat("a", maxKeyLen)); !d.Allowed {
		t.Error("a key of maxKeyLen bytes was refused")
	}
	if _, err := c.Get(ctx, prefix+"p:"+strings.Repeat("a", maxKeyLen)).Result(); err != nil {
		t.Errorf("a key of maxKeyLen bytes is not stored as it is: %v", err)
	}
}

// Two gateways (two clients, two limiters) share one bucket.
func TestRedisSharedAcrossGateways(t *testing.T) {
	c1, prefix := testRedis(t)
	c2 := newTestClient(c1.Options().Addr)
	defer c2.Close()
	const burst = 20
	l := Limit{Rate: 1, Period: time.Hour, Burst: burst}
	gw := []*Redis{
		newTestRedis(t, "shared", l, c1, RedisOptions{Prefix: prefix}),
		newTestRedis(t, "shared", l, c2, RedisOptions{Prefix: prefix}),
	}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 25 {
				d, err := gw[g%2].Allow(context.Background(), "bob")
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != burst {
		t.Errorf("%d of 100 requests allowed across two gateways, want the burst, %d", n, burst)
	}
}

// Concurrent requests from two gateways at 100/s: the burst passes, plus at
// most what refilled between the first and the last script run.
func TestRedisConcurrentRefill(t *testing.T) {
	c1, prefix := testRedis(t)
	c2 := newTestClient(c1.Options().Addr)
	defer c2.Close()
	ctx := context.Background()
	l := Limit{Rate: 100, Period: time.Second, Burst: 50}
	gw := []*Redis{
		newTestRedis(t, "hammer", l, c1, RedisOptions{Prefix: prefix}),
		newTestRedis(t, "hammer", l, c2, RedisOptions{Prefix: prefix}),
	}
	before, err := c1.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var allowed, budget atomic.Int64
	budget.Store(500)
	var wg sync.WaitGroup
	for _, r := range gw {
		for range 4 {
			wg.Go(func() {
				for budget.Add(-1) >= 0 {
					d, err := r.Allow(ctx, "carol")
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						allowed.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	after, err := c1.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	elapsed := after.Sub(before)
	refill := int64(elapsed / (time.Second / 100))
	n := allowed.Load()
	t.Logf("%d of 500 allowed in %v (Redis TIME), at most %d refilled", n, elapsed, refill)
	if n < 50 || n > 50+refill+1 {
		t.Errorf("%d allowed in %v; want between 50 and %d", n, elapsed, 50+refill+1)
	}
}

func TestRedisUnreachable(t *testing.T) {
	// Port 1 on loopback: connection refused at once.
	for _, failOpen := range []bool{false, true} {
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
		var reported []error
		r, err := NewRedis("down", Limit{Rate: 1, Period: time.Second, Burst: 1}, c, RedisOptions{
			FailOpen: failOpen,
			OnError:  func(err error) { reported = append(reported, err) },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		d, err := r.Allow(ctx, "k")
		cancel()
		c.Close()
		if len(reported) != 1 || !strings.Contains(reported[0].Error(), `policy "down"`) {
			t.Errorf("FailOpen=%v: OnError got %v, want one error naming the policy", failOpen, reported)
		}
		if failOpen && (err != nil || !d.Allowed) {
			t.Errorf("FailOpen: got %+v, %v; want allowed", d, err)
		}
		if !failOpen && (err == nil || d.Allowed) {
			t.Errorf("fail closed: got %+v, %v; want an error", d, err)
		}
	}
}

// A Redis that accepts but never answers cannot hold a request past Timeout,
// even through a client that ignores context deadlines on reads (go-redis's
// default).
func TestRedisTimeout(t *testing.T) {
	addr := redistest.Hung(t)
	for _, failOpen := range []bool{false, true} {
		c := redis.NewClient(&redis.Options{Addr: addr})
		var reported atomic.Int32
		var last atomic.Value
		r, err := NewRedis("hung", Limit{Rate: 1, Period: time.Second, Burst: 1}, c, RedisOptions{
			FailOpen: failOpen,
			Timeout:  100 * time.Millisecond,
			OnError:  func(err error) { reported.Add(1); last.Store(err) },
		})
		if err != nil {
			t.Fatal(err)
		}
		// The test's own bound: if Allow only returned at this deadline,
		// OnError would not have been called.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		d, err := r.Allow(ctx, "k")
		elapsed := time.Since(start)
		cancel()
		t.Logf("FailOpen=%v: returned after %v", failOpen, elapsed)
		if reported.Load() != 1 {
			t.Fatalf("FailOpen=%v: OnError called %d times, want once (Allow returned at the test's deadline, not at Timeout?)", failOpen, reported.Load())
		}
		if e := last.Load().(error); !errors.Is(e, context.DeadlineExceeded) || !strings.Contains(e.Error(), "did not answer within 100ms") {
			t.Errorf("FailOpen=%v: OnError got %v, want a deadline error", failOpen, e)
		}
		if failOpen && (err != nil || !d.Allowed) {
			t.Errorf("FailOpen: got %+v, %v; want allowed", d, err)
		}
		if !failOpen && (err == nil || d.Allowed) {
			t.Errorf("fail closed: got %+v, %v; want an error", d, err)
		}
		c.Close()
	}
}

// A request whose own context ends is refused with that error, FailOpen or
// not, and is not reported as a Redis failure.
func TestRedisCallerCanceled(t *testing.T) {
	addr := redistest.Hung(t)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	var reported atomic.Int32
	r, err := NewRedis("p", Limit{Rate: 1, Period: time.Second, Burst: 1}, c, RedisOptions{
		FailOpen: true,
		Timeout:  10 * time.Second,
		OnError:  func(error) { reported.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := r.Allow(ctx, "k")
	if !errors.Is(err, context.Canceled) || d.Allowed {
		t.Errorf("got %+v, %v; want context.Canceled", d, err)
	}
	if reported.Load() != 0 {
		t.Error("OnError called for the caller's own cancellation")
	}
}

func TestNewRedisOptions(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	l := Limit{Rate: 1, Period: time.Second, Burst: 1}
	for name, f := range map[string]func() error{
		"nil client":       func() error { _, err := NewRedis("p", l, nil, RedisOptions{}); return err },
		"negative timeout": func() error { _, err := NewRedis("p", l, c, RedisOptions{Timeout: -1}); return err },
		"bad limit":        func() error { _, err := NewRedis("p", Limit{}, c, RedisOptions{}); return err },
		"colon in policy":  func() error { _, err := NewRedis("a:b", l, c, RedisOptions{}); return err },
		"negative break":   func() error { _, err := NewRedis("p", l, c, RedisOptions{BreakFor: -1}); return err },
	} {
		if f() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	r, err := NewRedis("p", l, c, RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.timeout != DefaultRedisTimeout || r.base != DefaultRedisPrefix+"p:" || r.failOpen || r.breaker.Threshold() != DefaultBreakAfter {
		t.Errorf("defaults: timeout %v, base %q, fail open %v, break after %d", r.timeout, r.base, r.failOpen, r.breaker.Threshold())
	}
	if off, _ := NewRedis("p", l, c, RedisOptions{BreakAfter: -1}); off.breaker.Threshold() != 0 {
		t.Error("BreakAfter -1 did not disable the breaker")
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	c, prefix := testRedis(b)
	r := newTestRedis(b, "bench", Limit{Rate: 1_000_000, Period: time.Second, Burst: 1_000_000}, c, RedisOptions{Prefix: prefix})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Allow(ctx, "client"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisAllowParallel(b *testing.B) {
	c, prefix := testRedis(b)
	r := newTestRedis(b, "bench", Limit{Rate: 1_000_000, Period: time.Second, Burst: 1_000_000}, c, RedisOptions{Prefix: prefix})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Allow(ctx, "client"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// A Redis that hangs opens the circuit breaker after BreakAfter failed
// decisions: the next ones take the configured failure path without asking
// Redis; after BreakFor one decision probes Redis again.
func TestRedisBreaker(t *testing.T) {
	addr := redistest.Hung(t)
	for _, failOpen := range []bool{false, true} {
		c := redis.NewClient(&redis.Options{Addr: addr})
		clock := newFakeClock()
		var reported []error
		r, err := NewRedis("hung", Limit{Rate: 1, Period: time.Second, Burst: 1}, c, RedisOptions{
			FailOpen: failOpen, Timeout: 50 * time.Millisecond, BreakAfter: 2, BreakFor: time.Minute,
			OnError: func(err error) { reported = append(reported, err) },
			now:     clock.now,
		})
		if err != nil {
			t.Fatal(err)
		}
		decide := func() error {
			d, err := r.Allow(context.Background(), "k")
			if failOpen && (err != nil || !d.Allowed) {
				t.Fatalf("FailOpen: got %+v, %v; want allowed", d, err)
			}
			if !failOpen && (err == nil || d.Allowed) {
				t.Fatalf("fail closed: got %+v, %v; want refused", d, err)
			}
			return reported[len(reported)-1]
		}
		for i := range 2 {
			if e := decide(); !errors.Is(e, context.DeadlineExceeded) {
				t.Fatalf("FailOpen=%v, decision %d: %v, want Redis's timeout", failOpen, i+1, e)
			}
		}
		if e := decide(); !errors.Is(e, breaker.ErrOpen) || !strings.Contains(e.Error(), `policy "hung"`) {
			t.Fatalf("FailOpen=%v: third decision reported %v, want the open circuit", failOpen, e)
		}
		clock.advance(time.Minute)
		if e := decide(); !errors.Is(e, context.DeadlineExceeded) {
			t.Fatalf("FailOpen=%v: after BreakFor: %v, want a probe of Redis", failOpen, e)
		}
		if e := decide(); !errors.Is(e, breaker.ErrOpen) {
			t.Fatalf("FailOpen=%v: after a failed probe: %v, want the circuit open again", failOpen, e)
		}
		if len(reported) != 5 {
			t.Fatalf("FailOpen=%v: OnError called %d times, want once per decision", failOpen, len(reported))
		}
		c.Close()
	}
	// The probe that finds Redis answering closes the circuit.
	live, prefix := testRedis(t)
	clock := newFakeClock()
	r := newTestRedis(t, "recover", Limit{Rate: 100, Period: time.Second, Burst: 100}, live, RedisOptions{Prefix: prefix, BreakAfter: 1, BreakFor: time.Minute, now: clock.now})
	r.breaker.Done(breaker.Failure, false, clock.now().UnixNano())
	if _, err := r.Allow(context.Background(), "k"); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("open circuit: %v", err)
	}
	clock.advance(time.Minute)
	for i := range 3 {
		if d, err := r.Allow(context.Background(), "k"); err != nil || !d.Allowed {
			t.Fatalf("decision %d after Redis came back: %+v %v", i, d, err)
		}
	}
}
