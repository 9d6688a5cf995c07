package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// BenchmarkVerifyCached is the steady state: the same token on every request.
func BenchmarkVerifyCached(b *testing.B) {
	k := newTestKey(b, "k1", jose.EdDSA)
	srv := newJWKSServer(b, k)
	v := startVerifier(b, []IssuerConfig{issuerFor(srv, "EdDSA")}, Options{})
	tok := k.sign(b, claimsAt(time.Now(), "alice"), nil)
	allowed := []string{"idp"}
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok, allowed); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, tok, allowed); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyCold is every request verifying its token in full (cache
// off); compare with BenchmarkStdlibVerify, the bare signature check.
func BenchmarkVerifyCold(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			k := newTestKey(b, "k1", alg)
			srv := newJWKSServer(b, k)
			v := startVerifier(b, []IssuerConfig{issuerFor(srv, string(alg))}, Options{CacheEntries: -1})
			tok := k.sign(b, claimsAt(time.Now(), "alice"), nil)
			allowed := []string{"idp"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok, allowed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStdlibVerify is the floor: hashing the signing input and checking
// the signature with the standard library, nothing else.
func BenchmarkStdlibVerify(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			k := newTestKey(b, "k1", alg)
			tok := k.sign(b, claimsAt(time.Now(), "alice"), nil)
			i := strings.LastIndexByte(tok, '.')
			input := []byte(tok[:i])
			sig, err := b64.DecodeString(tok[i+1:])
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				var ok bool
				switch pub := k.priv.Public().(type) {
				case *rsa.PublicKey:
					h := sha256.Sum256(input)
					ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
				case *ecdsa.PublicKey:
					h := sha256.Sum256(input)
					ok = ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
				case ed25519.PublicKey:
					ok = ed25519.Verify(pub, input, sig)
				}
				if !ok {
					b.Fatal("signature did not verify")
				}
			}
		})
	}
}
