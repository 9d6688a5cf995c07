// Command jwtgen makes what the benchmark's JWT case needs: a fresh signing
// key, its public JWK Set written to a file the gateway reads (jwks_file),
// and one access token printed to stdout. It is a benchmark fixture, not an
// issuer: the private key is never written anywhere.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func main() {
	jwksPath := flag.String("jwks", "", "where to write the public JWK Set (required)")
	alg := flag.String("alg", "EdDSA", "signature algorithm: EdDSA or ES256")
	iss := flag.String("issuer", "https://bench.rampart.local", "iss of the token")
	aud := flag.String("audience", "bench-api", "aud of the token")
	sub := flag.String("subject", "bench-user", "sub of the token")
	scope := flag.String("scope", "bench:read", "scope of the token")
	ttl := flag.Duration("ttl", 2*time.Hour, "token lifetime")
	flag.Parse()
	if err := run(*jwksPath, jose.SignatureAlgorithm(*alg), *iss, *aud, *sub, *scope, *ttl); err != nil {
		fmt.Fprintln(os.Stderr, "jwtgen:", err)
		os.Exit(1)
	}
}

func run(jwksPath string, alg jose.SignatureAlgorithm, iss, aud, sub, scope string, ttl time.Duration) error {
	if jwksPath == "" {
		return fmt.Errorf("-jwks is required")
	}
	tok, jwks, err := generate(alg, iss, aud, sub, scope, time.Now(), ttl)
	if err != nil {
		return err
	}
	if err := os.WriteFile(jwksPath, jwks, 0o644); err != nil {
		return err
	}
	_, err = fmt.Println(tok)
	return err
}

// generate returns a token signed with a new key and the JWKS that verifies it.
func generate(alg jose.SignatureAlgorithm, iss, aud, sub, scope string, now time.Time, ttl time.Duration) (string, []byte, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return "", nil, fmt.Errorf("algorithm %q: want EdDSA or ES256", alg)
	}
	if err != nil {
		return "", nil, err
	}
	const kid = "bench-1"
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"}}})
	if err != nil {
		return "", nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return "", nil, err
	}
	claims, err := json.Marshal(map[string]any{
		"iss": iss, "aud": aud, "sub": sub, "scope": scope, "roles": []string{"reader"},
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": fmt.Sprintf("bench-%d", now.UnixNano()),
	})
	if err != nil {
		return "", nil, err
	}
	obj, err := signer.Sign(claims)
	if err != nil {
		return "", nil, err
	}
	tok, err := obj.CompactSerialize()
	return tok, jwks, err
}
