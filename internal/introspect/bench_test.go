package introspect

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkIntrospectCached is the steady state: a token whose answer is
// cached, on routes requiring no scope, one, and three (given out of order).
func BenchmarkIntrospectCached(b *testing.B) {
	for _, scopes := range [][]string{nil, {"accounts:read"}, {"orders:write", "accounts:read", "profile"}} {
		b.Run(fmt.Sprintf("scopes=%d", len(scopes)), func(b *testing.B) {
			h := newHarness(b, func(_ *Config, o *Options) { o.now = time.Now })
			tok := "2YotnFZFEjr1zCsicMWpAA.kTBeGt3V2cm9zLWJlbmNoLXRva2Vu" // a typical opaque token
			h.idp.set(tok, activeAt(time.Now(), "alice"))
			ctx := context.Background()
			if _, err := h.c.Introspect(ctx, tok, scopes); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := h.c.Introspect(ctx, tok, scopes); err != nil {
						b.Fatal(err)
					}
				}
			})
			if n := h.idp.calls.Load(); n != 1 {
				b.Fatalf("%d calls to the IdP, want 1", n)
			}
		})
	}
}

// BenchmarkIntrospectMiss is a call to a loopback IdP per request (the cache
// off): the cost a cache hit saves.
func BenchmarkIntrospectMiss(b *testing.B) {
	h := newHarness(b, func(_ *Config, o *Options) { o.now = time.Now; o.CacheEntries = -1 })
	tok := "2YotnFZFEjr1zCsicMWpAA"
	h.idp.set(tok, activeAt(time.Now(), "alice"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.c.Introspect(ctx, tok, nil); err != nil {
			b.Fatal(err)
		}
	}
}
