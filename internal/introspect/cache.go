package introspect

import (
	"hash/maphash"
	"slices"
	"sync"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// The answer cache. Active answers are kept under the whole token (never a
// hash of it, as in authn, so no collision can hand one caller another's
// identity), and within a token per set of required scopes: a hit needs the
// very same set. Refusals are kept apart under the token's SHA-256, with
// their own bound: they are what an attacker can mint at will, so they must
// neither push active answers out nor hold 8 KiB junk tokens in memory. A
// refusal is kept for the token whatever the scopes, because an inactive
// token is inactive for every route and a cached refusal can only deny.
//
// A hit (the hot path) is a hash, a read lock and a map lookup; it does not
// allocate.

const (
	cacheShards = 64
	// maxScopeSets bounds the scope sets remembered per token; a token is
	// used on as many as there are distinct route scope sets, a handful.
	maxScopeSets = 16
	// maxCacheBytes bounds the memory active answers take, roughly: tokens
	// and decoded responses (which can be up to MaxResponseSize each).
	maxCacheBytes = 32 << 20
)

// answer is an active token's principal for one set of required scopes.
type answer struct {
	scopes []string // canonicalScopes of the required scopes
	p      *principal.Principal
	until  int64 // unix nanoseconds: min(exp, cached at + CacheTTL)
	size   int
}

// refusal is a refused token's reason.
type refusal struct {
	reason string
	until  int64 // unix nanoseconds
}

type shard struct {
	mu       sync.RWMutex
	answers  map[string][]answer // by token
	n, bytes int                 // answers held, and their size
	refusals map[[32]byte]refusal
	// gen moves on every Revoke; a call that started before the move does
	// not cache its answer after it.
	gen uint64
}

type cache struct {
	seed   maphash.Seed
	shards [cacheShards]shard
	// per shard
	maxEntries, maxBytes int
}

func newCache(entries, bytes int) *cache {
	c := &cache{seed: maphash.MakeSeed(), maxEntries: max(entries/cacheShards, 1), maxBytes: max(bytes/cacheShards, 64<<10)}
	for i := range c.shards {
		c.shards[i].answers = make(map[string][]answer)
		c.shards[i].refusals = make(map[[32]byte]refusal)
	}
	return c
}

// shardOf hashes the whole token with a random seed: opaque tokens may share
// a prefix or a suffix, and nobody outside can aim at one shard.
func (c *cache) shardOf(token string) *shard {
	return &c.shards[maphash.String(c.seed, token)%cacheShards]
}

// get returns the principal cached for token and exactly this set of
// required scopes, if it is still good at now.
func (s *shard) get(token string, required []string, now int64) *principal.Principal {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := s.answers[token]
	for i := range list {
		if a := &list[i]; now < a.until && sameSet(a.scopes, required) {
			return a.p
		}
	}
	return nil
}

// sameSet reports whether canonical (sorted, no repeats) and required hold
// the same scopes, without building a key: the lists are a few items long.
func sameSet(canonical, required []string) bool {
	for _, r := range required {
		if !slices.Contains(canonical, r) {
			return false
		}
	}
	for _, c := range canonical {
		if !slices.Contains(required, c) {
			return false
		}
	}
	return true
}

// refused returns the reason a token with this SHA-256 was refused, if that
// is still fresh at now.
func (s *shard) refused(sum [32]byte, now int64) (string, bool) {
	s.mu.RLock()
	r, ok := s.refusals[sum]
	s.mu.RUnlock()
	if !ok || now >= r.until {
		return "", false
	}
	return r.reason, true
}

func (s *shard) generation() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gen
}

// put caches a for token, replacing the answer for the same scope set,
// unless a Revoke happened since gen was read, or the token was refused
// meanwhile (by a call for other scopes that raced with this one: the
// provider may have revoked the token in between).
func (s *shard) put(token string, sum [32]byte, a answer, now int64, gen uint64, c *cache) {
	for _, sc := range a.scopes {
		a.size += len(sc)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen {
		return
	}
	if r, ok := s.refusals[sum]; ok && now < r.until {
		return
	}
	list := s.answers[token]
	kept := list[:0]
	for _, o := range list {
		if o.until <= now || slices.Equal(o.scopes, a.scopes) {
			s.n--
			s.bytes -= o.size
			continue
		}
		kept = append(kept, o)
	}
	if len(kept) >= maxScopeSets {
		s.n--
		s.bytes -= kept[0].size
		kept = slices.Delete(kept, 0, 1)
	}
	s.setAnswers(token, kept)
	s.makeRoom(now, a.size, c)
	// makeRoom may have dropped this token's other answers: read again.
	s.answers[token] = append(s.answers[token], a)
	s.n++
	s.bytes += a.size
}

func (s *shard) setAnswers(token string, list []answer) {
	if len(list) == 0 {
		delete(s.answers, token)
		return
	}
	s.answers[token] = list
}

// makeRoom drops expired answers, then arbitrary tokens (map order), until
// one more answer of size fits.
func (s *shard) makeRoom(now int64, size int, c *cache) {
	full := func() bool { return s.n >= c.maxEntries || s.bytes+size > c.maxBytes }
	if !full() {
		return
	}
	for tok, list := range s.answers {
		kept := list[:0]
		for _, o := range list {
			if o.until <= now {
				s.n--
				s.bytes -= o.size
				continue
			}
			kept = append(kept, o)
		}
		s.setAnswers(tok, kept)
	}
	for tok, list := range s.answers {
		if !full() {
			return
		}
		for _, o := range list {
			s.n--
			s.bytes -= o.size
		}
		delete(s.answers, tok)
	}
}

// putRefused caches a refusal of token and drops its active answers: the
// provider no longer vouches for it, whatever the scopes. When full, expired
// refusals go first, then arbitrary ones (map order).
func (s *shard) putRefused(token string, sum [32]byte, r refusal, now int64, c *cache) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropAnswers(token)
	if _, ok := s.refusals[sum]; !ok && len(s.refusals) >= c.maxEntries {
		for k, o := range s.refusals {
			if o.until <= now {
				delete(s.refusals, k)
			}
		}
		for k := range s.refusals {
			if len(s.refusals) < c.maxEntries {
				break
			}
			delete(s.refusals, k)
		}
	}
	s.refusals[sum] = r
}

// remove drops everything cached for token and moves the generation.
func (s *shard) remove(token string, sum [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.dropAnswers(token)
	delete(s.refusals, sum)
}

func (s *shard) dropAnswers(token string) {
	for _, o := range s.answers[token] {
		s.n--
		s.bytes -= o.size
	}
	delete(s.answers, token)
}
