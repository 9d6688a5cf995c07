package principal

import (
	"crypto/ed25519"
	"slices"
	"sync"
	"time"
)

// DefaultCacheSize is how many verified identity tokens a Verifier keeps.
const DefaultCacheSize = 10000

// verifiedCache remembers identity tokens whose signature and claims were
// checked. The gateway reuses one token per principal for half its life, so
// most requests a service receives carry a token it has already verified:
// a hit costs a map lookup instead of an Ed25519 verification (tens of µs).
// Keys are whole tokens (never a hash, so no collision can hand one caller
// another's identity); an entry is used only until the token's exp plus the
// leeway, and only while the key that verified it is still in the key set.
type verifiedCache struct {
	mu  sync.Mutex
	max int
	m   map[string]cachedToken
}

type cachedToken struct {
	p   *Principal
	key ed25519.PublicKey
	kid string
	// from and until bound when the token is valid (nbf/iat and exp, with
	// the leeway): a clock set back must not revive a token early.
	from, until time.Time
	// ks is the key set the token was verified under.
	ks *keySet
}

func newVerifiedCache(size int) *verifiedCache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = DefaultCacheSize
	}
	return &verifiedCache{max: size, m: make(map[string]cachedToken)}
}

// get returns a copy of the cached principal of token, or nil.
func (c *verifiedCache) get(token string, now time.Time, current *keySet) *Principal {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	e, ok := c.m[token]
	if ok && current != e.ks {
		// The key set changed since: keep the entry only if its key is
		// still there, unchanged.
		if k, still := current.keys[e.kid]; !still || !k.Equal(e.key) {
			delete(c.m, token)
			ok = false
		}
	}
	if ok && (!now.Before(e.until) || now.Before(e.from)) {
		delete(c.m, token)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	// A copy, so that a handler changing its principal cannot change the
	// next request's.
	p := *e.p
	p.Roles = slices.Clone(e.p.Roles)
	p.Scopes = slices.Clone(e.p.Scopes)
	return &p
}

func (c *verifiedCache) put(token string, p *Principal, kid string, key ed25519.PublicKey, from, until time.Time, ks *keySet, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for t, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, t)
			}
		}
		for t := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, t)
		}
	}
	stored := *p
	stored.Roles = slices.Clone(p.Roles)
	stored.Scopes = slices.Clone(p.Scopes)
	c.m[token] = cachedToken{p: &stored, key: key, kid: kid, from: from, until: until, ks: ks}
}
