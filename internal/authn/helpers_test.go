package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/rampart-sec/rampart/internal/event"
)

const (
	testIss = "https://idp.test"
	testAud = "api"
)

// testKey is a signing key of the fake issuer, signed with go-jose the way a
// real issuer would.
type testKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// newTestKey makes a key for alg. RSA keys are slow to make: one is shared.
func newTestKey(t testing.TB, kid string, alg jose.SignatureAlgorithm) *testKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.RS256, jose.PS256:
		rsaOnce.Do(func() { rsaKey, err = rsa.GenerateKey(rand.Reader, 2048) })
		priv = rsaKey
	default:
		t.Fatalf("no test key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: alg, priv: priv}
}

func (k *testKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// sign makes a token with these claims; extra header fields are added.
func (k *testKey) sign(t testing.TB, claims map[string]any, hdr map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	for n, v := range hdr {
		opts = opts.WithHeader(n, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claims returns valid claims for subject sub at now.
func claimsAt(now time.Time, sub string) map[string]any {
	return map[string]any{
		"iss": testIss, "aud": testAud, "sub": sub,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"jti": sub + "-" + now.Format(time.RFC3339Nano), "scope": "read write", "roles": []string{"admin"},
	}
}

// rawToken builds a compact JWS from raw header and claims JSON and a signer
// function over the signing input, for tokens no library would make.
func rawToken(hdr, claims string, sign func(input string) []byte) string {
	in := base64.RawURLEncoding.EncodeToString([]byte(hdr)) + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	return in + "." + base64.RawURLEncoding.EncodeToString(sign(in))
}

// jwksServer is a real issuer key set endpoint on 127.0.0.1.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	keys   []jose.JSONWebKey
	down   bool
	hits   atomic.Int64
	maxAge int
}

func newJWKSServer(t testing.TB, keys ...*testKey) *jwksServer {
	s := &jwksServer{}
	for _, k := range keys {
		s.keys = append(s.keys, k.jwk())
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if s.maxAge > 0 {
			w.Header().Set("Cache-Control", "public, max-age="+itoa(s.maxAge))
		}
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func (s *jwksServer) setKeys(keys ...*testKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = nil
	for _, k := range keys {
		s.keys = append(s.keys, k.jwk())
	}
}

func (s *jwksServer) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// events collects what the verifier emits.
type events struct {
	mu  sync.Mutex
	got []event.Event
}

func (e *events) Emit(ev event.Event) {
	e.mu.Lock()
	e.got = append(e.got, ev)
	e.mu.Unlock()
}

func (e *events) count(typ event.Type) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.got {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

// issuerFor is a JWKS-backed issuer config for the test server.
func issuerFor(srv *jwksServer, algs ...string) IssuerConfig {
	return IssuerConfig{
		Name: "idp", Issuer: testIss, JWKSURI: srv.URL, Audiences: []string{testAud},
		Algorithms: algs, Leeway: 30 * time.Second, MinRefetchInterval: time.Minute,
	}
}

// startVerifier builds and starts a verifier and waits for its key sets.
func startVerifier(t testing.TB, ics []IssuerConfig, o Options) *Verifier {
	t.Helper()
	v, err := NewVerifier(ics, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v.Start(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for _, ic := range ics {
		for !v.Ready(ic.Name) {
			if time.Now().After(deadline) {
				t.Fatalf("issuer %s never became ready", ic.Name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return v
}

// reasonOf returns the refusal reason of err, "" for nil.
func reasonOf(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %v is not an *Error", err)
	}
	return e.Reason
}
