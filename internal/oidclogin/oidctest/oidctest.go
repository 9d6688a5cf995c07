// Package oidctest provides an OpenID provider for tests: a real TLS server
// on 127.0.0.1 that does discovery, a key set, /authorize and /token for the
// authorization code flow with PKCE (S256), strictly enough that a login
// which succeeds against it proves the client did its part. It is for tests
// only; nothing in it is safe to serve.
package oidctest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
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

// The credentials New gives a Provider.
const (
	DefaultClientID = "gateway"
	// DefaultClientSecret has characters that must be form-encoded in a
	// Basic Authorization header (RFC 6749 2.3.1).
	DefaultClientSecret = "s3cret/with+odd&chars"
)

// Provider is an OpenID provider for one client. /authorize checks the
// request (response_type=code, client_id, redirect_uri, PKCE S256, the
// openid scope, state and nonce) and redirects straight back to RedirectURL
// with a code, the state and the iss parameter: there is no login page.
// /token authenticates the client (client_secret_basic, client_secret_post,
// or none for a public client), accepts each code once, checks redirect_uri
// and the PKCE verifier, and returns an access token and an ES256 ID token
// for subject "alice" (email alice@example.com, name "Alice Liddell",
// preferred_username alice, roles [admin dev], groups [g1 g2 g3]) carrying
// the nonce of the authorization, valid for 5 minutes.
//
// The exported fields are read by the handlers without a lock: set them
// before the requests they affect, never while a request that reads them may
// be in flight. In particular, set the fields discovery reports before
// starting a client that runs discovery in the background. New sets them to
// a provider that accepts a confidential client.
type Provider struct {
	// ClientID is the only client the Provider knows.
	ClientID string
	// ClientSecret authenticates the client at /token; "" makes it a
	// public client, which must send no secret.
	ClientSecret string
	// RedirectURL is the only redirect_uri /authorize accepts and where it
	// sends the browser back. It is read by each /authorize, so it can be
	// set once the client's callback URL is known; while it is "",
	// /authorize refuses every request.
	RedirectURL string
	// Now is the Provider's clock for the ID tokens' iat and exp; New sets
	// it to time.Now.
	Now func() time.Time

	// AuthMethods is discovery's token_endpoint_auth_methods_supported;
	// nil leaves it out.
	AuthMethods []string
	// PKCEMethods is discovery's code_challenge_methods_supported; nil
	// leaves it out. /authorize demands S256 whatever it says.
	PKCEMethods []string
	// TokenURL, when set, is discovery's token_endpoint instead of the
	// Provider's own.
	TokenURL string
	// NoEndSession leaves end_session_endpoint (Issuer()+"/logout?ui=1")
	// out of discovery.
	NoEndSession bool
	// NoIDToken leaves id_token out of the token response.
	NoIDToken bool
	// JWKSDown makes the key set answer 503.
	JWKSDown bool
	// ForgeSignature signs ID tokens with a key that is not in the key set.
	ForgeSignature bool
	// AdjustClaims, when set, edits the claims of each ID token before it
	// is signed: add, change or delete claims to make a bad token.
	AdjustClaims func(claims map[string]any)

	tb     testing.TB
	srv    *httptest.Server
	key    *ecdsa.PrivateKey
	forger *ecdsa.PrivateKey
	kid    string

	mu     sync.Mutex
	grants map[string]grant
	used   map[string]bool
	seen   Record
}

type grant struct {
	challenge, nonce, redirect string
}

// Record is what a Provider saw, in order.
type Record struct {
	// Challenges has the code_challenge of each accepted /authorize.
	Challenges []string
	// Verifiers has the code_verifier of each /token request.
	Verifiers []string
	// ClientAuth has how the client authenticated at each /token request:
	// "basic", "post" or "none".
	ClientAuth []string
	// Refusals has why each refused request was refused, e.g.
	// "redirect_uri", "client authentication", "unknown or used code",
	// "PKCE verifier".
	Refusals []string
	// Replays counts codes presented to /token a second time.
	Replays int
}

// New starts a Provider on 127.0.0.1 and closes it when tb's test ends.
// Its TLS certificate is the one every httptest TLS server uses; trust it
// through Client or Certificate.
func New(tb testing.TB) *Provider {
	tb.Helper()
	p := &Provider{
		ClientID:     DefaultClientID,
		ClientSecret: DefaultClientSecret,
		Now:          time.Now,
		AuthMethods:  []string{"client_secret_basic", "client_secret_post"},
		PKCEMethods:  []string{"S256"},
		tb:           tb,
		kid:          "k1",
		grants:       map[string]grant{},
		used:         map[string]bool{},
	}
	var err error
	if p.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		tb.Fatal(err)
	}
	if p.forger, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	p.srv = httptest.NewUnstartedServer(mux)
	// Tests fail TLS handshakes on purpose (an untrusted certificate); the
	// server's log of them is noise.
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.StartTLS()
	tb.Cleanup(p.srv.Close)
	return p
}

// Issuer is the Provider's issuer URL ("https://127.0.0.1:port"), which is
// also where its discovery document is.
func (p *Provider) Issuer() string { return p.srv.URL }

// Client returns an HTTP client that trusts the Provider's certificate.
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// Certificate returns the Provider's TLS certificate, to add to the roots
// of a client that must trust it.
func (p *Provider) Certificate() *x509.Certificate { return p.srv.Certificate() }

// Seen returns a copy of what the Provider saw so far.
func (p *Provider) Seen() Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Record{
		Challenges: slices.Clone(p.seen.Challenges),
		Verifiers:  slices.Clone(p.seen.Verifiers),
		ClientAuth: slices.Clone(p.seen.ClientAuth),
		Refusals:   slices.Clone(p.seen.Refusals),
		Replays:    p.seen.Replays,
	}
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	doc := map[string]any{
		"issuer":                                p.Issuer(),
		"authorization_endpoint":                p.Issuer() + "/authorize",
		"token_endpoint":                        p.Issuer() + "/token",
		"jwks_uri":                              p.Issuer() + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
	}
	if p.TokenURL != "" {
		doc["token_endpoint"] = p.TokenURL
	}
	if p.AuthMethods != nil {
		doc["token_endpoint_auth_methods_supported"] = p.AuthMethods
	}
	if p.PKCEMethods != nil {
		doc["code_challenge_methods_supported"] = p.PKCEMethods
	}
	if !p.NoEndSession {
		doc["end_session_endpoint"] = p.Issuer() + "/logout?ui=1"
	}
	writeJSON(w, http.StatusOK, doc)
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	if p.JWKSDown {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &p.key.PublicKey, KeyID: p.kid, Algorithm: "ES256", Use: "sig"},
	}})
}

func (p *Provider) refuse(w http.ResponseWriter, status int, code, why string) {
	p.mu.Lock()
	p.seen.Refusals = append(p.seen.Refusals, why)
	p.mu.Unlock()
	writeJSON(w, status, map[string]string{"error": code, "error_description": why})
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("response_type") != "code":
		p.refuse(w, http.StatusBadRequest, "unsupported_response_type", "response_type")
		return
	case q.Get("client_id") != p.ClientID:
		p.refuse(w, http.StatusBadRequest, "invalid_client", "client_id")
		return
	case p.RedirectURL == "":
		p.refuse(w, http.StatusBadRequest, "invalid_request", "redirect_uri (Provider.RedirectURL is not set)")
		return
	case q.Get("redirect_uri") != p.RedirectURL:
		p.refuse(w, http.StatusBadRequest, "invalid_request", "redirect_uri")
		return
	case q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43:
		p.refuse(w, http.StatusBadRequest, "invalid_request", "PKCE S256 required")
		return
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		p.refuse(w, http.StatusBadRequest, "invalid_scope", "openid scope")
		return
	case q.Get("state") == "" || q.Get("nonce") == "":
		p.refuse(w, http.StatusBadRequest, "invalid_request", "state and nonce required")
		return
	}
	back, err := url.Parse(p.RedirectURL)
	if err != nil {
		p.refuse(w, http.StatusBadRequest, "invalid_request", "redirect_uri (Provider.RedirectURL is not a URL)")
		return
	}
	code := rand.Text()
	p.mu.Lock()
	p.grants[code] = grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri")}
	p.seen.Challenges = append(p.seen.Challenges, q.Get("code_challenge"))
	p.mu.Unlock()
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	bq.Set("iss", p.Issuer())
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.refuse(w, http.StatusBadRequest, "invalid_request", "form")
		return
	}
	f := r.PostForm
	// Client authentication (RFC 6749 2.3.1: the Basic credentials are
	// form-encoded first).
	method := "none"
	id, secret := f.Get("client_id"), f.Get("client_secret")
	if u, pw, ok := r.BasicAuth(); ok {
		method = "basic"
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(pw)
	} else if secret != "" {
		method = "post"
	}
	p.mu.Lock()
	p.seen.ClientAuth = append(p.seen.ClientAuth, method)
	p.seen.Verifiers = append(p.seen.Verifiers, f.Get("code_verifier"))
	p.mu.Unlock()
	if id != p.ClientID || secret != p.ClientSecret || (p.ClientSecret == "" && method != "none") {
		p.refuse(w, http.StatusUnauthorized, "invalid_client", "client authentication")
		return
	}
	if f.Get("grant_type") != "authorization_code" {
		p.refuse(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type")
		return
	}
	code := f.Get("code")
	p.mu.Lock()
	g, ok := p.grants[code]
	delete(p.grants, code)
	if p.used[code] {
		p.seen.Replays++
	}
	p.used[code] = true
	p.mu.Unlock()
	switch {
	case !ok:
		p.refuse(w, http.StatusBadRequest, "invalid_grant", "unknown or used code")
		return
	case f.Get("redirect_uri") != g.redirect:
		p.refuse(w, http.StatusBadRequest, "invalid_grant", "redirect_uri")
		return
	case s256(f.Get("code_verifier")) != g.challenge:
		p.refuse(w, http.StatusBadRequest, "invalid_grant", "PKCE verifier")
		return
	}
	now := p.Now()
	claims := map[string]any{
		"iss":                p.Issuer(),
		"sub":                "alice",
		"aud":                p.ClientID,
		"iat":                now.Unix(),
		"exp":                now.Add(5 * time.Minute).Unix(),
		"nonce":              g.nonce,
		"email":              "alice@example.com",
		"name":               "Alice Liddell",
		"preferred_username": "alice",
		"roles":              []string{"admin", "dev"},
		"groups":             []string{"g1", "g2", "g3"},
	}
	if p.AdjustClaims != nil {
		p.AdjustClaims(claims)
	}
	key := p.key
	if p.ForgeSignature {
		key = p.forger
	}
	resp := map[string]any{
		"access_token": "at-" + rand.Text(),
		"token_type":   "Bearer",
		"expires_in":   300,
	}
	if !p.NoIDToken {
		resp["id_token"] = p.sign(key, claims)
	}
	writeJSON(w, http.StatusOK, resp)
}

// sign returns claims as a compact JWS; on failure it fails the test and
// returns "", which the client must refuse anyway.
func (p *Provider) sign(key *ecdsa.PrivateKey, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: p.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		p.tb.Errorf("oidctest: sign ID token: %v", err)
		return ""
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		p.tb.Errorf("oidctest: encode ID token claims: %v", err)
		return ""
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		p.tb.Errorf("oidctest: sign ID token: %v", err)
		return ""
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		p.tb.Errorf("oidctest: serialize ID token: %v", err)
		return ""
	}
	return s
}

// s256 is the PKCE S256 challenge of verifier (RFC 7636 4.2).
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
