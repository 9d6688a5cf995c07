package principal

import (
	"context"
	"testing"
	"time"
)

// A token verified once is served from the cache, as a private copy, never
// past its exp, and not once the key that verified it left the key set.
func TestVerifiedCache(t *testing.T) {
	old, next := newTestKey(t), newTestKey(t)
	srv := newJWKSServer(t, jwks(t, old))
	v, clk := newTestVerifier(t, VerifierOptions{JWKSURL: srv.jwksURL(), MinRefetchInterval: time.Second})
	tok := old.honest(t)
	p1, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	p1.Roles[0] = "admin" // a handler scribbling on its principal
	p2, err := v.Verify(context.Background(), tok)
	if err != nil || p2.Roles[0] != "support" || p2 == p1 {
		t.Fatalf("second verification: %+v %v", p2, err)
	}
	if n := len(v.cache.m); n != 1 {
		t.Fatalf("cache holds %d tokens", n)
	}

	// Expiry: exp is testNow+60s, the leeway 5s.
	clk.Add(65 * time.Second)
	if _, err := v.Verify(context.Background(), tok); err == nil {
		t.Fatal("a cached token was accepted past its exp")
	}
	clk.Add(-65 * time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}

	// The gateway rotates: the old key leaves the set. A token of the new
	// key makes the verifier fetch it; the old token must not survive in
	// the cache.
	srv.set(jwks(t, next))
	clk.Add(2 * time.Second)
	if _, err := v.Verify(context.Background(), next.at(t, clk.Now())); err != nil {
		t.Fatalf("new key's token: %v", err)
	}
	if _, err := v.Verify(context.Background(), tok); err == nil {
		t.Fatal("a cached token of a withdrawn key was accepted")
	}
}

func TestVerifiedCacheOffAndBounded(t *testing.T) {
	key := newTestKey(t)
	off, _ := newTestVerifier(t, VerifierOptions{JWKS: jwks(t, key), CacheSize: -1})
	if _, err := off.Verify(context.Background(), key.honest(t)); err != nil || off.cache != nil {
		t.Fatalf("cache off: %v %v", err, off.cache)
	}
	small, _ := newTestVerifier(t, VerifierOptions{JWKS: jwks(t, key), CacheSize: 8})
	for i := range 50 {
		c := claimsAt(testNow)
		c["jti"] = "jti-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if _, err := small.Verify(context.Background(), key.sign(t, key.header(), c)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(small.cache.m); n > 8 {
		t.Fatalf("cache holds %d tokens, bound 8", n)
	}
}

func BenchmarkVerifyCached(b *testing.B) {
	key := newTestKey(b)
	v, _ := newTestVerifier(b, VerifierOptions{JWKS: jwks(b, key)})
	tok := key.honest(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}
