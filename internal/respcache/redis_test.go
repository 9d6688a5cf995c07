package respcache

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-sec/rampart/internal/breaker"
	"github.com/rampart-sec/rampart/internal/redistest"
)

// testRedis is the test Redis with a key prefix of this test's own.
func testRedis(t testing.TB) (*redis.Client, string) {
	return redistest.Connect(t, "rampart:cache:test:")
}

func newTestRedisStore(t testing.TB, c redis.UniversalClient, prefix string) *RedisStore {
	t.Helper()
	// A loaded CI machine under -race: these tests are not about timeouts.
	s, err := NewRedisStore(c, RedisOptions{Prefix: prefix, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Entries round-trip through Redis under the route's namespace, with the
// entry's freshness as the key's expiry.
func TestRedisStore(t *testing.T) {
	c, prefix := testRedis(t)
	s := newTestRedisStore(t, c, prefix)
	ctx := context.Background()
	key := "orders\x00rest-of-key"
	if e, err := s.Get(ctx, key); e != nil || err != nil {
		t.Fatalf("empty store: %v, %v", e, err)
	}
	want := testEntry(key, 1000)
	if err := s.Set(ctx, key, want, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, key)
	if err != nil || got == nil || got.Key != key || string(got.Body) != string(want.Body) || got.Header.Get("X-Multi") != "a" {
		t.Fatalf("got %+v, %v", got, err)
	}
	ks, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 1 || !strings.HasPrefix(ks[0], prefix+"orders:") || len(ks[0]) != len(prefix+"orders:")+43 {
		t.Fatalf("keys %q, want one %sorders:<hash>", ks, prefix)
	}
	if ttl := c.PTTL(ctx, ks[0]).Val(); ttl <= 80*time.Second || ttl > 90*time.Second {
		t.Errorf("expiry %v, want just under 90s", ttl)
	}
	// Corrupt values are errors (the cache counts them and misses).
	if err := c.Set(ctx, ks[0], "garbage", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Get(ctx, key); e != nil || err == nil {
		t.Errorf("corrupt value: %v, %v; want an error", e, err)
	}
	// The size cap.
	small, _ := NewRedisStore(c, RedisOptions{Prefix: prefix, MaxValue: 100})
	if err := small.Set(ctx, key, want, time.Minute); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over MaxValue: %v, want ErrTooLarge", err)
	}
}

// Two gateways with their own clients share answers through Redis; a private
// answer is still only for its principal.
func TestRedisSharedAcrossGateways(t *testing.T) {
	c1, prefix := testRedis(t)
	c2 := redis.NewClient(&redis.Options{Addr: c1.Options().Addr, ContextTimeoutEnabled: true})
	defer c2.Close()
	respond := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private")
		_, _ = w.Write([]byte("for " + r.Header.Get("X-Who")))
	}
	p := Policy{TTL: time.Minute}
	g1 := newFixture(t, p, Options{Store: newTestRedisStore(t, c1, prefix)}, respond)
	g2 := newFixture(t, p, Options{Store: newTestRedisStore(t, c2, prefix)}, respond)
	g2.clock = g1.clock
	g2.h.c.now = g1.clock.now

	g1.get("/me", alice, "X-Who", "alice")
	if w := g2.get("/me", alice, "X-Who", "alice"); !isHit(w) || w.Body.String() != "for alice" {
		t.Errorf("second gateway: %q %q", cacheStatus(w), w.Body)
	}
	if w := g2.get("/me", bob, "X-Who", "bob"); isHit(w) || w.Body.String() != "for bob" {
		t.Errorf("bob: %q %q", cacheStatus(w), w.Body)
	}
	g1.clock.advance(time.Minute)
	if w := g2.get("/me", alice, "X-Who", "alice"); isHit(w) {
		t.Error("served after the TTL")
	}
}

// A Redis that refuses connections: every request is a miss answered by the
// upstream, each failure counted and reported.
func TestRedisUnreachable(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, ContextTimeoutEnabled: true})
	defer c.Close()
	s, err := NewRedisStore(c, RedisOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{Store: s}, answer(200, "ok", "Cache-Control", "public"))
	for range 2 {
		if w := f.get("/", nil); w.Code != 200 || w.Body.String() != "ok" {
			t.Fatalf("%d %q", w.Code, w.Body)
		}
	}
	if st := f.h.Stats(); st.Misses != 2 || st.StoreErrors != 4 || st.Stored != 0 {
		t.Errorf("stats %+v, want 2 misses and 4 store errors (a get and a set each)", st)
	}
	select {
	case e := <-f.events:
		if e.Reason != ReasonStoreError || e.Err == nil || !strings.Contains(e.Err.Error(), `route "r"`) {
			t.Errorf("event %+v", e)
		}
	default:
		t.Error("no event")
	}
}

// forwarder relays TCP connections to addr until stop is called, which
// closes the listener and every relayed connection: a Redis going away.
func forwarder(t *testing.T, addr string) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", addr)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ln.Close()
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// A Redis that stops while the gateway runs: answers from it stop, requests
// are misses served by the upstream, never errors.
func TestRedisStopped(t *testing.T) {
	direct, prefix := testRedis(t)
	addr, stop := forwarder(t, direct.Options().Addr)
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, ContextTimeoutEnabled: true})
	defer c.Close()
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{Store: newTestRedisStore(t, c, prefix)},
		answer(200, "ok", "Cache-Control", "public"))
	f.get("/", nil)
	if w := f.get("/", nil); !isHit(w) {
		t.Fatalf("before the stop: %q", cacheStatus(w))
	}
	stop()
	for range 2 {
		if w := f.get("/", nil); w.Code != 200 || w.Body.String() != "ok" || isHit(w) {
			t.Errorf("after the stop: %d %q %q", w.Code, w.Body, cacheStatus(w))
		}
	}
	if st := f.h.Stats(); st.StoreErrors < 2 || st.Misses != 3 {
		t.Errorf("stats %+v, want 3 misses and store errors", st)
	}
}

// A Redis that accepts connections and never answers holds a request no
// longer than the store's timeout, and is a miss.
func TestRedisHung(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: redistest.Hung(t), MaxRetries: -1, ContextTimeoutEnabled: true})
	defer c.Close()
	s, _ := NewRedisStore(c, RedisOptions{Timeout: 20 * time.Millisecond})
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{Store: s}, answer(200, "ok", "Cache-Control", "public"))
	start := time.Now()
	w := f.get("/", nil)
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
	// Generous: the point is that it returns at all, not how fast.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v with a 20ms store timeout", d)
	}
	if st := f.h.Stats(); st.StoreErrors != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestNewRedisStoreRefuses(t *testing.T) {
	if _, err := NewRedisStore(nil, RedisOptions{}); err == nil {
		t.Error("nil client accepted")
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for _, o := range []RedisOptions{{Timeout: -1}, {MaxValue: -1}} {
		if _, err := NewRedisStore(c, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// After BreakAfter failed calls the store stops asking a hung Redis: Get
// and Set fail at once with the open circuit, and the cache serves misses.
func TestRedisBreakerSkipsAHungRedis(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: redistest.Hung(t), MaxRetries: -1, ContextTimeoutEnabled: true})
	defer c.Close()
	s, err := NewRedisStore(c, RedisOptions{Timeout: 20 * time.Millisecond, BreakAfter: 2, BreakFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 2 {
		if _, err := s.Get(ctx, "r\x00k"); err == nil || errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("call %d: %v, want Redis's timeout", i+1, err)
		}
	}
	if _, err := s.Get(ctx, "r\x00k"); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Get with the circuit open: %v", err)
	}
	if err := s.Set(ctx, "r\x00k", &Entry{Status: 200}, time.Minute); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Set with the circuit open: %v", err)
	}
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{Store: s}, answer(200, "ok", "Cache-Control", "public"))
	if w := f.get("/", nil); w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
	if _, err := NewRedisStore(c, RedisOptions{BreakFor: -1}); err == nil {
		t.Fatal("negative BreakFor accepted")
	}
}
