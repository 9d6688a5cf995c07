package principal

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// fuzzKey is fixed so that the corpus's valid tokens stay valid.
func fuzzKey() testKey {
	return testKey{priv: ed25519.NewKeyFromSeed([]byte("rampart identity token fuzzing!!")), kid: "fuzz-key"}
}

// FuzzVerify feeds whole tokens to Verify. Besides not panicking, a token is
// accepted only if it is byte for byte one the key signed: no re-encoding,
// header trick or parser gap turns a refused token into an accepted one.
func FuzzVerify(f *testing.F) {
	key := fuzzKey()
	valid := map[string]bool{}
	sign := func(change func(h, c map[string]any)) string {
		h, c := key.header(), claimsAt(testNow)
		if change != nil {
			change(h, c)
		}
		return key.sign(f, h, c)
	}
	for _, tok := range []string{
		sign(nil),
		sign(func(_, c map[string]any) { c["aud"] = []string{"accounts"}; delete(c, "roles") }),
		sign(func(_, c map[string]any) { c["kind"], c["method"] = "service", "mtls" }),
	} {
		valid[tok] = true
		f.Add(tok)
	}
	honest := sign(nil)
	parts := strings.Split(honest, ".")
	for _, tok := range []string{
		"",
		".",
		"..",
		"a.b.c",
		honest + ".",
		parts[0] + "." + parts[1] + ".",
		b64json(f, map[string]any{"alg": "none", "typ": IdentityTokenType, "kid": key.kid}) + "." + parts[1] + ".",
		b64json(f, map[string]any{"alg": "HS256", "typ": IdentityTokenType, "kid": key.kid}) + "." + parts[1] + "." + parts[2],
		sign(func(h, _ map[string]any) { h["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": key.x()} }),
		sign(func(h, _ map[string]any) { h["typ"] = "at+jwt" }),
		sign(func(h, _ map[string]any) { h["crit"] = []string{"b64"}; h["b64"] = false }),
		sign(func(_, c map[string]any) { c["aud"] = "billing" }),
		sign(func(_, c map[string]any) { c["exp"] = 1.5 }),
		sign(func(_, c map[string]any) { c["kind"] = "root" }),
		strings.Repeat("a.", 5000),
		parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "B",
	} {
		f.Add(tok)
	}

	v, err := NewVerifier(VerifierOptions{Audience: "accounts", JWKS: jwks(f, key)})
	if err != nil {
		f.Fatal(err)
	}
	v.now = func() time.Time { return testNow }
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := v.Verify(context.Background(), tok)
		if err != nil {
			if p != nil || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("refusal returned %v, %v: want nil and ErrInvalidToken", p, err)
			}
			return
		}
		if !valid[tok] {
			t.Fatalf("accepted a token the key never signed: %q", tok)
		}
	})
}

// FuzzSignedClaims feeds payloads signed with the trusted key, so that the
// claims checks behind the signature are fuzzed too: whatever the payload,
// an accepted one yields a complete, current principal for this audience.
func FuzzSignedClaims(f *testing.F) {
	key := fuzzKey()
	for _, c := range []string{
		`{"iss":"rampart-gateway","aud":"accounts","sub":"alice","iat":1893553445,"nbf":1893553445,"exp":1893553505,"jti":"j","kind":"user","method":"jwt","roles":["a"],"scopes":["s"],"issuer":"corp"}`,
		`{"iss":"rampart-gateway","aud":["accounts"],"sub":"svc","iat":1893553445,"nbf":1893553445,"exp":1893553505,"jti":"j","kind":"service","method":"mtls"}`,
		`{"iss":"rampart-gateway","aud":"accounts","sub":"alice","iat":1893553445,"nbf":1893553445,"exp":null,"jti":"j","kind":"user","method":"jwt"}`,
		`{"iss":"rampart-gateway","aud":"accounts","sub":"alice","iat":1893553445,"nbf":1893553445,"exp":1e99,"jti":"j","kind":"user","method":"jwt"}`,
		`{"iss":"rampart-gateway","aud":"accounts","sub":"alice","iat":1893553445,"nbf":1893553445,"exp":9223372036854775807,"jti":"j","kind":"user","method":"jwt"}`,
		`{"aud":"accounts","aud":"billing"}`,
		`null`,
		`[]`,
		`{"roles":{"a":1}}`,
	} {
		f.Add([]byte(c))
	}
	v, err := NewVerifier(VerifierOptions{Audience: "accounts", JWKS: jwks(f, key)})
	if err != nil {
		f.Fatal(err)
	}
	v.now = func() time.Time { return testNow }
	header := b64json(f, key.header())
	f.Fuzz(func(t *testing.T, payload []byte) {
		input := header + "." + base64.RawURLEncoding.EncodeToString(payload)
		tok := input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key.priv, []byte(input)))
		p, err := v.Verify(context.Background(), tok)
		if err != nil {
			if p != nil || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("refusal returned %v, %v: want nil and ErrInvalidToken", p, err)
			}
			return
		}
		if p.Subject == "" || !p.Kind.Valid() || !p.Method.Valid() || !testNow.Before(p.Expires.Add(DefaultLeeway)) {
			t.Fatalf("accepted an incomplete or expired principal %+v from %s", p, payload)
		}
	})
}
