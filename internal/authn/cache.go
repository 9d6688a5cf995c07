package authn

import (
	"sync"
	"time"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// The verified-token cache: a token whose signature and claims were checked
// is remembered, keyed by the whole token (never a hash of it, so no
// collision can hand one caller another's identity), until its exp plus
// leeway at most. A request with a cached token costs one map lookup instead
// of a signature verification. Only tokens that verified are ever stored, so
// an attacker cannot fill the cache with junk.

const cacheShards = 64

// entry is one verified token.
type entry struct {
	p      *principal.Principal
	issuer *issuer
	key    *key
	until  int64 // unix nanoseconds: exp + leeway
	jti    string
	iat    time.Time
	size   int
}

type shard struct {
	mu    sync.RWMutex
	m     map[string]*entry
	bytes int
}

// tokenCache is bounded both in entries and in bytes of token kept.
type tokenCache struct {
	shards             [cacheShards]shard
	maxEntries, maxMem int // per shard
}

func newTokenCache(entries, mem int) *tokenCache {
	c := &tokenCache{maxEntries: max(entries/cacheShards, 1), maxMem: max(mem/cacheShards, 64<<10)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*entry)
	}
	return c
}

// shardOf picks a shard from the token's last bytes: the signature, which is
// random for every token that can be in the cache.
func (c *tokenCache) shardOf(tok string) *shard {
	var h uint32
	for i := max(len(tok)-4, 0); i < len(tok); i++ {
		h = h*31 + uint32(tok[i])
	}
	return &c.shards[h%cacheShards]
}

func (c *tokenCache) get(tok string) *entry {
	s := c.shardOf(tok)
	s.mu.RLock()
	e := s.m[tok]
	s.mu.RUnlock()
	return e
}

// put stores e under tok unless the cache generation moved since the token
// was checked (a revocation or key removal happened meanwhile: the token
// might be one it meant to stop).
func (c *tokenCache) put(tok string, e *entry, now int64, stillCurrent func() bool) {
	s := c.shardOf(tok)
	e.size = len(tok) + 256 // the token plus the entry and principal, roughly
	s.mu.Lock()
	defer s.mu.Unlock()
	if !stillCurrent() {
		return
	}
	if old, ok := s.m[tok]; ok {
		s.bytes -= old.size
		delete(s.m, tok)
	}
	if len(s.m) >= c.maxEntries || s.bytes+e.size > c.maxMem {
		for k, o := range s.m {
			if o.until <= now {
				s.bytes -= o.size
				delete(s.m, k)
			}
		}
		// Still full of live tokens: drop arbitrary ones (map order).
		for k, o := range s.m {
			if len(s.m) < c.maxEntries && s.bytes+e.size <= c.maxMem {
				break
			}
			s.bytes -= o.size
			delete(s.m, k)
		}
	}
	s.m[tok] = e
	s.bytes += e.size
}

func (c *tokenCache) remove(tok string) {
	s := c.shardOf(tok)
	s.mu.Lock()
	if old, ok := s.m[tok]; ok {
		s.bytes -= old.size
		delete(s.m, tok)
	}
	s.mu.Unlock()
}

// purge removes every entry for which drop is true; it returns how many.
func (c *tokenCache) purge(drop func(*entry) bool) int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if drop(e) {
				s.bytes -= e.size
				delete(s.m, k)
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
