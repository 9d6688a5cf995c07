package ratelimit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestLocal(t testing.TB, l Limit, maxKeys int) (*Local, *fakeClock) {
	t.Helper()
	c := newFakeClock()
	lim, err := NewLocal("test", l, LocalOptions{MaxKeys: maxKeys, now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return lim, c
}

func TestLocalSequences(t *testing.T) {
	for _, seq := range sequences() {
		t.Run(seq.name, func(t *testing.T) {
			lim, c := newTestLocal(t, seq.limit, 0)
			for i, st := range seq.steps {
				c.set(st.at)
				got, err := lim.Allow(context.Background(), st.key)
				if err != nil || got != st.want {
					t.Errorf("step %d (at %v, key %.8q): got %+v, %v; want %+v", i, st.at, st.key, got, err, st.want)
				}
			}
		})
	}
}

// count returns how many keys l remembers.
func (l *Local) count() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.short) + len(s.long)
		s.mu.Unlock()
	}
	return n
}

func TestLocalMaxKeys(t *testing.T) {
	// 1/h: every key stays live (limited) for the whole test, so only the
	// arbitrary eviction can keep the bound.
	slow := Limit{Rate: 1, Period: time.Hour, Burst: 1}
	for _, maxKeys := range []int{1, 10, 16, 100, 1000, 5000} {
		lim, _ := newTestLocal(t, slow, maxKeys)
		for i := range 20 * maxKeys {
			key := strconv.Itoa(i)
			if i%3 == 0 {
				key = strings.Repeat("long", 20) + key
			}
			d, _ := lim.Allow(context.Background(), key)
			if !d.Allowed {
				t.Fatalf("MaxKeys %d: new key %d refused", maxKeys, i)
			}
			if i%max(maxKeys/16, 1) != 0 && i != 20*maxKeys-1 {
				continue
			}
			if n := lim.count(); n > maxKeys {
				t.Fatalf("MaxKeys %d: %d keys remembered after %d", maxKeys, n, i+1)
			}
		}
	}
	lim, _ := newTestLocal(t, slow, 0)
	for i := range DefaultMaxKeys * 5 / 4 {
		lim.Allow(context.Background(), strconv.Itoa(i))
	}
	if n := lim.count(); n > DefaultMaxKeys || n < DefaultMaxKeys*9/10 {
		t.Errorf("default MaxKeys: %d keys remembered, want at most %d and not far below", n, DefaultMaxKeys)
	}
}

// A full shard forgets keys at full burst before anyone still limited.
func TestLocalEvictsFullBucketsFirst(t *testing.T) {
	lim, c := newTestLocal(t, Limit{Rate: 1, Period: time.Hour, Burst: 1}, 16)
	if len(lim.shards) != 1 {
		t.Fatalf("want one shard for MaxKeys 16, got %d", len(lim.shards))
	}
	ctx := context.Background()
	for i := range 15 {
		lim.Allow(ctx, fmt.Sprint("old", i))
	}
	c.set(2 * time.Hour) // the old keys' buckets are full again
	if d, _ := lim.Allow(ctx, "victim"); !d.Allowed {
		t.Fatal("victim's first request refused")
	}
	for i := range 15 {
		lim.Allow(ctx, fmt.Sprint("new", i))
	}
	if n := lim.count(); n != 16 {
		t.Errorf("%d keys remembered, want 16 (victim and the new ones)", n)
	}
	if d, _ := lim.Allow(ctx, "victim"); d.Allowed {
		t.Error("victim was forgotten while full buckets could have been")
	}
}

func TestLocalNewOptions(t *testing.T) {
	l := Limit{Rate: 1, Period: time.Second, Burst: 1}
	if _, err := NewLocal("p", l, LocalOptions{MaxKeys: -1}); err == nil {
		t.Error("negative MaxKeys accepted")
	}
	if _, err := NewLocal("p", Limit{}, LocalOptions{}); err == nil || !strings.Contains(err.Error(), `policy "p"`) {
		t.Errorf("zero Limit: err = %v, want an error naming the policy", err)
	}
	// Real clock: the default path works and a key is limited.
	lim, err := NewLocal("p", Limit{Rate: 1, Period: time.Hour, Burst: 2}, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var allowed int
	for range 5 {
		if d, _ := lim.Allow(context.Background(), "k"); d.Allowed {
			allowed++
		}
	}
	if allowed != 2 {
		t.Errorf("real clock: %d of 5 allowed, want 2", allowed)
	}
}

// Many goroutines on one clock: exactly the burst passes, then exactly the
// refills of each clock step.
func TestLocalConcurrent(t *testing.T) {
	const (
		goroutines = 16
		perG       = 100
		burst      = 50
	)
	l := Limit{Rate: 10, Period: time.Second, Burst: burst}
	lim, c := newTestLocal(t, l, 0)
	keys := []string{"a", "b", "c", strings.Repeat("z", 200)}
	round := func() map[string]int {
		var mu sync.Mutex
		allowed := map[string]int{}
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				mine := map[string]int{}
				for i := range perG {
					k := keys[(g+i)%len(keys)]
					d, err := lim.Allow(context.Background(), k)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						mine[k]++
					}
				}
				mu.Lock()
				for k, n := range mine {
					allowed[k] += n
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		return allowed
	}
	for _, tc := range []struct {
		advance time.Duration
		want    int
	}{
		{0, burst},
		{0, 0},
		{time.Second, 10},
		{350 * time.Millisecond, 3},
		{time.Hour, burst},
	} {
		c.advance(tc.advance)
		got := round()
		for _, k := range keys {
			if got[k] != tc.want {
				t.Errorf("after +%v: key %.8q: %d allowed, want %d", tc.advance, k, got[k], tc.want)
			}
		}
	}
}

func TestLocalAllowNoAllocs(t *testing.T) {
	lim, err := NewLocal("p", Limit{Rate: 1000, Period: time.Second, Burst: 100}, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	long := strings.Repeat("x", 300)
	lim.Allow(ctx, "client-1")
	lim.Allow(ctx, long)
	for _, k := range []string{"client-1", long} {
		if n := testing.AllocsPerRun(1000, func() { lim.Allow(ctx, k) }); n != 0 {
			t.Errorf("Allow(%.8q) for a known key: %v allocations, want 0", k, n)
		}
	}
}

func benchLocal(b *testing.B) (*Local, []string) {
	// Generous enough that most requests are allowed, so the TAT is written.
	lim, err := NewLocal("bench", Limit{Rate: 1_000_000, Period: time.Second, Burst: 1000}, LocalOptions{})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("203.0.113.%d:%d", i%256, i)
		lim.Allow(context.Background(), keys[i])
	}
	return lim, keys
}

func BenchmarkLocalAllow(b *testing.B) {
	lim, keys := benchLocal(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		lim.Allow(ctx, keys[i&1023])
		i++
	}
}

func BenchmarkLocalAllowLongKey(b *testing.B) {
	lim, _ := benchLocal(b)
	ctx := context.Background()
	key := strings.Repeat("x", 200)
	lim.Allow(ctx, key)
	b.ReportAllocs()
	for b.Loop() {
		lim.Allow(ctx, key)
	}
}

func BenchmarkLocalAllowParallel(b *testing.B) {
	lim, keys := benchLocal(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			lim.Allow(ctx, keys[i&1023])
			i += 7
		}
	})
}
