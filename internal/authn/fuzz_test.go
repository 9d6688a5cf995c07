package authn

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// FuzzVerify feeds arbitrary tokens to a verifier with a real key set: it
// must never panic, and nothing but a token signed by the issuer's key may
// verify.
func FuzzVerify(f *testing.F) {
	k := newTestKey(f, "k1", jose.EdDSA)
	srv := newJWKSServer(f, k)
	v := startVerifier(f, []IssuerConfig{issuerFor(srv, "EdDSA")}, Options{CacheEntries: -1})
	good := k.sign(f, claimsAt(time.Now(), "alice"), nil)
	f.Add(good)
	f.Add(good + "x")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")
	f.Add("a.b.c")
	f.Add("....")
	f.Add(`eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwia2lkIjoiazEifQ.e30.AA`)
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := v.Verify(context.Background(), tok, []string{"idp"})
		if err == nil && tok != good {
			// Another encoding of the same signed content cannot exist with
			// strict base64, so any other success is a forgery.
			t.Fatalf("unexpected token verified: %q -> %+v", tok, p)
		}
		if err != nil && p != nil {
			t.Fatal("principal returned with an error")
		}
	})
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  a.b.c", "Basic x", "Bearer a=b", "Bearer "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, err := BearerToken(http.Header{"Authorization": {v}})
		if err == nil && (tok == "" || !isB64Token(tok) || len(tok) >= len(v)) {
			t.Fatalf("BearerToken(%q) = %q", v, tok)
		}
	})
}
