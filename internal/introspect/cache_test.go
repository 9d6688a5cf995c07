package introspect

import (
	"crypto/sha256"
	"testing"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// A full shard drops expired entries before live ones.
func TestShardEvictsExpiredFirst(t *testing.T) {
	c := newCache(2*cacheShards, maxCacheBytes) // 2 per shard
	s := &c.shards[0]
	pa, pb, pc := &principal.Principal{Subject: "a"}, &principal.Principal{Subject: "b"}, &principal.Principal{Subject: "c"}
	put := func(tok string, p *principal.Principal, until, now int64) {
		s.put(tok, sha256.Sum256([]byte(tok)), answer{p: p, until: until, size: 1}, now, s.generation(), c)
	}
	put("a", pa, 10, 0)
	put("b", pb, 100, 0)
	put("c", pc, 100, 20) // a has expired: it goes, b stays
	if s.get("b", nil, 20) != pb || s.get("c", nil, 20) != pc || s.n != 2 || len(s.answers) != 2 {
		t.Fatalf("after eviction: %d answers %v", s.n, s.answers)
	}
	put("d", pa, 100, 20) // all live: one of b and c goes
	if s.n != 2 || s.get("d", nil, 20) != pa {
		t.Fatalf("after evicting a live answer: %d answers %v", s.n, s.answers)
	}

	for i, tok := range []string{"x", "y"} {
		s.putRefused(tok, sha256.Sum256([]byte(tok)), refusal{reason: "revoked", until: int64(10 * (i + 1))}, 0, c)
	}
	s.putRefused("z", sha256.Sum256([]byte("z")), refusal{reason: "revoked", until: 100}, 15, c) // x expired at 10
	if _, ok := s.refused(sha256.Sum256([]byte("y")), 15); !ok || len(s.refusals) != 2 {
		t.Fatalf("refusals after eviction: %v", s.refusals)
	}
}
