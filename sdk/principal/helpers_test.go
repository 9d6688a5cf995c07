package principal

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests sign their own tokens, byte by byte, so that they can make every
// kind of broken one; internal/idtoken's tests check that the gateway's
// signer and this verifier agree.

// testNow is the fake time the tests' tokens and verifiers share.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is a Verifier's clock that tests move by hand.
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

// testKey is a gateway signing key and its RFC 7638 key id.
type testKey struct {
	priv ed25519.PrivateKey
	kid  string
}

func newTestKey(t testing.TB) testKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`))
	return testKey{priv: priv, kid: base64.RawURLEncoding.EncodeToString(sum[:])}
}

func (k testKey) x() string {
	return base64.RawURLEncoding.EncodeToString(k.priv.Public().(ed25519.PublicKey))
}

// jwks is the JWK Set of keys, as the gateway serves it.
func jwks(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	for _, k := range keys {
		set.Keys = append(set.Keys, jwk{"OKP", "Ed25519", k.x(), k.kid, "EdDSA", "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (k testKey) header() map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": IdentityTokenType, "kid": k.kid}
}

// claimsAt are an honest token's claims for the accounts service, issued at
// now.
func claimsAt(now time.Time) map[string]any {
	return map[string]any{
		"iss":    DefaultGatewayIssuer,
		"aud":    "accounts",
		"sub":    "alice",
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(time.Minute).Unix(),
		"jti":    "c2VjcmV0LWp0aS0xMjM0NQ",
		"kind":   "user",
		"issuer": "corp-idp",
		"roles":  []string{"support"},
		"scopes": []string{"accounts:read"},
		"method": "jwt",
	}
}

func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// sign makes a compact JWS of header and claims signed by k.
func (k testKey) sign(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	input := b64json(t, header) + "." + b64json(t, claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(k.priv, []byte(input)))
}

// honest is a valid token for the accounts service at testNow.
func (k testKey) honest(t testing.TB) string { return k.at(t, testNow) }

// at is a valid token for the accounts service issued at now.
func (k testKey) at(t testing.TB, now time.Time) string {
	return k.sign(t, k.header(), claimsAt(now))
}

// jwksServer serves a key set that tests can change or break, counting
// requests.
type jwksServer struct {
	*httptest.Server
	body     atomic.Pointer[[]byte]
	status   atomic.Int32
	requests atomic.Int32
}

func newJWKSServer(t testing.TB, set []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(set)
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if r.Method != http.MethodGet || r.URL.Path != "/identity/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(int(s.status.Load()))
		w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(b []byte) { s.body.Store(&b) }

func (s *jwksServer) jwksURL() string { return s.URL + "/identity/jwks.json" }

// newTestVerifier returns a Verifier for the accounts service on a fake
// clock at testNow.
func newTestVerifier(t testing.TB, o VerifierOptions) (*Verifier, *fakeClock) {
	t.Helper()
	if o.Audience == "" {
		o.Audience = "accounts"
	}
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: testNow}
	v.now = clk.Now
	return v, clk
}
