package ratelimit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// DefaultMaxKeys is how many keys a Local limiter remembers when LocalOptions.MaxKeys is 0.
const DefaultMaxKeys = 100_000

const (
	maxShards   = 64
	minPerShard = 16 // below this, fewer shards: a shard's share must be worth evicting from
)

// LocalOptions tunes a Local limiter. The zero value is ready to use.
type LocalOptions struct {
	// MaxKeys bounds how many keys are remembered (DefaultMaxKeys when 0).
	// Keys at full burst are forgotten first: that changes no decision. When
	// every remembered key is still being limited, arbitrary ones are
	// forgotten, and each forgotten client starts again with a full bucket;
	// so a flood of distinct keys (many source addresses, many API keys) can
	// win some clients extra requests. Size it above the number of clients
	// that can be limited at once.
	MaxKeys int

	now func() time.Time // tests inject a clock
}

// Local is an in-memory GCRA limiter for one policy: a sharded map from key to
// TAT, one lock per shard. It is safe for concurrent use.
type Local struct {
	g        gcra
	seed     maphash.Seed
	shards   []localShard
	mask     uint64
	perShard int
	now      func() time.Time
	epoch    time.Time
}

// localShard holds the TATs of the keys that hash to it, in nanoseconds since
// the limiter's epoch. Keys up to maxKeyLen bytes are stored as they are;
// longer ones by their SHA-256, in a map keyed by the array so that a lookup
// allocates nothing.
type localShard struct {
	mu    sync.Mutex
	short map[string]int64
	long  map[[sha256.Size]byte]int64
	_     [40]byte // one shard per cache line: shards are locked from different cores
}

var _ Limiter = (*Local)(nil)

// NewLocal returns an in-memory limiter enforcing l for the policy (a route
// or policy name). A Local holds one policy's buckets only, so the name is
// used just in errors; it is checked like NewRedis checks it, so that a
// config valid for one is valid for the other.
func NewLocal(policy string, l Limit, o LocalOptions) (*Local, error) {
	if err := checkPolicy(policy); err != nil {
		return nil, fmt.Errorf("new local rate limiter: %w", err)
	}
	g, err := l.gcra()
	if err != nil {
		return nil, fmt.Errorf("new local rate limiter for policy %q: %w", policy, err)
	}
	if o.MaxKeys < 0 {
		return nil, fmt.Errorf("new local rate limiter for policy %q: max keys must not be negative, got %d", policy, o.MaxKeys)
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	if o.now == nil {
		o.now = time.Now
	}
	n := 1
	for n < maxShards && 2*n*minPerShard <= o.MaxKeys {
		n *= 2
	}
	lim := &Local{
		g: g,
		// A per-limiter random seed: a client cannot pick keys that all land
		// in one shard and so evict that shard's clients with few keys.
		seed:     maphash.MakeSeed(),
		shards:   make([]localShard, n),
		mask:     uint64(n - 1),
		perShard: o.MaxKeys / n,
		now:      o.now,
	}
	for i := range lim.shards {
		lim.shards[i].short = make(map[string]int64)
		lim.shards[i].long = make(map[[sha256.Size]byte]int64)
	}
	// TATs count from here with the monotonic clock, so a step of the wall
	// clock (NTP, a VM resumed) neither frees nor blocks every client.
	lim.epoch = lim.now()
	return lim, nil
}

// Allow decides for key and records the request when it is allowed. It never
// returns an error; ctx is unused (there is no I/O).
func (l *Local) Allow(_ context.Context, key string) (Decision, error) {
	now := int64(l.now().Sub(l.epoch))
	if len(key) > maxKeyLen {
		return l.allowLong(sumKey(key), now), nil
	}
	s := &l.shards[maphash.String(l.seed, key)&l.mask]
	s.mu.Lock()
	tat, ok := s.short[key]
	if !ok {
		tat = now
	}
	d, newTAT := l.g.decide(tat, now)
	if d.Allowed {
		if !ok {
			s.makeRoom(now, l.perShard)
			// The caller's string may point into a whole request buffer;
			// keep only the key's bytes.
			key = strings.Clone(key)
		}
		s.short[key] = newTAT
	}
	s.mu.Unlock()
	return d, nil
}

func (l *Local) allowLong(sum [sha256.Size]byte, now int64) Decision {
	s := &l.shards[maphash.Bytes(l.seed, sum[:])&l.mask]
	s.mu.Lock()
	tat, ok := s.long[sum]
	if !ok {
		tat = now
	}
	d, newTAT := l.g.decide(tat, now)
	if d.Allowed {
		if !ok {
			s.makeRoom(now, l.perShard)
		}
		s.long[sum] = newTAT
	}
	s.mu.Unlock()
	return d
}

// makeRoom runs, locked, before a new key is added. When the shard is full it
// forgets every key at full burst (TAT not after now), which changes no
// decision. If that leaves less than a sixteenth of the shard free, it also
// forgets arbitrary live keys (map order) down to that slack: those clients
// get a fresh bucket, but the scan is paid once per slack of new keys instead
// of on every one, so a flood of new keys cannot make each insertion cost a
// pass over the shard.
func (s *localShard) makeRoom(now int64, capacity int) {
	if len(s.short)+len(s.long) < capacity {
		return
	}
	for k, tat := range s.short {
		if tat <= now {
			delete(s.short, k)
		}
	}
	for k, tat := range s.long {
		if tat <= now {
			delete(s.long, k)
		}
	}
	target := capacity - max(capacity/16, 1)
	for k := range s.short {
		if len(s.short)+len(s.long) <= target {
			return
		}
		delete(s.short, k)
	}
	for k := range s.long {
		if len(s.short)+len(s.long) <= target {
			return
		}
		delete(s.long, k)
	}
}
