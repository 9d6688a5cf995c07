package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/token/store"
	"github.com/rampart-sec/rampart/internal/token/store/storetest"
)

func jwksKids(t *testing.T, e *env) []string {
	t.Helper()
	resp, err := http.Get(e.issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	j, err := jose.ParseSignedCompact(tok, signingAlgs)
	if err != nil {
		t.Fatal(err)
	}
	return j.Signatures[0].Header.KeyID
}

func TestKeyRotation(t *testing.T) {
	e := sqliteEnv(t)
	ctx := t.Context()
	before := clientcredentialsToken(t, e)
	kids := jwksKids(t, e)
	oldKid := kidOf(t, before)
	// The key that will sign next is already published.
	var next string
	for _, k := range kids {
		if k != oldKid {
			next = k
		}
	}
	if len(kids) != 2 || next == "" {
		t.Fatalf("JWKS %v: want the current key %s and a next key", kids, oldKid)
	}
	v := e.verifier() // loads the JWKS once, before the rotation

	if err := e.srv.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	after := clientcredentialsToken(t, e)
	if kidOf(t, after) != next {
		t.Fatalf("after rotation the token is signed by %s, want the published next key %s", kidOf(t, after), next)
	}
	// A gateway that fetched the JWKS before the rotation verifies both.
	for name, tok := range map[string]string{"before": before, "after": after} {
		if _, err := v.Verify(ctx, tok, []string{"rampart"}); err != nil {
			t.Fatalf("token signed %s the rotation: %v", name, err)
		}
	}
	kids = jwksKids(t, e)
	if len(kids) != 3 || !strings.Contains(strings.Join(kids, " "), oldKid) {
		t.Fatalf("after rotation JWKS %v: want retired, current and next", kids)
	}
	// Once every token the retired key signed has expired, it is dropped.
	e.clock.add(e.srv.cfg.maxLifetime() + time.Second)
	if err := e.srv.reloadKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, e); len(kids) != 2 || strings.Contains(strings.Join(kids, " "), oldKid) {
		t.Fatalf("the retired key is still published: %v", kids)
	}
}

func TestES256Keys(t *testing.T) {
	e := newEnv(t, storetest.SQLite, func(c *Config) { c.SigningAlg = "ES256" })
	tok := clientcredentialsToken(t, e)
	if _, err := e.verifier().Verify(t.Context(), tok, []string{"rampart"}); err != nil {
		t.Fatal(err)
	}
}

// TestCrashSafety issues tokens, closes the server and the store as a
// crash would leave them (no further writes), reopens both, and checks
// that every acknowledged token is still valid and the rotation state
// whole.
func TestCrashSafety(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b.Open, nil)
			_, tok := e.userTokens()
			_, r1 := e.refresh(tok.RefreshToken)
			cc := clientcredentialsToken(t, e)
			e.http.Close()
			e.srv.Close()
			e.st.Close()

			st := storetest.OpenDSN(t, e.dsn)
			srv, err := New(t.Context(), e.cfg, Options{Store: st, Now: e.clock.now})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			for _, at := range []string{cc, r1["access_token"].(string)} {
				if _, ok := srv.checkAccessToken(at); !ok {
					t.Fatal("an access token issued before the restart no longer verifies")
				}
			}
			if _, err := st.GetRefreshToken(t.Context(), store.TokenHash(r1["refresh_token"].(string))); err != nil {
				t.Fatalf("the rotated-in refresh token was lost: %v", err)
			}
			if _, err := st.GetRefreshToken(t.Context(), store.TokenHash(tok.RefreshToken)); err == nil {
				t.Fatal("the rotated-out refresh token is active again")
			}
		})
	}
}

func TestRevocationFeed(t *testing.T) {
	e := sqliteEnv(t)
	ctx := t.Context()
	if err := e.st.CreateClient(ctx, store.Client{ID: "gw", SecretHash: store.HashSecret("gw-secret"), AuthMethod: AuthSecretBasic, Scopes: []string{RevocationsScope}}); err != nil {
		t.Fatal(err)
	}
	feed := func(user, pass, since string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", e.issuer+"/revocations?since="+since, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if status, _ := feed("", "", "0"); status != 401 {
		t.Fatalf("anonymous feed: %d", status)
	}
	if status, _ := feed("svc", svcSecret, "0"); status != 403 {
		t.Fatalf("feed for a client without %s: %d", RevocationsScope, status)
	}
	if status, _ := feed("gw", "gw-secret", "-1"); status != 400 {
		t.Fatalf("negative since: %d", status)
	}
	// Basic credentials are form-encoded (RFC 6749 2.3.1), as on /oauth2/token.
	if err := e.st.CreateClient(ctx, store.Client{ID: "gw2", SecretHash: store.HashSecret("s+e/c%r"), AuthMethod: AuthSecretBasic, Scopes: []string{RevocationsScope}}); err != nil {
		t.Fatal(err)
	}
	if status, _ := feed("gw2", url.QueryEscape("s+e/c%r"), "0"); status != 200 {
		t.Fatalf("form-encoded Basic credentials: %d", status)
	}

	cc := clientcredentialsToken(t, e)
	v := e.verifier()
	if _, err := v.Verify(ctx, cc, []string{"rampart"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []authn.Revocation
	e.srv.Revocations().Subscribe(func(r authn.Revocation) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
		v.Revoke(r)
	})
	// The CLI revokes the client in another process: the server picks it
	// up from the store on its next reload.
	now := e.clock.now()
	if err := e.st.RevokeClient(ctx, "svc", now, now.Add(e.srv.cfg.maxLifetime())); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.revs.poll(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 1 || got[0].ClientID != "svc" || got[0].Issuer != "rampart" {
		t.Fatalf("subscriber got %+v", got)
	}
	mu.Unlock()
	if _, err := v.Verify(ctx, cc, []string{"rampart"}); err == nil {
		t.Fatal("the gateway still accepts a token of the revoked client")
	}
	if _, body := e.post("/oauth2/introspect", url.Values{"token": {cc}}, "web", webSecret); body["active"] != false {
		t.Fatal("introspection still reports a revoked client's token active")
	}
	status, body := feed("gw", "gw-secret", "0")
	rs, _ := body["revocations"].([]any)
	if status != 200 || len(rs) != 1 || rs[0].(map[string]any)["client_id"] != "svc" || body["next"].(float64) < 1 {
		t.Fatalf("feed: %d %v", status, body)
	}
	if _, body := feed("gw", "gw-secret", "1"); len(body["revocations"].([]any)) != 0 {
		t.Fatalf("feed since 1: %v", body)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	e := sqliteEnv(t)
	ctx := t.Context()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: "c1", Algorithm: "EdDSA"}}})
	if err := e.st.CreateClient(ctx, store.Client{ID: "pkj", AuthMethod: AuthPrivateKeyJWT, JWKS: string(set),
		GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"orders:read"}}); err != nil {
		t.Fatal(err)
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	assertion := func(key ed25519.PrivateKey, mod func(*jwt.Claims)) string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key, KeyID: "c1"}}, nil)
		now := time.Now()
		cl := jwt.Claims{Issuer: "pkj", Subject: "pkj", Audience: jwt.Audience{e.issuer + "/oauth2/token"}, ID: randomToken(8),
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}
		if mod != nil {
			mod(&cl)
		}
		tok, _ := jwt.Signed(s).Claims(cl).Serialize()
		return tok
	}
	form := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {assertionType}, "client_assertion": {a}}
	}
	honest := assertion(priv, nil)
	if status, body := e.post("/oauth2/token", form(honest), "", ""); status != 200 {
		t.Fatalf("honest assertion: %d %v", status, body)
	}
	for name, a := range map[string]string{
		"replayed":       honest,
		"wrong key":      assertion(otherPriv, nil),
		"wrong audience": assertion(priv, func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://elsewhere"} }),
		"expired":        assertion(priv, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute)) }),
		"too long-lived": assertion(priv, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(48 * time.Hour)) }),
		"sub is not iss": assertion(priv, func(c *jwt.Claims) { c.Subject = "svc" }),
		"no jti":         assertion(priv, func(c *jwt.Claims) { c.ID = "" }),
		"alg none":       "eyJhbGciOiJub25lIn0." + strings.Split(honest, ".")[1] + ".",
	} {
		t.Run(name, func(t *testing.T) {
			if status, body := e.post("/oauth2/token", form(a), "", ""); status != 401 || body["error"] != "invalid_client" {
				t.Fatalf("got %d %v, want invalid_client", status, body)
			}
		})
	}
}
