package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// Every algorithm an issuer may allow verifies an honest token.
func TestHonestTokensEveryAlgorithm(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.ES384, jose.RS256, jose.PS256} {
		t.Run(string(alg), func(t *testing.T) {
			k := newTestKey(t, "k1", alg)
			srv := newJWKSServer(t, k)
			v := startVerifier(t, []IssuerConfig{issuerFor(srv, string(alg))}, Options{})
			tok := k.sign(t, claimsAt(time.Now(), "alice"), nil)
			p, err := v.Verify(context.Background(), tok, []string{"idp"})
			if err != nil {
				t.Fatalf("honest token refused: %v", err)
			}
			if p.Subject != "alice" || p.Issuer != "idp" || p.Method != principal.JWT || !p.HasScope("write") || !p.HasRole("admin") {
				t.Fatalf("principal = %+v", p)
			}
		})
	}
}

func TestHMACIssuer(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v := startVerifier(t, []IssuerConfig{{Name: "hs", Issuer: testIss, Audiences: []string{testAud}, Algorithms: []string{"HS256"}, HMACSecret: secret}}, Options{})
	b, _ := json.Marshal(claimsAt(time.Now(), "svc"))
	mac := func(key []byte) func(string) []byte {
		return func(in string) []byte { m := hmac.New(sha256.New, key); m.Write([]byte(in)); return m.Sum(nil) }
	}
	good := rawToken(`{"alg":"HS256","typ":"JWT"}`, string(b), mac(secret))
	if _, err := v.Verify(context.Background(), good, []string{"hs"}); err != nil {
		t.Fatalf("honest HS256 token refused: %v", err)
	}
	bad := rawToken(`{"alg":"HS256","typ":"JWT"}`, string(b), mac([]byte("another secret of thirty-two bytes!")))
	if r := reasonOf(t, must(v.Verify(context.Background(), bad, []string{"hs"}))); r != ReasonBadSignature {
		t.Fatalf("wrong secret: reason %q", r)
	}
}

func must(_ *principal.Principal, err error) error { return err }

// The refusals of the point 1, each against a real JWKS server.
func TestAttacksRefused(t *testing.T) {
	now := time.Now()
	ed := newTestKey(t, "ed", jose.EdDSA)
	es := newTestKey(t, "es", jose.ES256)
	rs := newTestKey(t, "rs", jose.RS256)
	attacker := newTestKey(t, "ed", jose.EdDSA) // same kid as the real key
	srv := newJWKSServer(t, ed, es, rs)
	ic := issuerFor(srv, "EdDSA", "ES256", "RS256")
	ic.RequireTyp = "at+jwt"
	other := ic
	other.Name, other.Issuer = "other", "https://other.test"
	v := startVerifier(t, []IssuerConfig{ic, other}, Options{})

	good := claimsAt(now, "alice")
	with := func(k string, val any) map[string]any {
		c := map[string]any{}
		for n, x := range good {
			c[n] = x
		}
		if val == nil {
			delete(c, k)
		} else {
			c[k] = val
		}
		return c
	}
	js := func(c map[string]any) string { b, _ := json.Marshal(c); return string(b) }
	rsaPub := rs.priv.Public().(*rsa.PublicKey)
	der, _ := x509.MarshalPKIXPublicKey(rsaPub)
	pemPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hmacWith := func(key []byte) func(string) []byte {
		return func(in string) []byte { m := hmac.New(sha256.New, key); m.Write([]byte(in)); return m.Sum(nil) }
	}
	edSig := func(in string) []byte {
		s, _ := ed.priv.Sign(nil, []byte(in), cryptoHashNone{})
		return s
	}
	honest := ed.sign(t, good, nil)
	parts := strings.Split(honest, ".")
	otherTok := ed.sign(t, with("sub", "mallory"), nil)
	forged := parts[0] + "." + strings.Split(otherTok, ".")[1] + "." + parts[2]

	cases := []struct {
		name, tok, reason string
	}{
		{"honest", honest, ""},
		{"alg none", rawToken(`{"alg":"none","typ":"at+jwt"}`, js(good), func(string) []byte { return []byte{0} }), ReasonAlgNone},
		{"alg NoNe", rawToken(`{"alg":"NoNe","kid":"ed","typ":"at+jwt"}`, js(good), func(string) []byte { return []byte{0} }), ReasonAlgNone},
		{"alg not allowed (PS256)", rawToken(`{"alg":"PS256","kid":"rs","typ":"at+jwt"}`, js(good), edSig), ReasonAlgNotAllowed},
		{"algorithm confusion: HS256 keyed with the RSA public key PEM", rawToken(`{"alg":"HS256","kid":"rs","typ":"at+jwt"}`, js(good), hmacWith(pemPub)), ReasonAlgNotAllowed},
		{"algorithm confusion: HS256 keyed with the RSA modulus", rawToken(`{"alg":"HS256","kid":"rs","typ":"at+jwt"}`, js(good), hmacWith(rsaPub.N.Bytes())), ReasonAlgNotAllowed},
		{"EdDSA key asked to verify ES256", rawToken(`{"alg":"ES256","kid":"ed","typ":"at+jwt"}`, js(good), edSig), ReasonAlgNotAllowed},
		{"ECDSA signature of zeros", rawToken(`{"alg":"ES256","kid":"es","typ":"at+jwt"}`, js(good), func(string) []byte { return make([]byte, 64) }), ReasonBadSignature},
		{"ECDSA signature r=s=n", rawToken(`{"alg":"ES256","kid":"es","typ":"at+jwt"}`, js(good), func(string) []byte {
			n := es.priv.Public().(*ecdsa.PublicKey).Curve.Params().N.FillBytes(make([]byte, 32))
			return append(n, n...)
		}), ReasonBadSignature},
		{"payload swapped (forged subject)", forged, ReasonBadSignature},
		{"signed by an attacker's key with the real kid", attacker.sign(t, good, nil), ReasonBadSignature},
		{"embedded jwk", attacker.sign(t, good, map[jose.HeaderKey]any{"jwk": attacker.jwk()}), ReasonEmbeddedKey},
		{"jku", ed.sign(t, good, map[jose.HeaderKey]any{"jku": "https://evil.test/jwks"}), ReasonEmbeddedKey},
		{"x5u", ed.sign(t, good, map[jose.HeaderKey]any{"x5u": "https://evil.test/cert"}), ReasonEmbeddedKey},
		{"x5c", ed.sign(t, good, map[jose.HeaderKey]any{"x5c": []string{"MIIB"}}), ReasonEmbeddedKey},
		{"crit", ed.sign(t, good, map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1}), ReasonCrit},
		{"b64 false", rawToken(`{"alg":"EdDSA","kid":"ed","typ":"at+jwt","b64":false,"crit":["b64"]}`, js(good), edSig), ReasonCrit},
		{"duplicate alg header", rawToken(`{"alg":"none","alg":"EdDSA","kid":"ed","typ":"at+jwt"}`, js(good), edSig), ReasonMalformedToken},
		{"duplicate sub claim", rawToken(`{"alg":"EdDSA","kid":"ed","typ":"at+jwt"}`, strings.Replace(js(good), `"sub":"alice"`, `"sub":"alice","sub":"admin"`, 1), edSig), ReasonMalformedToken},
		{"JWE header", rawToken(`{"alg":"EdDSA","kid":"ed","enc":"A256GCM"}`, js(good), edSig), ReasonMalformedToken},
		{"nested JWT", rawToken(`{"alg":"EdDSA","kid":"ed","typ":"at+jwt","cty":"JWT"}`, js(good), edSig), ReasonMalformedToken},
		{"wrong typ (an ID token)", rawToken(`{"alg":"EdDSA","kid":"ed","typ":"JWT"}`, js(good), edSig), ReasonWrongType},
		{"expired", ed.sign(t, with("exp", now.Add(-time.Minute).Unix()), nil), ReasonExpired},
		{"expired within leeway", ed.sign(t, with("exp", now.Add(-10*time.Second).Unix()), nil), ""},
		{"not yet valid", ed.sign(t, with("nbf", now.Add(time.Minute).Unix()), nil), ReasonNotYetValid},
		{"issued in the future", ed.sign(t, with("iat", now.Add(time.Hour).Unix()), nil), ReasonIssuedInFuture},
		{"no exp", ed.sign(t, with("exp", nil), nil), ReasonNoExpiry},
		{"exp not a number", ed.sign(t, with("exp", "tomorrow"), nil), ReasonMalformedToken},
		{"no sub", ed.sign(t, with("sub", nil), nil), ReasonNoSubject},
		{"wrong audience", ed.sign(t, with("aud", "billing"), nil), ReasonWrongAudience},
		{"audience list without ours", ed.sign(t, with("aud", []string{"a", "b"}), nil), ReasonWrongAudience},
		{"audience list with ours", ed.sign(t, with("aud", []string{"a", testAud}), nil), ""},
		{"no aud", ed.sign(t, with("aud", nil), nil), ReasonWrongAudience},
		{"unknown issuer", ed.sign(t, with("iss", "https://evil.test"), nil), ReasonUnknownIssuer},
		{"issuer the route does not trust", ed.sign(t, with("iss", "https://other.test"), nil), ReasonUnknownIssuer},
		{"many dots", strings.Repeat(".", 4000), ReasonMalformedToken},
		{"two parts", parts[0] + "." + parts[1], ReasonMalformedToken},
		{"padding in base64", parts[0] + "=." + parts[1] + "." + parts[2], ReasonMalformedToken},
		{"non-canonical base64 (padding bits set)", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + "B", ReasonMalformedToken},
		{"header not JSON", "bm90IGpzb24." + parts[1] + "." + parts[2], ReasonMalformedToken},
		{"oversized", "a." + strings.Repeat("b", 9000) + ".c", ReasonTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), c.tok, []string{"idp"})
			if got := reasonOf(t, err); got != c.reason {
				t.Fatalf("reason = %q, want %q", got, c.reason)
			}
		})
	}
}

// cryptoHashNone is the crypto.SignerOpts ed25519 wants.
type cryptoHashNone struct{}

func (cryptoHashNone) HashFunc() crypto.Hash { return 0 }

// A cached token is served without verifying it again, never past its exp,
// and only to routes that trust its issuer.
func TestVerifiedTokenCache(t *testing.T) {
	k := newTestKey(t, "k1", jose.EdDSA)
	srv := newJWKSServer(t, k)
	clk := newClock()
	ic := issuerFor(srv, "EdDSA")
	ic.Leeway = 0
	other := ic
	other.Name, other.Issuer = "other", "https://other.test"
	v := startVerifier(t, []IssuerConfig{ic, other}, Options{now: clk.now})
	c := claimsAt(clk.now(), "alice")
	c["exp"] = clk.now().Add(time.Minute).Unix()
	tok := k.sign(t, c, nil)
	p1, err := v.Verify(context.Background(), tok, []string{"idp"})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := v.Verify(context.Background(), tok, []string{"idp"})
	if err != nil || p2 != p1 {
		t.Fatalf("second verification was not served from the cache: %v %p %p", err, p1, p2)
	}
	if _, err := v.Verify(context.Background(), tok, []string{"other"}); reasonOf(t, err) != ReasonUnknownIssuer {
		t.Fatalf("cached token accepted on a route that does not trust its issuer: %v", err)
	}
	clk.add(2 * time.Minute)
	if _, err := v.Verify(context.Background(), tok, []string{"idp"}); reasonOf(t, err) != ReasonExpired {
		t.Fatalf("cached token served past exp: %v", err)
	}
	if n := v.cache.len(); n != 0 {
		t.Fatalf("expired token still cached (%d entries)", n)
	}
}

func TestCacheBounded(t *testing.T) {
	k := newTestKey(t, "k1", jose.EdDSA)
	srv := newJWKSServer(t, k)
	v := startVerifier(t, []IssuerConfig{issuerFor(srv, "EdDSA")}, Options{CacheEntries: 128})
	now := time.Now()
	for i := 0; i < 1000; i++ {
		if _, err := v.Verify(context.Background(), k.sign(t, claimsAt(now, fmt.Sprint("user-", i)), nil), []string{"idp"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n > 128 || n == 0 {
		t.Fatalf("cache holds %d entries, bound is 128", n)
	}
}

func TestCacheDisabled(t *testing.T) {
	k := newTestKey(t, "k1", jose.EdDSA)
	srv := newJWKSServer(t, k)
	v := startVerifier(t, []IssuerConfig{issuerFor(srv, "EdDSA")}, Options{CacheEntries: -1})
	tok := k.sign(t, claimsAt(time.Now(), "alice"), nil)
	p1, err1 := v.Verify(context.Background(), tok, []string{"idp"})
	p2, err2 := v.Verify(context.Background(), tok, []string{"idp"})
	if err1 != nil || err2 != nil || p1 == p2 {
		t.Fatalf("with the cache off every request must verify: %v %v same=%v", err1, err2, p1 == p2)
	}
}

// Forged key ids cannot make the gateway hammer the issuer: at most one
// refetch per MinRefetchInterval, however many arrive.
func TestUnknownKidFloodBounded(t *testing.T) {
	k := newTestKey(t, "k1", jose.EdDSA)
	srv := newJWKSServer(t, k)
	v := startVerifier(t, []IssuerConfig{issuerFor(srv, "EdDSA")}, Options{})
	before := srv.hits.Load()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				forged := &testKey{kid: fmt.Sprintf("forged-%d-%d", g, i), alg: k.alg, priv: k.priv}
				_, err := v.Verify(context.Background(), forged.sign(t, claimsAt(time.Now(), "x"), nil), []string{"idp"})
				if reasonOf(t, err) != ReasonUnknownKey {
					t.Errorf("forged kid: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := srv.hits.Load() - before; n > 1 {
		t.Fatalf("400 forged kids caused %d key set fetches, want at most 1", n)
	}
}

// Rotation at the issuer: a new key published and used at once costs no
// valid token a 401, even under concurrent load; then the old key is
// withdrawn and the tokens it signed stop working, cached or not.
func TestRotationUnderLoad(t *testing.T) {
	old := newTestKey(t, "2026-01", jose.ES256)
	next := newTestKey(t, "2026-02", jose.ES256)
	srv := newJWKSServer(t, old)
	ic := issuerFor(srv, "ES256")
	ic.MinRefetchInterval = time.Second
	v := startVerifier(t, []IssuerConfig{ic}, Options{})
	oldTok := old.sign(t, claimsAt(time.Now(), "alice"), nil)
	if _, err := v.Verify(context.Background(), oldTok, []string{"idp"}); err != nil {
		t.Fatal(err)
	}

	srv.setKeys(old, next) // the issuer publishes the new key and signs with it
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed, ok := 0, 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				tok := next.sign(t, claimsAt(time.Now(), fmt.Sprintf("u%d-%d", g, i)), nil)
				_, err1 := v.Verify(context.Background(), tok, []string{"idp"})
				_, err2 := v.Verify(context.Background(), oldTok, []string{"idp"})
				mu.Lock()
				if err1 != nil || err2 != nil {
					failed++
					t.Logf("refused during rotation: %v %v", err1, err2)
				} else {
					ok++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed != 0 || ok != 200 {
		t.Fatalf("%d of %d valid requests refused during rotation", failed, failed+ok)
	}

	srv.setKeys(next) // the old key is withdrawn
	if _, err := v.byName["idp"].refresh(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), oldTok, []string{"idp"}); reasonOf(t, err) != ReasonUnknownKey {
		t.Fatalf("token of a withdrawn key still accepted: %v", err)
	}
}

// An issuer that goes down: its last good key set keeps working, with an
// event; one that is down from the start makes its routes unavailable, not open.
func TestIssuerDown(t *testing.T) {
	k := newTestKey(t, "k1", jose.EdDSA)
	srv := newJWKSServer(t, k)
	ev := &events{}
	v := startVerifier(t, []IssuerConfig{issuerFor(srv, "EdDSA")}, Options{Events: ev})
	srv.setDown(true)
	if _, err := v.byName["idp"].refresh(context.Background(), true); err == nil {
		t.Fatal("refresh of a down issuer reported no error")
	}
	if ev.count(event.KeySetFailure) != 1 {
		t.Fatalf("keyset_failure events = %d, want 1", ev.count(event.KeySetFailure))
	}
	if _, err := v.Verify(context.Background(), k.sign(t, claimsAt(time.Now(), "alice"), nil), []string{"idp"}); err != nil {
		t.Fatalf("last good key set not kept: %v", err)
	}

	down := newJWKSServer(t, k)
	down.setDown(true)
	v2, err := NewVerifier([]IssuerConfig{issuerFor(down, "EdDSA")}, Options{Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v2.Start(ctx)
	for deadline := time.Now().Add(5 * time.Second); down.hits.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no fetch attempted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v2.Ready("idp") {
		t.Fatal("an issuer without keys reports ready")
	}
	if _, err := v2.Verify(context.Background(), k.sign(t, claimsAt(time.Now(), "alice"), nil), []string{"idp"}); reasonOf(t, err) != ReasonKeysUnavailable {
		t.Fatalf("issuer without keys: %v", err)
	}
	down.setDown(false)
	for deadline := time.Now().Add(10 * time.Second); !v2.Ready("idp"); {
		if time.Now().After(deadline) {
			t.Fatal("issuer never recovered")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCacheControlHonoured(t *testing.T) {
	k := newTestKey(t, "k1", jose.EdDSA)
	srv := newJWKSServer(t, k)
	srv.maxAge = 7200
	v := startVerifier(t, []IssuerConfig{issuerFor(srv, "EdDSA")}, Options{})
	if got := v.byName["idp"].interval(); got != 2*time.Hour {
		t.Fatalf("refresh interval = %v, want the issuer's max-age 2h", got)
	}
	for cc, want := range map[string]time.Duration{"max-age=5": 5 * time.Second, "no-store, max-age=600": 0, "public, max-age=600": 10 * time.Minute, "": 0} {
		if got := cacheMaxAge(cc); got != want {
			t.Errorf("cacheMaxAge(%q) = %v, want %v", cc, got, want)
		}
	}
}

func TestRevocation(t *testing.T) {
	k := newTestKey(t, "k1", jose.EdDSA)
	srv := newJWKSServer(t, k)
	v := startVerifier(t, []IssuerConfig{issuerFor(srv, "EdDSA")}, Options{})
	now := time.Now()
	a := claimsAt(now, "alice")
	a["jti"] = "tok-1"
	aliceTok := k.sign(t, a, nil)
	bobTok := k.sign(t, claimsAt(now, "bob"), nil)
	for _, tok := range []string{aliceTok, bobTok} {
		if _, err := v.Verify(context.Background(), tok, []string{"idp"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.Revoke(Revocation{Issuer: "idp", TokenID: "tok-1", Until: now.Add(time.Hour)}); n != 1 {
		t.Fatalf("revoking one cached token dropped %d", n)
	}
	if _, err := v.Verify(context.Background(), aliceTok, []string{"idp"}); reasonOf(t, err) != ReasonRevoked {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := v.Verify(context.Background(), bobTok, []string{"idp"}); err != nil {
		t.Fatalf("another token suffered from a revocation: %v", err)
	}
	v.Revoke(Revocation{Subject: "bob", IssuedBefore: now.Add(time.Second)})
	if _, err := v.Verify(context.Background(), bobTok, []string{"idp"}); reasonOf(t, err) != ReasonRevoked {
		t.Fatalf("token of a revoked subject: %v", err)
	}
	later := claimsAt(now.Add(2*time.Second), "bob")
	if _, err := v.Verify(context.Background(), k.sign(t, later, nil), []string{"idp"}); err != nil {
		t.Fatalf("token issued after the subject's revocation refused: %v", err)
	}
}

func TestClaimMapping(t *testing.T) {
	k := newTestKey(t, "k1", jose.EdDSA)
	srv := newJWKSServer(t, k)
	ic := issuerFor(srv, "EdDSA")
	ic.RolesClaim, ic.ScopesClaim = "realm_access.roles", "scp"
	v := startVerifier(t, []IssuerConfig{ic}, Options{})
	c := claimsAt(time.Now(), "svc-a")
	c["realm_access"] = map[string]any{"roles": []string{"ops", "dev"}}
	c["scp"] = []string{"orders:read"}
	c["client_id"] = "svc-a"
	p, err := v.Verify(context.Background(), k.sign(t, c, nil), []string{"idp"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasRole("ops") || !p.HasRole("dev") || p.HasRole("admin") || !p.HasScope("orders:read") || p.HasScope("read") || p.Kind != principal.Client {
		t.Fatalf("principal = %+v", p)
	}
}

func TestKeySetHygiene(t *testing.T) {
	set := `{"keys":[
		{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"sym"},
		{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"enc","use":"enc"},
		{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"ok","alg":"EdDSA"}
	]}`
	keys, skipped, err := parseKeySet([]byte(set), []string{"EdDSA", "HS256"})
	if err != nil || len(keys) != 1 || keys[0].kid != "ok" || len(skipped) != 2 {
		t.Fatalf("keys=%v skipped=%v err=%v", keys, skipped, err)
	}
	if _, _, err := parseKeySet([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`), []string{"HS256"}); err == nil {
		t.Fatal("a key set of only a symmetric key was accepted")
	}
	if _, _, err := parseKeySet([]byte(`not json`), []string{"EdDSA"}); err == nil {
		t.Fatal("garbage key set accepted")
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	base := IssuerConfig{Name: "a", Issuer: testIss, JWKSURI: "http://127.0.0.1:1/jwks", Audiences: []string{testAud}, Algorithms: []string{"EdDSA"}}
	for name, mod := range map[string]func(*IssuerConfig){
		"no audiences":         func(c *IssuerConfig) { c.Audiences = nil },
		"alg none":             func(c *IssuerConfig) { c.Algorithms = []string{"none"} },
		"HS256 with a key set": func(c *IssuerConfig) { c.Algorithms = []string{"HS256"}; c.HMACSecret = make([]byte, 32) },
		"HS256 short secret": func(c *IssuerConfig) {
			c.Algorithms = []string{"HS256"}
			c.JWKSURI = ""
			c.HMACSecret = []byte("short")
		},
		"mixed HS256":       func(c *IssuerConfig) { c.Algorithms = []string{"HS256", "EdDSA"}; c.HMACSecret = make([]byte, 32) },
		"no key source":     func(c *IssuerConfig) { c.JWKSURI = "" },
		"missing jwks_file": func(c *IssuerConfig) { c.JWKSURI = ""; c.JWKSFile = "/nonexistent/jwks.json" },
	} {
		c := base
		mod(&c)
		if _, err := NewVerifier([]IssuerConfig{c}, Options{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
