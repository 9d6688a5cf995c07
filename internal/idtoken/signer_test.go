package idtoken

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// fakeClock is a Signer's clock that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newTestSigner returns a Signer with a 60 s TTL on a fake clock that starts
// at a time with a fraction of a second, to exercise rounding.
func newTestSigner(t testing.TB) (*Signer, *fakeClock) {
	t.Helper()
	s := NewSigner(newKey(t), "", time.Minute)
	clk := &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.UTC)}
	s.now = clk.Now
	return s, clk
}

func alice() *principal.Principal {
	return &principal.Principal{
		Subject: "alice",
		Kind:    principal.User,
		Issuer:  "corp-idp",
		Roles:   []string{"admin", "support"},
		Scopes:  []string{"accounts:read", "accounts:write"},
		Method:  principal.JWT,
		Claims:  map[string]any{"email": "alice@example.com", "sub": "alice"},
	}
}

// decode returns a token's header and claims, unverified.
func decode(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if err := d.Decode(dst); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	return header, claims
}

func unixClaim(t *testing.T, c map[string]any, name string) int64 {
	t.Helper()
	n, ok := c[name].(json.Number)
	if !ok {
		t.Fatalf("claim %s = %#v, want an integer", name, c[name])
	}
	v, err := n.Int64()
	if err != nil {
		t.Fatalf("claim %s: %v", name, err)
	}
	return v
}

func TestJWKS(t *testing.T) {
	s := NewSigner(newKey(t), "", time.Minute)
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(s.JWKS(), &set); err != nil {
		t.Fatalf("JWKS is not a JWK set: %v\n%s", err, s.JWKS())
	}
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
	}
	k := set.Keys[0]
	for name, want := range map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig"} {
		if k[name] != want {
			t.Errorf("%s = %q, want %q", name, k[name], want)
		}
	}
	if _, ok := k["d"]; ok {
		t.Fatal("JWKS publishes the private key")
	}
	// RFC 7638 §3.2: the SHA-256 of the required members in lexical order.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + k["x"] + `"}`))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); k["kid"] != want {
		t.Errorf("kid = %q, want the RFC 7638 thumbprint %q", k["kid"], want)
	}
	// Callers get a copy.
	s.JWKS()[0] = 'X'
	if s.JWKS()[0] != '{' {
		t.Fatal("JWKS returned the Signer's own buffer")
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := NewSigner(newKey(t), "", time.Minute) // real clock: the verifier's
	p := alice()
	p.Expires = time.Now().Add(time.Hour)
	tok, err := s.Sign(p, "accounts")
	if err != nil {
		t.Fatal(err)
	}

	header, claims := decode(t, tok)
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(s.JWKS(), &jwks); err != nil {
		t.Fatal(err)
	}
	wantHeader := map[string]any{"alg": "EdDSA", "typ": principal.IdentityTokenType, "kid": jwks.Keys[0].Kid}
	if fmt.Sprint(header) != fmt.Sprint(wantHeader) {
		t.Errorf("header = %v, want %v", header, wantHeader)
	}
	var names []string
	for n := range claims {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"aud", "exp", "iat", "iss", "issuer", "jti", "kind", "method", "nbf", "roles", "scopes", "sub"}; !slices.Equal(names, want) {
		t.Errorf("claims %v, want exactly %v (the client token's claims must not leak)", names, want)
	}
	if claims["iss"] != principal.DefaultGatewayIssuer || claims["aud"] != "accounts" {
		t.Errorf("iss, aud = %v, %v", claims["iss"], claims["aud"])
	}
	if jti, _ := claims["jti"].(string); len(jti) < 20 {
		t.Errorf("jti %q is too short to be random", jti)
	}

	// The services' verifier, with the key set given statically and fetched
	// from an admin-like endpoint.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(s.JWKS())
	}))
	defer srv.Close()
	for name, o := range map[string]principal.VerifierOptions{
		"static": {Audience: "accounts", JWKS: s.JWKS()},
		"url":    {Audience: "accounts", JWKSURL: srv.URL + "/identity/jwks.json"},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := principal.NewVerifier(o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got.Subject != p.Subject || got.Kind != p.Kind || got.Issuer != p.Issuer || got.Method != p.Method ||
				!slices.Equal(got.Roles, p.Roles) || !slices.Equal(got.Scopes, p.Scopes) {
				t.Errorf("verified %+v, signed %+v", got, p)
			}
			if want := time.Unix(unixClaim(t, claims, "exp"), 0); !got.Expires.Equal(want) {
				t.Errorf("Expires = %v, want the token's exp %v", got.Expires, want)
			}
			if got.Claims != nil {
				t.Errorf("Claims = %v, want nil", got.Claims)
			}

			// The same token is refused by another upstream.
			o.Audience = "billing"
			other, err := principal.NewVerifier(o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Verify(context.Background(), tok); err == nil {
				t.Fatal("a token for accounts verified at billing")
			}
		})
	}

	// A principal without issuer, roles or scopes (an mTLS workload).
	svc := &principal.Principal{Subject: "spiffe://rampart.local/orders", Kind: principal.Service, Method: principal.MTLS}
	tok, err = s.Sign(svc, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	v, err := principal.NewVerifier(principal.VerifierOptions{Audience: "accounts", JWKS: s.JWKS()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != svc.Subject || got.Kind != principal.Service || got.Method != principal.MTLS ||
		got.Issuer != "" || got.Roles != nil || got.Scopes != nil {
		t.Errorf("verified %+v, signed %+v", got, svc)
	}
}

func TestSignExpiry(t *testing.T) {
	s, clk := newTestSigner(t)
	now := clk.Now()
	tests := []struct {
		name    string
		expires time.Time
		wantExp int64
	}{
		{"no credential expiry: ttl", time.Time{}, now.Add(time.Minute).Unix()},
		{"credential outlives ttl", now.Add(time.Hour), now.Add(time.Minute).Unix()},
		{"credential expires first", now.Add(10*time.Second + 700*time.Millisecond), now.Add(10*time.Second + 700*time.Millisecond).Unix()},
		{"credential expires in a moment", now.Add(time.Millisecond), now.Add(time.Millisecond).Unix()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := alice()
			p.Expires = tt.expires
			tok, err := s.Sign(p, "accounts")
			if err != nil {
				t.Fatal(err)
			}
			_, c := decode(t, tok)
			exp := unixClaim(t, c, "exp")
			if exp != tt.wantExp {
				t.Errorf("exp = %d, want %d", exp, tt.wantExp)
			}
			if !p.Expires.IsZero() && time.Unix(exp, 0).After(p.Expires) {
				t.Errorf("exp %d outlives the credential (%v)", exp, p.Expires)
			}
			if iat, nbf := unixClaim(t, c, "iat"), unixClaim(t, c, "nbf"); iat != now.Unix() || nbf != now.Unix() {
				t.Errorf("iat, nbf = %d, %d, want %d", iat, nbf, now.Unix())
			}
		})
	}

	for _, expires := range []time.Time{now, now.Add(-time.Second)} {
		p := alice()
		p.Expires = expires
		if tok, err := s.Sign(p, "accounts"); err == nil {
			t.Errorf("signed %q for a credential that expired at %v (now %v)", tok, expires, now)
		}
	}
}

func TestSignCache(t *testing.T) {
	s, clk := newTestSigner(t)
	p := alice()
	t1, err := s.Sign(p, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(29 * time.Second)
	if got, _ := s.Sign(p, "accounts"); got != t1 {
		t.Fatal("a new token before half the lifetime passed")
	}
	// Same content, another Principal value: the same statement, one token.
	if got, _ := s.Sign(alice(), "accounts"); got != t1 {
		t.Fatal("an equal principal got another token")
	}
	// Another upstream, or a principal that states anything else, never
	// gets this token.
	other := map[string]func(p *principal.Principal){
		"subject": func(p *principal.Principal) { p.Subject = "alicf" },
		"kind":    func(p *principal.Principal) { p.Kind = principal.Client },
		"issuer":  func(p *principal.Principal) { p.Issuer = "other-idp" },
		"method":  func(p *principal.Principal) { p.Method = principal.Introspection },
		"roles":   func(p *principal.Principal) { p.Roles = []string{"admin"} },
		"role moved to scopes": func(p *principal.Principal) {
			p.Roles, p.Scopes = p.Roles[:1], append([]string{p.Roles[1]}, p.Scopes...)
		},
		"scopes":  func(p *principal.Principal) { p.Scopes = nil },
		"expires": func(p *principal.Principal) { p.Expires = clk.Now().Add(time.Hour) },
	}
	for name, change := range other {
		q := alice()
		change(q)
		if got, err := s.Sign(q, "accounts"); err != nil || got == t1 {
			t.Errorf("%s changed: got the same token (err %v)", name, err)
		}
	}
	if got, _ := s.Sign(p, "billing"); got == t1 {
		t.Fatal("another audience got the same token")
	}

	clk.Add(time.Second) // 30 s: half of 60 s
	t2, err := s.Sign(p, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	if t2 == t1 {
		t.Fatal("the token was reused past half its lifetime")
	}
	if got, _ := s.Sign(p, "accounts"); got != t2 {
		t.Fatal("the new token is not reused")
	}

	// A token capped by its credential is reused for half of what it has.
	q := alice()
	q.Expires = clk.Now().Add(10 * time.Second) // exp rounds down to 9.4 s from now
	t3, err := s.Sign(q, "accounts")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(4600 * time.Millisecond)
	if got, _ := s.Sign(q, "accounts"); got != t3 {
		t.Fatal("a capped token was not reused within half its lifetime")
	}
	clk.Add(200 * time.Millisecond)
	if got, _ := s.Sign(q, "accounts"); got == t3 {
		t.Fatal("a capped token was reused past half its lifetime")
	}
}

func TestSignRefuses(t *testing.T) {
	s, _ := newTestSigner(t)
	tests := map[string]func(p *principal.Principal) (*principal.Principal, string){
		"nil principal": func(*principal.Principal) (*principal.Principal, string) { return nil, "accounts" },
		"no audience":   func(p *principal.Principal) (*principal.Principal, string) { return p, "" },
		"no subject":    func(p *principal.Principal) (*principal.Principal, string) { p.Subject = ""; return p, "accounts" },
		"unknown kind":  func(p *principal.Principal) (*principal.Principal, string) { p.Kind = "robot"; return p, "accounts" },
		"no kind":       func(p *principal.Principal) (*principal.Principal, string) { p.Kind = ""; return p, "accounts" },
		"unknown method": func(p *principal.Principal) (*principal.Principal, string) {
			p.Method = "password"
			return p, "accounts"
		},
		"too large": func(p *principal.Principal) (*principal.Principal, string) {
			for i := range 1000 {
				p.Roles = append(p.Roles, fmt.Sprintf("role-%d", i))
			}
			return p, "accounts"
		},
	}
	for name, build := range tests {
		t.Run(name, func(t *testing.T) {
			p, aud := build(alice())
			if tok, err := s.Sign(p, aud); err == nil {
				t.Fatalf("signed %q", tok)
			}
		})
	}

	for name, bad := range map[string]*Signer{
		"short key": NewSigner(ed25519.PrivateKey("short"), "", time.Minute),
		"zero ttl":  NewSigner(newKey(t), "", 0),
		"short ttl": NewSigner(newKey(t), "", 999*time.Millisecond),
	} {
		if tok, err := bad.Sign(alice(), "accounts"); err == nil {
			t.Errorf("%s: signed %q", name, tok)
		}
	}
	if NewSigner(nil, "", time.Minute).JWKS() != nil {
		t.Error("JWKS of a Signer without a key is not nil")
	}
}

func TestSignConcurrent(t *testing.T) {
	s := NewSigner(newKey(t), "", time.Minute)
	audiences := []string{"accounts", "billing", "orders"}
	verifiers := map[string]*principal.Verifier{}
	for _, aud := range audiences {
		v, err := principal.NewVerifier(principal.VerifierOptions{Audience: aud, JWKS: s.JWKS()})
		if err != nil {
			t.Fatal(err)
		}
		verifiers[aud] = v
	}
	var principals []*principal.Principal
	for i := range 8 {
		p := alice()
		p.Subject = fmt.Sprintf("user-%d", i)
		principals = append(principals, p)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				p := principals[(g+i)%len(principals)]
				aud := audiences[i%len(audiences)]
				tok, err := s.Sign(p, aud)
				if err != nil {
					errs <- err
					return
				}
				got, err := verifiers[aud].Verify(context.Background(), tok)
				if err != nil {
					errs <- fmt.Errorf("verify %s for %s: %w", p.Subject, aud, err)
					return
				}
				if got.Subject != p.Subject {
					errs <- fmt.Errorf("signed for %s, got a token for %s", p.Subject, got.Subject)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := s.cache.len(); n != len(principals)*len(audiences) {
		t.Errorf("cache holds %d tokens, want %d", n, len(principals)*len(audiences))
	}
}

func TestCacheBounded(t *testing.T) {
	s, clk := newTestSigner(t)
	now := clk.Now()
	const n = cacheShards*cacheShardEntries + 5000
	for i := range n {
		p := &principal.Principal{Subject: fmt.Sprint(i), Kind: principal.User, Method: principal.JWT}
		s.cache.put(s.cache.hash(p, "a"), newEntry(p, "a", "token", now.Add(time.Hour+time.Duration(i)*time.Millisecond)), now)
	}
	if got := s.cache.len(); got > cacheShards*cacheShardEntries {
		t.Fatalf("cache holds %d entries, more than %d", got, cacheShards*cacheShardEntries)
	}
	// The entries evicted first are the ones that stop being reused first.
	oldest := &principal.Principal{Subject: "0", Kind: principal.User, Method: principal.JWT}
	if _, ok := s.cache.get(s.cache.hash(oldest, "a"), oldest, "a", now); ok {
		t.Error("the oldest entry survived")
	}
	newest := &principal.Principal{Subject: fmt.Sprint(n - 1), Kind: principal.User, Method: principal.JWT}
	if _, ok := s.cache.get(s.cache.hash(newest, "a"), newest, "a", now); !ok {
		t.Error("the newest entry was evicted")
	}

	// Once past their reuse, entries are swept by later inserts rather than
	// kept alive.
	later := now.Add(2 * time.Hour)
	const m = cacheShards * 20 // enough that every shard gets some
	for i := range m {
		p := &principal.Principal{Subject: fmt.Sprint("late-", i), Kind: principal.User, Method: principal.JWT}
		s.cache.put(s.cache.hash(p, "a"), newEntry(p, "a", "token", later.Add(time.Minute)), later)
	}
	if got := s.cache.len(); got > m {
		t.Fatalf("cache holds %d entries after the sweep, want at most %d", got, m)
	}
}

func BenchmarkSignCached(b *testing.B) {
	s := NewSigner(newKey(b), "", time.Minute)
	p := alice()
	if _, err := s.Sign(p, "accounts"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(p, "accounts"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignCachedParallel(b *testing.B) {
	s := NewSigner(newKey(b), "", time.Minute)
	var ps []*principal.Principal
	for i := range 64 {
		p := alice()
		p.Subject = fmt.Sprint("user-", i)
		if _, err := s.Sign(p, "accounts"); err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Sign(ps[i%len(ps)], "accounts"); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkSignUncached(b *testing.B) {
	s := NewSigner(newKey(b), "", time.Minute)
	// Each call is a minute later: every Sign misses the cache and signs.
	t := time.Now()
	s.now = func() time.Time { t = t.Add(time.Minute); return t }
	p := alice()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sign(p, "accounts"); err != nil {
			b.Fatal(err)
		}
	}
}
