package principal

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMiddlewareAdmitsHonestToken(t *testing.T) {
	key := newTestKey(t)
	keys := newJWKSServer(t, jwks(t, key))
	var rejected []error
	v, _ := newTestVerifier(t, VerifierOptions{
		JWKSURL:  keys.jwksURL(),
		OnReject: func(_ *http.Request, err error) { rejected = append(rejected, err) },
	})
	svc := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := FromContext(r.Context())
		if p == nil {
			t.Error("no principal in the context")
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"sub": p.Subject, "kind": p.Kind, "issuer": p.Issuer, "roles": p.Roles,
			"scopes": p.Scopes, "method": p.Method, "expires": p.Expires.Unix(),
			"read": p.HasScope("accounts:read"),
		})
	})))
	defer svc.Close()

	req, _ := http.NewRequest(http.MethodGet, svc.URL+"/accounts/alice", nil)
	req.Header.Set(IdentityHeader, key.honest(t))
	resp, err := svc.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d %s, rejected: %v", resp.StatusCode, body, rejected)
	}
	want := fmt.Sprintf(`{"expires":%d,"issuer":"corp-idp","kind":"user","method":"jwt","read":true,"roles":["support"],"scopes":["accounts:read"],"sub":"alice"}`,
		testNow.Add(time.Minute).Unix())
	if got := strings.TrimSpace(string(body)); got != want {
		t.Fatalf("handler saw\n%s\nwant\n%s", got, want)
	}
	if n := keys.requests.Load(); n != 1 {
		t.Errorf("%d key set fetches, want 1", n)
	}
}

// TestVerifyRefuses shows each attack failing, both in Verify and through
// the middleware.
func TestVerifyRefuses(t *testing.T) {
	key := newTestKey(t)
	attacker := newTestKey(t)
	honest := key.honest(t)
	parts := strings.Split(honest, ".")

	with := func(change func(h, c map[string]any)) string {
		h, c := key.header(), claimsAt(testNow)
		change(h, c)
		return key.sign(t, h, c)
	}
	hs256 := func(secret []byte) string {
		h := key.header()
		h["alg"] = "HS256"
		input := b64json(t, h) + "." + parts[1]
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	pub := []byte(key.priv.Public().(ed25519.PublicKey))
	manyRoles := make([]string, 1200)
	for i := range manyRoles {
		manyRoles[i] = fmt.Sprint("role-", i)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	// The same signature bytes, encoded with non-zero trailing bits.
	last := parts[2][len(parts[2])-1]
	malleable := parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(last+1)

	tests := []struct {
		name, token, reason string
	}{
		{"payload swapped", parts[0] + "." + b64json(t, map[string]any{
			"iss": DefaultGatewayIssuer, "aud": "accounts", "sub": "alice", "iat": testNow.Unix(), "nbf": testNow.Unix(),
			"exp": testNow.Add(time.Minute).Unix(), "jti": "x", "kind": "user", "roles": []string{"admin"}, "method": "jwt",
		}) + "." + parts[2], "bad signature"},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(with(func(_, c map[string]any) { c["sub"] = "bob" }), ".")[2], "bad signature"},
		{"signed by another key, our kid", attacker.sign(t, key.header(), claimsAt(testNow)), "bad signature"},
		{"signed by another key, its kid", attacker.honest(t), "unknown key id"},
		{"signature truncated", honest[:len(honest)-4], "malformed signature"},
		{"signature bits malleated", malleable, "malformed signature"},
		{"wrong audience (replayed from another upstream)", with(func(_, c map[string]any) { c["aud"] = "billing" }), "audience"},
		{"two audiences", with(func(_, c map[string]any) { c["aud"] = []string{"accounts", "billing"} }), "audience"},
		{"no audience", with(func(_, c map[string]any) { delete(c, "aud") }), "audience"},
		{"wrong issuer", with(func(_, c map[string]any) { c["iss"] = "https://idp.example" }), "issuer"},
		{"expired", with(func(_, c map[string]any) { c["exp"] = testNow.Add(-6 * time.Second).Unix() }), "expired"},
		{"not yet valid", with(func(_, c map[string]any) { c["nbf"] = testNow.Add(6 * time.Second).Unix() }), "not valid before"},
		{"issued in the future", with(func(_, c map[string]any) { c["iat"] = testNow.Add(time.Hour).Unix() }), "future"},
		{"no exp", with(func(_, c map[string]any) { delete(c, "exp") }), "required"},
		{"fractional exp", with(func(_, c map[string]any) { c["exp"] = float64(testNow.Unix()) + 60.5 }), "date"},
		{"no sub", with(func(_, c map[string]any) { delete(c, "sub") }), "no sub"},
		{"no jti", with(func(_, c map[string]any) { delete(c, "jti") }), "no jti"},
		{"unknown kind", with(func(_, c map[string]any) { c["kind"] = "admin" }), "unknown kind"},
		{"unknown method", with(func(_, c map[string]any) { c["method"] = "password" }), "unknown method"},
		{"typ of an access token", with(func(h, _ map[string]any) { h["typ"] = "at+jwt" }), "typ"},
		{"typ JWT", with(func(h, _ map[string]any) { h["typ"] = "JWT" }), "typ"},
		{"no typ", with(func(h, _ map[string]any) { delete(h, "typ") }), "typ"},
		{"alg none", b64json(t, map[string]any{"alg": "none", "typ": IdentityTokenType, "kid": key.kid}) + "." + parts[1] + ".", "alg"},
		{"alg none, signature kept", b64json(t, map[string]any{"alg": "none", "typ": IdentityTokenType, "kid": key.kid}) + "." + parts[1] + "." + parts[2], "alg"},
		{"alg ES256", with(func(h, _ map[string]any) { h["alg"] = "ES256" }), "alg"},
		{"HS256 keyed with the public key", hs256(pub), "alg"},
		{"HS256 keyed with the JWK x", hs256([]byte(key.x())), "alg"},
		{"HS256 keyed with the JWK set", hs256(jwks(t, key)), "alg"},
		{"embedded jwk", attacker.sign(t, map[string]any{"alg": "EdDSA", "typ": IdentityTokenType, "kid": attacker.kid,
			"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": attacker.x()}}, claimsAt(testNow)), "embedded"},
		{"embedded jwk, signed by the gateway", with(func(h, _ map[string]any) {
			h["jwk"] = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": key.x()}
		}), "embedded"},
		{"jku", with(func(h, _ map[string]any) { h["jku"] = "https://attacker.example/jwks.json" }), "embedded"},
		{"x5u", with(func(h, _ map[string]any) { h["x5u"] = "https://attacker.example/cert.pem" }), "embedded"},
		{"x5c", with(func(h, _ map[string]any) { h["x5c"] = []string{"MIIB"} }), "embedded"},
		{"crit", with(func(h, _ map[string]any) { h["crit"] = []string{"exp"} }), "crit"},
		{"b64 false", with(func(h, _ map[string]any) { h["b64"] = false }), "unexpected parameter"},
		{"no kid", with(func(h, _ map[string]any) { delete(h, "kid") }), "no kid"},
		{"kid not a string", with(func(h, _ map[string]any) { h["kid"] = 7 }), "not a string"},
		{"kid path injection", with(func(h, _ map[string]any) { h["kid"] = "../../../../dev/null" }), "unknown key id"},
		{"header not an object", base64.RawURLEncoding.EncodeToString([]byte(`["EdDSA"]`)) + "." + parts[1] + "." + parts[2], "JSON object"},
		{"header null", base64.RawURLEncoding.EncodeToString([]byte(`null`)) + "." + parts[1] + "." + parts[2], "JSON object"},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], "base64"},
		{"oversized", with(func(_, c map[string]any) { c["roles"] = manyRoles }), "more than"},
		{"empty", "", "compact JWS"},
		{"two parts", parts[0] + "." + parts[1], "compact JWS"},
		{"four parts", honest + ".x", "compact JWS"},
		{"many dots", strings.Repeat(".", 8000), "compact JWS"},
		{"JWE-shaped", "a.b.c.d.e", "compact JWS"},
		{"not base64", "!!!." + parts[1] + "." + parts[2], "base64"},
	}
	if len(sig) != 64 {
		t.Fatalf("honest signature has %d bytes", len(sig))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := newJWKSServer(t, jwks(t, key))
			var rejected error
			v, _ := newTestVerifier(t, VerifierOptions{
				JWKSURL:  keys.jwksURL(),
				OnReject: func(_ *http.Request, err error) { rejected = err },
			})
			// The honest token passes on this very verifier.
			if _, err := v.Verify(context.Background(), honest); err != nil {
				t.Fatalf("honest token refused: %v", err)
			}

			p, err := v.Verify(context.Background(), tt.token)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("error %q, want ErrInvalidToken saying %q", err, tt.reason)
			}

			status, body := serve(t, v, tt.token)
			if status != http.StatusUnauthorized || body != `{"error":"unauthorized"}` {
				t.Fatalf("middleware answered %d %s", status, body)
			}
			if rejected == nil {
				t.Fatal("OnReject was not called")
			}
		})
	}
}

// serve runs one request with the identity header set to tokens through v's
// middleware and returns the status and body; the handler fails the test if
// it is reached without a principal.
func serve(t *testing.T, v *Verifier, tokens ...string) (int, string) {
	t.Helper()
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if FromContext(r.Context()) == nil {
			t.Error("handler reached without a principal")
		}
		io.WriteString(w, "ok")
	}))
	r := httptest.NewRequest(http.MethodGet, "/accounts/alice", nil)
	for _, tok := range tokens {
		r.Header.Add(IdentityHeader, tok)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if ct := w.Header().Get("Content-Type"); w.Code != http.StatusOK && ct != "application/json" {
		t.Errorf("refusal Content-Type %q", ct)
	}
	return w.Code, w.Body.String()
}

func TestMiddlewareHeaderCount(t *testing.T) {
	key := newTestKey(t)
	v, _ := newTestVerifier(t, VerifierOptions{JWKS: jwks(t, key)})
	honest := key.honest(t)
	for name, tc := range map[string]struct {
		tokens []string
		status int
	}{
		"one":                 {[]string{honest}, http.StatusOK},
		"none":                {nil, http.StatusUnauthorized},
		"empty":               {[]string{""}, http.StatusUnauthorized},
		"two, both valid":     {[]string{honest, honest}, http.StatusUnauthorized},
		"two, forged first":   {[]string{newTestKey(t).honest(t), honest}, http.StatusUnauthorized},
		"two in one, a comma": {[]string{honest + ", " + honest}, http.StatusUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			status, body := serve(t, v, tc.tokens...)
			if status != tc.status {
				t.Fatalf("status %d %s, want %d", status, body, tc.status)
			}
			if status == http.StatusUnauthorized && body != `{"error":"unauthorized"}` {
				t.Fatalf("body %s", body)
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	key := newTestKey(t)
	v, clk := newTestVerifier(t, VerifierOptions{JWKS: jwks(t, key)})
	tok := key.honest(t) // iat = nbf = testNow, exp = testNow + 60 s

	for _, tc := range []struct {
		at time.Duration
		ok bool
	}{
		{-5 * time.Second, true}, // a gateway clock ahead by up to the leeway
		{-5*time.Second - time.Nanosecond, false},
		{0, true},
		{time.Minute + 5*time.Second - time.Nanosecond, true},
		{time.Minute + 5*time.Second, false},
	} {
		clk.Add(-clk.Now().Sub(testNow) + tc.at)
		_, err := v.Verify(context.Background(), tok)
		if (err == nil) != tc.ok {
			t.Errorf("at %s: err = %v, want ok %v", tc.at, err, tc.ok)
		}
	}
}

func TestVerifyReturnsPrincipal(t *testing.T) {
	key := newTestKey(t)
	v, _ := newTestVerifier(t, VerifierOptions{JWKS: jwks(t, key)})
	for _, kind := range []Kind{User, Service, Client} {
		for _, method := range []Method{JWT, Introspection, MTLS, APIKey} {
			c := claimsAt(testNow)
			c["kind"], c["method"] = kind, method
			delete(c, "issuer")
			delete(c, "roles")
			c["aud"] = []string{"accounts"} // the array form, one element
			p, err := v.Verify(context.Background(), key.sign(t, key.header(), c))
			if err != nil {
				t.Fatalf("%s/%s: %v", kind, method, err)
			}
			if p.Kind != kind || p.Method != method || p.Subject != "alice" || p.Issuer != "" || p.Roles != nil ||
				!slices.Equal(p.Scopes, []string{"accounts:read"}) || p.Claims != nil {
				t.Fatalf("%s/%s: got %+v", kind, method, p)
			}
		}
	}
}

func TestCustomIssuer(t *testing.T) {
	key := newTestKey(t)
	v, _ := newTestVerifier(t, VerifierOptions{JWKS: jwks(t, key), Issuer: "edge-eu"})
	c := claimsAt(testNow)
	c["iss"] = "edge-eu"
	if _, err := v.Verify(context.Background(), key.sign(t, key.header(), c)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), key.honest(t)); err == nil {
		t.Fatal("the default issuer was accepted by a verifier configured for another")
	}
}

// TestUnknownKidFlood: tokens with forged key ids cost the gateway at most
// one key set request per MinRefetchInterval.
func TestUnknownKidFlood(t *testing.T) {
	key := newTestKey(t)
	keys := newJWKSServer(t, jwks(t, key))
	v, clk := newTestVerifier(t, VerifierOptions{JWKSURL: keys.jwksURL()})
	if _, err := v.Verify(context.Background(), key.honest(t)); err != nil {
		t.Fatal(err)
	}
	flood := func() {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 50 {
					h := key.header()
					h["kid"] = fmt.Sprintf("forged-%d-%d", g, i)
					tok := key.sign(t, h, claimsAt(testNow))
					if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
						t.Errorf("forged kid: err = %v", err)
					}
					// Honest requests keep passing meanwhile.
					if _, err := v.Verify(context.Background(), key.honest(t)); err != nil {
						t.Errorf("honest token during the flood: %v", err)
					}
				}
			})
		}
		wg.Wait()
	}

	flood() // within the interval of the first fetch: nothing more
	if n := keys.requests.Load(); n != 1 {
		t.Fatalf("%d key set requests after a flood within the interval, want 1", n)
	}
	clk.Add(DefaultMinRefetchInterval)
	flood()
	if n := keys.requests.Load(); n != 2 {
		t.Fatalf("%d key set requests after a second flood, want 2", n)
	}
	clk.Add(DefaultMinRefetchInterval - time.Nanosecond)
	flood()
	if n := keys.requests.Load(); n != 2 {
		t.Fatalf("%d key set requests before the interval passed, want 2", n)
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newKey := newTestKey(t), newTestKey(t)
	keys := newJWKSServer(t, jwks(t, oldKey))
	v, clk := newTestVerifier(t, VerifierOptions{JWKSURL: keys.jwksURL()})
	if _, err := v.Verify(context.Background(), oldKey.honest(t)); err != nil {
		t.Fatal(err)
	}

	// The gateway restarts with a new key.
	keys.set(jwks(t, newKey))
	clk.Add(time.Second)
	if _, err := v.Verify(context.Background(), newKey.honest(t)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("new key within MinRefetchInterval of the last fetch: err = %v, want a refusal", err)
	}
	clk.Add(DefaultMinRefetchInterval)
	if _, err := v.Verify(context.Background(), newKey.honest(t)); err != nil {
		t.Fatalf("the new key was not picked up: %v", err)
	}
	// The old key is gone with the set that had it.
	if _, err := v.Verify(context.Background(), oldKey.honest(t)); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token of the removed key: err = %v, want a refusal", err)
	}
	if n := keys.requests.Load(); n != 2 {
		t.Errorf("%d key set requests, want 2", n)
	}
}

func TestKeySetRefresh(t *testing.T) {
	oldKey, newKey := newTestKey(t), newTestKey(t)
	keys := newJWKSServer(t, jwks(t, oldKey))
	v, clk := newTestVerifier(t, VerifierOptions{JWKSURL: keys.jwksURL(), RefreshInterval: time.Minute})
	if _, err := v.Verify(context.Background(), oldKey.at(t, clk.Now())); err != nil {
		t.Fatal(err)
	}

	// A failing gateway: the last good key set is kept.
	keys.status.Store(http.StatusInternalServerError)
	clk.Add(time.Minute)
	if _, err := v.Verify(context.Background(), oldKey.at(t, clk.Now())); err != nil {
		t.Fatalf("verify with the refresh failing: %v", err)
	}
	if n := keys.requests.Load(); n != 2 {
		t.Fatalf("%d key set requests, want 2 (a refresh was due)", n)
	}
	// Refreshes are retried no faster than MinRefetchInterval.
	if _, err := v.Verify(context.Background(), oldKey.at(t, clk.Now())); err != nil {
		t.Fatal(err)
	}
	if n := keys.requests.Load(); n != 2 {
		t.Fatalf("%d key set requests, want 2 (retry too early)", n)
	}
	// Garbage is not a key set either.
	keys.status.Store(http.StatusOK)
	keys.set([]byte(`{"keys":[]}`))
	clk.Add(DefaultMinRefetchInterval)
	if _, err := v.Verify(context.Background(), oldKey.at(t, clk.Now())); err != nil {
		t.Fatalf("verify after an empty key set was served: %v", err)
	}

	// The gateway is back, with a rotated key set: the refresh replaces it.
	keys.set(jwks(t, newKey, oldKey))
	clk.Add(DefaultMinRefetchInterval)
	if _, err := v.Verify(context.Background(), oldKey.at(t, clk.Now())); err != nil {
		t.Fatal(err)
	}
	before := keys.requests.Load()
	if _, err := v.Verify(context.Background(), newKey.at(t, clk.Now())); err != nil {
		t.Fatalf("new key after the refresh: %v", err)
	}
	if n := keys.requests.Load(); n != before {
		t.Errorf("the refreshed set did not have the new key: %d requests, want %d", n, before)
	}
}

func TestKeysUnavailable(t *testing.T) {
	key := newTestKey(t)
	keys := newJWKSServer(t, jwks(t, key))
	keys.status.Store(http.StatusServiceUnavailable)
	v, clk := newTestVerifier(t, VerifierOptions{JWKSURL: keys.jwksURL()})

	for range 5 {
		if _, err := v.Verify(context.Background(), key.honest(t)); !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("err = %v, want ErrKeysUnavailable", err)
		}
	}
	status, body := serve(t, v, key.honest(t))
	if status != http.StatusServiceUnavailable || body != `{"error":"unavailable"}` {
		t.Fatalf("middleware answered %d %s", status, body)
	}
	if n := keys.requests.Load(); n != 1 {
		t.Fatalf("%d key set requests while the gateway is down, want 1 per interval", n)
	}

	keys.status.Store(http.StatusOK)
	clk.Add(DefaultMinRefetchInterval)
	if status, body := serve(t, v, key.honest(t)); status != http.StatusOK {
		t.Fatalf("after the gateway came back: %d %s", status, body)
	}
}

func TestFetchCancelledDoesNotBlockOthers(t *testing.T) {
	key := newTestKey(t)
	keys := newJWKSServer(t, jwks(t, key))
	v, _ := newTestVerifier(t, VerifierOptions{JWKSURL: keys.jwksURL()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Verify(ctx, key.honest(t)); !errors.Is(err, ErrKeysUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
	// The next caller fetches at once: a client that went away says nothing
	// about the gateway.
	if _, err := v.Verify(context.Background(), key.honest(t)); err != nil {
		t.Fatal(err)
	}
}

func TestFetchDoesNotFollowRedirects(t *testing.T) {
	key := newTestKey(t)
	elsewhere := newJWKSServer(t, jwks(t, key))
	redirect := httptest.NewServer(http.RedirectHandler(elsewhere.jwksURL(), http.StatusFound))
	defer redirect.Close()
	v, _ := newTestVerifier(t, VerifierOptions{JWKSURL: redirect.URL})
	if _, err := v.Verify(context.Background(), key.honest(t)); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("err = %v, want ErrKeysUnavailable", err)
	}
	if n := elsewhere.requests.Load(); n != 0 {
		t.Fatalf("the redirect was followed (%d requests)", n)
	}
}

func TestNewVerifierRefuses(t *testing.T) {
	set := jwks(t, newTestKey(t))
	for name, o := range map[string]VerifierOptions{
		"no audience":           {JWKS: set},
		"no keys":               {Audience: "a"},
		"both keys":             {Audience: "a", JWKS: set, JWKSURL: "http://127.0.0.1:9901/identity/jwks.json"},
		"not a URL":             {Audience: "a", JWKSURL: "127.0.0.1:9901"},
		"file URL":              {Audience: "a", JWKSURL: "file:///etc/jwks.json"},
		"negative leeway":       {Audience: "a", JWKS: set, Leeway: -time.Second},
		"huge leeway":           {Audience: "a", JWKS: set, Leeway: time.Hour},
		"hammering refetch":     {Audience: "a", JWKS: set, MinRefetchInterval: time.Millisecond},
		"refresh below refetch": {Audience: "a", JWKS: set, RefreshInterval: time.Second},
		"bad static set":        {Audience: "a", JWKS: []byte(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`)},
		"empty static set":      {Audience: "a", JWKS: []byte{}},
	} {
		if _, err := NewVerifier(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseKeySet(t *testing.T) {
	key := newTestKey(t)
	x := key.x()
	tests := []struct {
		name, set string
		kids      []string // nil: refused
	}{
		{"gateway's", string(jwks(t, key)), []string{key.kid}},
		{"minimal", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"k"}]}`, []string{"k"}},
		{"others skipped", `{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"},{"kty":"OKP","crv":"X25519","x":"` + x + `","kid":"x"},` +
			`{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"enc","use":"enc"},{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"es","alg":"ES256"},` +
			`{"kty":"OKP","crv":"Ed25519","x":"` + x + `"},{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"k"}]}`, []string{"k"}},
		{"private key", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","d":"` + x + `","kid":"k"}]}`, nil},
		{"duplicate kid", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"k"},{"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"k"}]}`, nil},
		{"short x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"k"}]}`, nil},
		{"padded x", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x + `=","kid":"k"}]}`, nil},
		{"no keys", `{"keys":[]}`, nil},
		{"not a set", `[]`, nil},
		{"not JSON", `<html>`, nil},
	}
	for _, tt := range tests {
		ks, err := parseKeySet([]byte(tt.set))
		if tt.kids == nil {
			if err == nil {
				t.Errorf("%s: accepted", tt.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		var kids []string
		for k := range ks.keys {
			kids = append(kids, k)
		}
		if !slices.Equal(kids, tt.kids) {
			t.Errorf("%s: kids %v, want %v", tt.name, kids, tt.kids)
		}
	}
}

// BenchmarkVerify is a full verification (cache off); see BenchmarkVerifyCached.
func BenchmarkVerify(b *testing.B) {
	key := newTestKey(b)
	v, _ := newTestVerifier(b, VerifierOptions{JWKS: jwks(b, key), CacheSize: -1})
	tok := key.honest(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
	}
}
