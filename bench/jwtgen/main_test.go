package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/rampart-sec/rampart/internal/authn"
)

// The fixture's token verifies with the gateway's own verifier against the
// key set it wrote, and only with that one.
func TestGenerateVerifies(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			tok, jwks, err := generate(alg, "https://iss.test", "api", "u1", "bench:read", time.Now(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "jwks.json")
			if err := os.WriteFile(path, jwks, 0o644); err != nil {
				t.Fatal(err)
			}
			v, err := authn.NewVerifier([]authn.IssuerConfig{{Name: "b", Issuer: "https://iss.test", JWKSFile: path,
				Audiences: []string{"api"}, Algorithms: []string{string(alg)}, RequireTyp: "at+jwt"}}, authn.Options{})
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(context.Background(), tok, []string{"b"})
			if err != nil || p.Subject != "u1" || !p.HasScope("bench:read") {
				t.Fatalf("%+v %v", p, err)
			}
			other, _, _ := generate(alg, "https://iss.test", "api", "u1", "bench:read", time.Now(), time.Hour)
			if _, err := v.Verify(context.Background(), other, []string{"b"}); err == nil {
				t.Fatal("a token of another key verified")
			}
		})
	}
	if _, _, err := generate("HS256", "i", "a", "s", "x", time.Now(), time.Hour); err == nil {
		t.Fatal("HS256 accepted")
	}
}
