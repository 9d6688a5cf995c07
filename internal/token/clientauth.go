package token

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/token/store"
)

// Client authentication methods.
const (
	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthNone          = "none"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

var assertionAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256, jose.PS256}

// authenticateClient authenticates the client of a POST request (form
// already parsed) by its registered method. allowPublic admits a public
// client that only names itself (token and revocation endpoints).
func (s *Server) authenticateClient(r *http.Request, allowPublic bool) (store.Client, *oauthError) {
	c, reason := s.clientFromRequest(r, allowPublic)
	if reason != "" {
		s.emit(r, event.Event{Type: ClientAuthFailed, Severity: event.Medium, ClientIP: clientIP(r), Principal: c.ID, Reason: reason, Route: r.URL.Path})
		return store.Client{}, errInvalidClient()
	}
	return c, nil
}

// basicAuth reads HTTP Basic client credentials. RFC 6749 section 2.3.1:
// both parts are form-encoded, so "a+b" is "a b" and "%2B" is "+".
func basicAuth(r *http.Request) (id, secret string, present, malformed bool) {
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return "", "", false, false
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	return id, secret, true, err1 != nil || err2 != nil
}

func (s *Server) clientFromRequest(r *http.Request, allowPublic bool) (store.Client, string) {
	ctx := r.Context()
	basicID, basicSecret, hasBasic, malformed := basicAuth(r)
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	assertion := r.PostForm.Get("client_assertion")
	methods := 0
	for _, used := range []bool{hasBasic, formSecret != "", assertion != ""} {
		if used {
			methods++
		}
	}
	if methods > 1 {
		return store.Client{}, "several_methods"
	}
	switch {
	case hasBasic:
		if malformed || (formID != "" && formID != basicID) {
			return store.Client{}, "malformed_basic"
		}
		return s.secretClient(ctx, basicID, basicSecret, clientIP(r))
	case formSecret != "":
		return s.secretClient(ctx, formID, formSecret, clientIP(r))
	case assertion != "":
		if r.PostForm.Get("client_assertion_type") != assertionType {
			return store.Client{}, "assertion_type"
		}
		return s.assertionClient(ctx, formID, assertion)
	case allowPublic && formID != "":
		c, err := s.activeClient(ctx, formID)
		if err != nil {
			return store.Client{ID: formID}, "unknown_client"
		}
		if !c.Public || c.AuthMethod != AuthNone {
			return c, "credentials_missing"
		}
		return c, ""
	default:
		return store.Client{}, "credentials_missing"
	}
}

func (s *Server) activeClient(ctx context.Context, id string) (store.Client, error) {
	if id == "" || len(id) > 256 {
		return store.Client{}, store.ErrNotFound
	}
	now := s.now()
	if c, ok := s.clients.get(id, now); ok {
		return c, nil
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return store.Client{}, err
	}
	if !c.Revoked.IsZero() {
		return store.Client{}, store.ErrNotFound
	}
	s.clients.put(c, now)
	return c, nil
}

// clientCache keeps active clients for a short TTL so bursts of token and
// introspection requests do not read the store each time. A client
// revocation seen by this process drops its entry at once; one made
// elsewhere takes effect within the TTL (and its tokens are revoked by
// the revocation feed regardless).
type clientCache struct {
	ttl time.Duration
	max int
	mu  sync.RWMutex
	m   map[string]cachedClient
}

type cachedClient struct {
	c       store.Client
	expires time.Time
}

func (cc *clientCache) get(id string, now time.Time) (store.Client, bool) {
	cc.mu.RLock()
	e, ok := cc.m[id]
	cc.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return store.Client{}, false
	}
	return e.c, true
}

func (cc *clientCache) put(c store.Client, now time.Time) {
	if cc.ttl <= 0 {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil || len(cc.m) >= cc.max {
		cc.m = make(map[string]cachedClient)
	}
	cc.m[c.ID] = cachedClient{c: c, expires: now.Add(cc.ttl)}
}

func (cc *clientCache) drop(id string) {
	cc.mu.Lock()
	delete(cc.m, id)
	cc.mu.Unlock()
}

// Failed secret checks allowed per client and per address in a minute
// before further guesses are refused without hashing: argon2id is
// deliberately expensive, and an attacker must not get to spend it at
// will. A client whose secret is in the verified cache is never refused.
const (
	secretFailuresPerClient = 20
	secretFailuresPerIP     = 100
)

func (s *Server) secretClient(ctx context.Context, id, secret, ip string) (store.Client, string) {
	c, err := s.activeClient(ctx, id)
	if err != nil {
		return store.Client{ID: id}, "unknown_client"
	}
	// A secret client may use either secret method; nothing else may use one.
	if c.AuthMethod != AuthSecretBasic && c.AuthMethod != AuthSecretPost || c.SecretHash == "" {
		return c, "method_not_registered"
	}
	if len(secret) > 512 {
		return c, "wrong_secret"
	}
	key := s.secrets.key(c.ID, secret)
	if s.secrets.hit(key, c.SecretHash) {
		return c, ""
	}
	now := s.now()
	if ok, _ := s.secretFailures.allowed(c.ID, ip, now); !ok {
		return c, "secret_guessing_throttled"
	}
	if !store.VerifySecret(c.SecretHash, secret) {
		s.secretFailures.failed(c.ID, ip, now)
		return c, "wrong_secret"
	}
	s.secrets.add(key, c.SecretHash)
	return c, ""
}

// assertionClient checks a private_key_jwt assertion (RFC 7523 section 3).
func (s *Server) assertionClient(ctx context.Context, formID, assertion string) (store.Client, string) {
	if len(assertion) > maxTokenSize {
		return store.Client{}, "assertion_malformed"
	}
	tok, err := jwt.ParseSigned(assertion, assertionAlgs)
	if err != nil {
		return store.Client{}, "assertion_malformed"
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || unverified.Issuer == "" {
		return store.Client{}, "assertion_malformed"
	}
	if formID != "" && formID != unverified.Issuer {
		return store.Client{}, "assertion_client_mismatch"
	}
	c, err := s.activeClient(ctx, unverified.Issuer)
	if err != nil {
		return store.Client{ID: unverified.Issuer}, "unknown_client"
	}
	if c.AuthMethod != AuthPrivateKeyJWT {
		return c, "method_not_registered"
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(c.JWKS), &set); err != nil {
		return c, "client_jwks_invalid"
	}
	h := tok.Headers[0]
	var cl jwt.Claims
	verified := false
	for _, k := range set.Keys {
		if (h.KeyID != "" && k.KeyID != h.KeyID) || !k.IsPublic() || (k.Algorithm != "" && k.Algorithm != h.Algorithm) {
			continue
		}
		if tok.Claims(k.Key, &cl) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return c, "assertion_signature"
	}
	now := s.now()
	aud := []string{s.cfg.Issuer, s.cfg.Issuer + "/oauth2/token"}
	if cl.Subject != c.ID || cl.Issuer != c.ID || cl.ID == "" || cl.Expiry == nil ||
		!slices.ContainsFunc(aud, cl.Audience.Contains) {
		return c, "assertion_claims"
	}
	exp := cl.Expiry.Time()
	// A short-lived assertion only: its jti is remembered until it expires.
	if !now.Before(exp) || exp.Sub(now) > time.Hour || (cl.NotBefore != nil && now.Add(time.Minute).Before(cl.NotBefore.Time())) {
		return c, "assertion_expired"
	}
	fresh, err := s.store.AssertionJTIUnused(ctx, c.ID+":"+cl.ID, exp)
	if err != nil || !fresh {
		return c, "assertion_replayed"
	}
	return c, ""
}

// secretCache remembers verified client secrets so a burst of requests
// does not run argon2id for each. The key is an HMAC under a random
// per-process key of the client id and secret: the cache holds nothing
// that reveals or verifies a secret outside this process. An entry is only
// a hit while the client's stored hash is the one it was verified against,
// so a changed secret takes effect at once.
type secretCache struct {
	hmacKey []byte
	ttl     time.Duration
	max     int
	mu      sync.Mutex
	m       map[[32]byte]secretEntry
}

type secretEntry struct {
	hash    string
	expires time.Time
}

func newSecretCache(max int, ttl time.Duration) *secretCache {
	k := make([]byte, 32)
	rand.Read(k)
	return &secretCache{hmacKey: k, ttl: ttl, max: max, m: make(map[[32]byte]secretEntry)}
}

// key is the cache key of a client id and secret; the id's length goes
// first so that no two (id, secret) pairs share an input.
func (c *secretCache) key(clientID, secret string) [32]byte {
	mac := hmac.New(sha256.New, c.hmacKey)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(clientID)))
	mac.Write(n[:])
	mac.Write([]byte(clientID))
	mac.Write([]byte(secret))
	var k [32]byte
	mac.Sum(k[:0])
	return k
}

// hit reports whether key was verified against hash and has not expired.
func (c *secretCache) hit(key [32]byte, hash string) bool {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	return ok && e.hash == hash && time.Now().Before(e.expires)
}

// add remembers that key verified against hash.
func (c *secretCache) add(k [32]byte, hash string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			// Still full of live entries: start over rather than grow.
			clear(c.m)
		}
	}
	c.m[k] = secretEntry{hash: hash, expires: now.Add(c.ttl)}
}
