package oidclogin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	testClientID = "gateway"
	testSecret   = "s3cret/with+odd&chars"
)

// testOP is an OpenID provider for the tests: discovery, JWKS, /authorize
// that redirects straight back with a code, /token that checks the code
// (once), client authentication, redirect_uri and the PKCE verifier (S256),
// and returns an ID token carrying the nonce it was given.
type testOP struct {
	t   *testing.T
	srv *httptest.Server
	now func() time.Time

	key    *ecdsa.PrivateKey
	kid    string
	forger *ecdsa.PrivateKey // signs instead of key when forge is set

	// Set before the first request.
	redirectURL  string
	secret       string   // "" : a public client
	authMethods  []string // token_endpoint_auth_methods_supported
	pkceMethods  []string // code_challenge_methods_supported
	noEndSession bool
	noIDToken    bool   // the token response has no id_token
	jwksDown     bool   // the key set answers 503
	tokenURL     string // overrides token_endpoint in discovery

	mu         sync.Mutex
	grants     map[string]grant
	used       map[string]bool
	replays    int                    // codes presented a second time
	challenges []string               // code_challenge of each /authorize
	verifiers  []string               // code_verifier of each /token
	clientAuth []string               // how the client authenticated at /token: basic, post, none
	claims     func(c map[string]any) // adjusts the next ID tokens' claims
	forge      bool
	refusals   []string // why /authorize or /token refused
}

type grant struct {
	challenge, nonce, redirect string
}

func newTestOP(t *testing.T, now func() time.Time) *testOP {
	t.Helper()
	op := &testOP{
		t:           t,
		now:         now,
		kid:         "k1",
		secret:      testSecret,
		authMethods: []string{"client_secret_basic", "client_secret_post"},
		pkceMethods: []string{"S256"},
		grants:      map[string]grant{},
		used:        map[string]bool{},
	}
	var err error
	if op.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if op.forger, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", op.discovery)
	mux.HandleFunc("GET /jwks", op.jwks)
	mux.HandleFunc("GET /authorize", op.authorize)
	mux.HandleFunc("POST /token", op.token)
	op.srv = httptest.NewUnstartedServer(mux)
	op.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the untrusted-certificate test fails
	op.srv.StartTLS()
	t.Cleanup(op.srv.Close)
	return op
}

func (op *testOP) issuer() string { return op.srv.URL }

func (op *testOP) discovery(w http.ResponseWriter, r *http.Request) {
	doc := map[string]any{
		"issuer":                                op.issuer(),
		"authorization_endpoint":                op.issuer() + "/authorize",
		"token_endpoint":                        op.issuer() + "/token",
		"jwks_uri":                              op.issuer() + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
	}
	if op.tokenURL != "" {
		doc["token_endpoint"] = op.tokenURL
	}
	if op.authMethods != nil {
		doc["token_endpoint_auth_methods_supported"] = op.authMethods
	}
	if op.pkceMethods != nil {
		doc["code_challenge_methods_supported"] = op.pkceMethods
	}
	if !op.noEndSession {
		doc["end_session_endpoint"] = op.issuer() + "/logout?ui=1"
	}
	writeJSON(w, http.StatusOK, doc)
}

func (op *testOP) jwks(w http.ResponseWriter, r *http.Request) {
	if op.jwksDown {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &op.key.PublicKey, KeyID: op.kid, Algorithm: "ES256", Use: "sig"},
	}})
}

func (op *testOP) refuse(w http.ResponseWriter, status int, code, why string) {
	op.mu.Lock()
	op.refusals = append(op.refusals, why)
	op.mu.Unlock()
	writeJSON(w, status, map[string]string{"error": code, "error_description": why})
}

func (op *testOP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("response_type") != "code":
		op.refuse(w, http.StatusBadRequest, "unsupported_response_type", "response_type")
		return
	case q.Get("client_id") != testClientID:
		op.refuse(w, http.StatusBadRequest, "invalid_client", "client_id")
		return
	case q.Get("redirect_uri") != op.redirectURL:
		op.refuse(w, http.StatusBadRequest, "invalid_request", "redirect_uri")
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		op.refuse(w, http.StatusBadRequest, "invalid_request", "PKCE S256 required")
		return
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		op.refuse(w, http.StatusBadRequest, "invalid_scope", "openid scope")
		return
	case q.Get("state") == "" || q.Get("nonce") == "":
		op.refuse(w, http.StatusBadRequest, "invalid_request", "state and nonce required")
		return
	}
	code := rand.Text()
	op.mu.Lock()
	op.grants[code] = grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri")}
	op.challenges = append(op.challenges, q.Get("code_challenge"))
	op.mu.Unlock()
	back, _ := url.Parse(op.redirectURL)
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	bq.Set("iss", op.issuer())
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (op *testOP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		op.refuse(w, http.StatusBadRequest, "invalid_request", "form")
		return
	}
	f := r.PostForm
	// Client authentication (RFC 6749 2.3.1: the Basic credentials are
	// form-encoded first).
	method := "none"
	id, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		method = "basic"
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	} else if secret != "" {
		method = "post"
	}
	op.mu.Lock()
	op.clientAuth = append(op.clientAuth, method)
	op.verifiers = append(op.verifiers, f.Get("code_verifier"))
	op.mu.Unlock()
	if id != testClientID || secret != op.secret || (op.secret == "" && method != "none") {
		op.refuse(w, http.StatusUnauthorized, "invalid_client", "client authentication")
		return
	}
	if f.Get("grant_type") != "authorization_code" {
		op.refuse(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type")
		return
	}
	code := f.Get("code")
	op.mu.Lock()
	g, ok := op.grants[code]
	delete(op.grants, code)
	if op.used[code] {
		op.replays++
	}
	op.used[code] = true
	op.mu.Unlock()
	switch {
	case !ok:
		op.refuse(w, http.StatusBadRequest, "invalid_grant", "unknown or used code")
		return
	case f.Get("redirect_uri") != g.redirect:
		op.refuse(w, http.StatusBadRequest, "invalid_grant", "redirect_uri")
		return
	case s256(f.Get("code_verifier")) != g.challenge:
		op.refuse(w, http.StatusBadRequest, "invalid_grant", "PKCE verifier")
		return
	}
	now := op.now()
	claims := map[string]any{
		"iss":                op.issuer(),
		"sub":                "alice",
		"aud":                testClientID,
		"iat":                now.Unix(),
		"exp":                now.Add(5 * time.Minute).Unix(),
		"nonce":              g.nonce,
		"email":              "alice@example.com",
		"name":               "Alice Liddell",
		"preferred_username": "alice",
		"roles":              []string{"admin", "dev"},
		"groups":             []string{"g1", "g2", "g3"},
	}
	op.mu.Lock()
	adjust, forge := op.claims, op.forge
	op.mu.Unlock()
	if adjust != nil {
		adjust(claims)
	}
	key := op.key
	if forge {
		key = op.forger
	}
	resp := map[string]any{
		"access_token": "at-" + rand.Text(),
		"token_type":   "Bearer",
		"expires_in":   300,
		"id_token":     op.sign(key, claims),
	}
	if op.noIDToken {
		delete(resp, "id_token")
	}
	writeJSON(w, http.StatusOK, resp)
}

func (op *testOP) sign(key *ecdsa.PrivateKey, claims map[string]any) string {
	op.t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: op.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		op.t.Error(err)
		return ""
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		op.t.Error(err)
		return ""
	}
	s, _ := jws.CompactSerialize()
	return s
}

// record is what the OP saw, copied under its lock.
type record struct {
	challenges, verifiers, clientAuth, refusals []string
	replays                                     int
}

func (op *testOP) seen() record {
	op.mu.Lock()
	defer op.mu.Unlock()
	return record{
		challenges: slices.Clone(op.challenges), verifiers: slices.Clone(op.verifiers),
		clientAuth: slices.Clone(op.clientAuth), refusals: slices.Clone(op.refusals), replays: op.replays,
	}
}

func (op *testOP) setClaims(f func(map[string]any)) {
	op.mu.Lock()
	op.claims = f
	op.mu.Unlock()
}

func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
