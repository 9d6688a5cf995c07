package idtoken

import (
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// The cache of signed tokens is bounded: cacheShards shards of at most
// cacheShardEntries entries each, 32768 in all (about 32 MiB with tokens of
// 1 KiB).
const (
	cacheShards       = 64
	cacheShardEntries = 512
)

// cache holds signed tokens so that the hot path (one proxied request) does
// not sign.
//
// It is keyed by the content of what a token states, the audience and the
// principal's signed fields (Subject, Kind, Issuer, Method, Roles, Scopes,
// Expires), not by the *Principal pointer. A pointer key would be sound only
// while the cache holds the pointer (so its address cannot be reused by
// another principal) and no one mutates a principal after verification; the
// content key does not depend on either, works as well for principals built
// per request (mTLS, API keys) as for the gateway's cached ones, and makes
// two principals that state the same thing share one token, which is
// harmless since the token says exactly the same. Entries copy what they
// compare and hold no pointer to the principal, so the cache keeps no
// principal (and its Claims) alive. The price is hashing a few short strings
// per hit, about as much as a pointer key's map lookup.
//
// A hash selects the shard and the map slot; an entry is used only if its
// copied fields equal the principal's, so a collision costs a signature,
// never a wrong token.
type cache struct {
	seed       maphash.Seed
	sweepEvery time.Duration
	shards     [cacheShards]shard
}

type shard struct {
	mu        sync.RWMutex
	m         map[uint64]*entry
	lastSweep time.Time
	// Keep each shard's lock on its own cache lines.
	_ [64]byte
}

// entry is a signed token and the fields it was signed from.
type entry struct {
	audience string
	subject  string
	kind     principal.Kind
	issuer   string
	method   principal.Method
	roles    []string
	scopes   []string
	expires  time.Time
	token    string
	// reuseUntil is half-way through the token's lifetime.
	reuseUntil time.Time
}

func (c *cache) init(sweepEvery time.Duration) {
	c.seed = maphash.MakeSeed()
	c.sweepEvery = sweepEvery
}

func newEntry(p *principal.Principal, audience, token string, reuseUntil time.Time) *entry {
	return &entry{
		audience:   audience,
		subject:    p.Subject,
		kind:       p.Kind,
		issuer:     p.Issuer,
		method:     p.Method,
		roles:      slices.Clone(p.Roles),
		scopes:     slices.Clone(p.Scopes),
		expires:    p.Expires,
		token:      token,
		reuseUntil: reuseUntil,
	}
}

func (e *entry) matches(p *principal.Principal, audience string) bool {
	return e.audience == audience && e.subject == p.Subject && e.kind == p.Kind &&
		e.issuer == p.Issuer && e.method == p.Method && e.expires.Equal(p.Expires) &&
		slices.Equal(e.roles, p.Roles) && slices.Equal(e.scopes, p.Scopes)
}

// hash hashes what matches compares: each string on its own (one call each,
// much faster than streaming), folded in order, with the lists' lengths so
// that moving a string from roles to scopes changes the hash. Collisions are
// harmless: matches decides.
func (c *cache) hash(p *principal.Principal, audience string) uint64 {
	h := maphash.String(c.seed, audience)
	h = fold(h, maphash.String(c.seed, p.Subject))
	h = fold(h, maphash.String(c.seed, string(p.Kind)))
	h = fold(h, maphash.String(c.seed, p.Issuer))
	h = fold(h, maphash.String(c.seed, string(p.Method)))
	for _, s := range p.Roles {
		h = fold(h, maphash.String(c.seed, s))
	}
	h = fold(h, uint64(len(p.Roles)))
	for _, s := range p.Scopes {
		h = fold(h, maphash.String(c.seed, s))
	}
	h = fold(h, uint64(len(p.Scopes)))
	h = fold(h, uint64(p.Expires.Unix()))
	return fold(h, uint64(p.Expires.Nanosecond()))
}

// fold mixes v into h; the order of folds matters.
func fold(h, v uint64) uint64 {
	h ^= v
	h *= 0x9e3779b97f4a7c15
	return h ^ h>>29
}

func (c *cache) get(h uint64, p *principal.Principal, audience string, now time.Time) (string, bool) {
	sh := &c.shards[h%cacheShards]
	sh.mu.RLock()
	e := sh.m[h]
	sh.mu.RUnlock()
	// Entries are immutable once stored: reading e outside the lock is safe.
	if e != nil && now.Before(e.reuseUntil) && e.matches(p, audience) {
		return e.token, true
	}
	return "", false
}

func (c *cache) put(h uint64, e *entry, now time.Time) {
	sh := &c.shards[h%cacheShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m == nil {
		sh.m = make(map[uint64]*entry)
	}
	if _, ok := sh.m[h]; !ok && (len(sh.m) >= cacheShardEntries || now.Sub(sh.lastSweep) >= c.sweepEvery) {
		sh.sweep(now)
	}
	sh.m[h] = e
}

// sweep removes the entries past reuse and, if the shard is still full, the
// one that stops being reused first. It runs at most once per sweepEvery
// unless the shard is full, so the cost of a scan is spread over many
// signatures.
func (sh *shard) sweep(now time.Time) {
	sh.lastSweep = now
	var oldest uint64
	var oldestEntry *entry
	for k, e := range sh.m {
		if !now.Before(e.reuseUntil) {
			delete(sh.m, k)
			continue
		}
		if oldestEntry == nil || e.reuseUntil.Before(oldestEntry.reuseUntil) {
			oldest, oldestEntry = k, e
		}
	}
	if len(sh.m) >= cacheShardEntries {
		delete(sh.m, oldest)
	}
}

// len returns the number of cached tokens.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
