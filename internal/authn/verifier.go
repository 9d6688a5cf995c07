// Package authn verifies the credentials a request carries and turns them
// into a principal.Principal: JWT bearer tokens from configured issuers,
// checked against each issuer's key set (JWKS), with a bounded cache of
// verified tokens so that a token's signature is checked once, not once per
// request.
//
// Key sets are fetched when the verifier starts, refreshed on an interval
// (an issuer's Cache-Control max-age wins), refetched when a token names an
// unknown key id (at most once per MinRefetchInterval per issuer, so forged
// key ids cannot turn the gateway into a flood against the issuer), and kept
// when a refresh fails. A key that disappears from a key set stops
// verifying at once: the cached tokens it verified are dropped.
package authn

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-sec/rampart/internal/claims"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// Defaults for the zero values of IssuerConfig and Options.
const (
	DefaultMaxTokenSize       = 8 << 10
	DefaultRefreshInterval    = 5 * time.Minute
	DefaultMinRefetchInterval = 30 * time.Second
	DefaultCacheEntries       = 10000
	DefaultCacheBytes         = 32 << 20
	// fetchTimeout bounds one key set fetch, whoever waits for it.
	fetchTimeout = 15 * time.Second
)

// IssuerConfig is one trusted token issuer.
type IssuerConfig struct {
	// Name is the configured name routes use; it becomes Principal.Issuer.
	Name string
	// Issuer is the exact "iss" of its tokens.
	Issuer string
	// JWKSURI or JWKSFile hold the public keys; neither for an HS256 issuer.
	JWKSURI, JWKSFile string
	// HMACSecret is the HS256 key, only with Algorithms == ["HS256"].
	HMACSecret []byte
	Audiences  []string
	Algorithms []string
	Leeway     time.Duration
	// RolesClaim and ScopesClaim are claim paths ("realm_access.roles").
	// RolesClaim defaults to "roles"; ScopesClaim "" reads "scope" then "scp".
	RolesClaim, ScopesClaim string
	// RequireTyp "at+jwt" requires RFC 9068 access tokens.
	RequireTyp         string
	RefreshInterval    time.Duration
	MinRefetchInterval time.Duration
	MaxTokenSize       int
	// HTTPClient fetches JWKSURI; nil uses a client with timeouts and no redirects.
	HTTPClient *http.Client
}

// Options are a Verifier's dependencies and cache bounds.
type Options struct {
	Events event.Emitter
	Log    *slog.Logger
	// CacheEntries bounds the verified-token cache (0: DefaultCacheEntries;
	// negative: no cache, every request verifies its token).
	CacheEntries int
	// CacheBytes bounds the memory the cached tokens take (0: DefaultCacheBytes).
	CacheBytes int
	// now is the clock; tests set it.
	now func() time.Time
}

// Verifier checks bearer tokens against the configured issuers. It is safe
// for concurrent use.
type Verifier struct {
	issuers []*issuer
	byName  map[string]*issuer
	byIss   map[string][]*issuer
	maxSize int
	cache   *tokenCache
	// gen moves on every revocation and key removal; a token checked before
	// the move is not cached after it.
	gen     atomic.Uint64
	headers headerCache
	revMu   sync.RWMutex
	revoked revocationIndex
	nRevoke atomic.Int32
	events  event.Emitter
	log     *slog.Logger
	now     func() time.Time
}

// issuer is one configured issuer and its current key set.
type issuer struct {
	cfg    IssuerConfig
	v      *Verifier
	client *http.Client
	keys   atomic.Pointer[keySet]
	// mu guards the fetch in flight and when the last refetch for an
	// unknown key id started.
	mu          sync.Mutex
	inFlight    *flight
	lastRefetch time.Time
}

// flight is one key set fetch that several requests may wait for.
type flight struct {
	done chan struct{}
	err  error
}

// NewVerifier checks the issuers' configuration and loads what can be loaded
// without the network (HS256 secrets, jwks_file). Call Start to fetch the
// jwks_uri key sets.
func NewVerifier(ics []IssuerConfig, o Options) (*Verifier, error) {
	v := &Verifier{
		byName: make(map[string]*issuer, len(ics)),
		byIss:  make(map[string][]*issuer, len(ics)),
		events: o.Events,
		log:    o.Log,
		now:    o.now,
	}
	if v.events == nil {
		v.events = discard{}
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if o.CacheEntries >= 0 {
		v.cache = newTokenCache(orDefault(o.CacheEntries, DefaultCacheEntries), orDefault(o.CacheBytes, DefaultCacheBytes))
	}
	for _, c := range ics {
		if c.Name == "" || c.Issuer == "" || len(c.Audiences) == 0 || len(c.Algorithms) == 0 {
			return nil, fmt.Errorf("issuer %q: name, issuer, audiences and algorithms are required", c.Name)
		}
		if _, dup := v.byName[c.Name]; dup {
			return nil, fmt.Errorf("issuer %q: defined twice", c.Name)
		}
		for _, a := range c.Algorithms {
			if !slices.Contains(supportedAlgorithms, a) {
				return nil, fmt.Errorf("issuer %q: algorithm %q is not supported", c.Name, a)
			}
		}
		hs := slices.Contains(c.Algorithms, "HS256")
		switch {
		case hs && (len(c.Algorithms) > 1 || c.JWKSURI != "" || c.JWKSFile != ""):
			return nil, fmt.Errorf("issuer %q: HS256 must be the only algorithm and uses hmac_secret, never a key set", c.Name)
		case hs && len(c.HMACSecret) < 32:
			return nil, fmt.Errorf("issuer %q: HS256 needs a secret of at least 32 bytes", c.Name)
		case !hs && len(c.HMACSecret) > 0:
			return nil, fmt.Errorf("issuer %q: hmac_secret only applies to HS256", c.Name)
		case !hs && (c.JWKSURI == "") == (c.JWKSFile == ""):
			return nil, fmt.Errorf("issuer %q: exactly one of jwks_uri and jwks_file is required", c.Name)
		}
		c.MaxTokenSize = orDefault(c.MaxTokenSize, DefaultMaxTokenSize)
		c.RefreshInterval = orDefault(c.RefreshInterval, DefaultRefreshInterval)
		c.MinRefetchInterval = orDefault(c.MinRefetchInterval, DefaultMinRefetchInterval)
		if c.RolesClaim == "" {
			c.RolesClaim = "roles"
		}
		is := &issuer{cfg: c, v: v}
		switch {
		case hs:
			is.keys.Store(&keySet{keys: []*key{{hmac: c.HMACSecret}}, fetched: v.now()})
		case c.JWKSFile != "":
			if err := is.load(context.Background()); err != nil {
				return nil, fmt.Errorf("issuer %q: %w", c.Name, err)
			}
		default:
			is.client = newHTTPClient(c.HTTPClient)
		}
		v.issuers = append(v.issuers, is)
		v.byName[c.Name] = is
		v.byIss[c.Issuer] = append(v.byIss[c.Issuer], is)
		v.maxSize = max(v.maxSize, c.MaxTokenSize)
	}
	return v, nil
}

var supportedAlgorithms = []string{"EdDSA", "ES256", "ES384", "RS256", "PS256", "HS256"}

func orDefault[T int | time.Duration](v, d T) T {
	if v == 0 {
		return d
	}
	return v
}

// Start fetches every jwks_uri key set now and keeps them fresh until ctx
// ends. It returns at once; see Ready.
func (v *Verifier) Start(ctx context.Context) {
	for _, is := range v.issuers {
		if is.cfg.JWKSURI != "" || is.cfg.JWKSFile != "" {
			go is.run(ctx)
		}
	}
}

// Ready reports whether the named issuer has a key set to verify with.
func (v *Verifier) Ready(name string) bool {
	is := v.byName[name]
	return is != nil && is.keys.Load() != nil
}

// Verify checks tok and returns its principal. allowed names the issuers the
// route trusts; a token from any other issuer is refused. Errors are *Error.
func (v *Verifier) Verify(ctx context.Context, tok string, allowed []string) (*principal.Principal, error) {
	if len(tok) > v.maxSize {
		return nil, refuse(ReasonTooLarge)
	}
	now := v.now()
	nowNano := now.UnixNano()
	if v.cache != nil {
		if e := v.cache.get(tok); e != nil {
			if nowNano < e.until && slices.Contains(allowed, e.issuer.cfg.Name) {
				return e.p, nil
			}
			if nowNano >= e.until {
				v.cache.remove(tok)
			}
			// Cached for an issuer this route does not trust: check it in full
			// (another issuer with the same iss may be the one it names).
		}
	}
	gen := v.gen.Load()
	j, rerr := parseJWS(tok, &v.headers)
	if rerr != nil {
		return nil, rerr
	}
	cl, rerr := parseClaims(j.payload)
	if rerr != nil {
		return nil, rerr
	}
	iss, _ := cl["iss"].(string)
	var first *Error
	for _, is := range v.byIss[iss] {
		if !slices.Contains(allowed, is.cfg.Name) {
			continue
		}
		e, err := is.verify(ctx, tok, j, cl, now)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if v.cache != nil {
			v.cache.put(tok, e, nowNano, func() bool { return v.gen.Load() == gen })
		}
		v.headers.add(tok[:strings.IndexByte(tok, '.')], parsedHeader{j.alg, j.kid, j.typ})
		return e.p, nil
	}
	if first == nil {
		return nil, refuse(ReasonUnknownIssuer)
	}
	return nil, first
}

// verify checks a parsed token against this issuer: algorithm, key,
// signature, then the claims. Nothing in the claims is trusted before the
// signature verifies.
func (is *issuer) verify(ctx context.Context, tok string, j *jws, cl map[string]any, now time.Time) (*entry, *Error) {
	c := &is.cfg
	if len(tok) > c.MaxTokenSize {
		return nil, refuse(ReasonTooLarge)
	}
	if !slices.Contains(c.Algorithms, j.alg) {
		return nil, refuse(ReasonAlgNotAllowed)
	}
	if c.RequireTyp != "" && !strings.EqualFold(j.typ, c.RequireTyp) && !strings.EqualFold(j.typ, "application/"+c.RequireTyp) {
		return nil, refuse(ReasonWrongType)
	}
	ks := is.keys.Load()
	if ks == nil {
		return nil, refuse(ReasonKeysUnavailable)
	}
	keys := ks.find(j.kid, j.alg)
	if len(keys) == 0 && j.kid != "" && !ks.hasKID(j.kid) && (is.cfg.JWKSURI != "" || is.cfg.JWKSFile != "") {
		// An unknown key id: perhaps the issuer rotated. Refetch, at most
		// once per MinRefetchInterval, and wait for it.
		if fetched, _ := is.refresh(ctx, false); fetched {
			ks = is.keys.Load()
			keys = ks.find(j.kid, j.alg)
		}
	}
	if len(keys) == 0 {
		if j.kid != "" && ks.hasKID(j.kid) {
			// The key exists but is not of this algorithm's type: RS256 keys
			// asked to verify HS256 land here.
			return nil, refuse(ReasonAlgNotAllowed)
		}
		return nil, refuse(ReasonUnknownKey)
	}
	var used *key
	for _, k := range keys {
		if verifySignature(j.alg, k, j.signingInput, j.sig) {
			used = k
			break
		}
	}
	if used == nil {
		return nil, refuse(ReasonBadSignature)
	}

	exp, ok, valid := claims.NumericDate(cl, "exp")
	switch {
	case !valid:
		return nil, refuse(ReasonMalformedToken)
	case !ok:
		return nil, refuse(ReasonNoExpiry)
	case now.After(exp.Add(c.Leeway)):
		return nil, refuse(ReasonExpired)
	}
	if nbf, ok, valid := claims.NumericDate(cl, "nbf"); !valid {
		return nil, refuse(ReasonMalformedToken)
	} else if ok && now.Add(c.Leeway).Before(nbf) {
		return nil, refuse(ReasonNotYetValid)
	}
	iat, ok, valid := claims.NumericDate(cl, "iat")
	if !valid {
		return nil, refuse(ReasonMalformedToken)
	} else if ok && iat.After(now.Add(c.Leeway)) {
		return nil, refuse(ReasonIssuedInFuture)
	}
	if !claims.AudienceMatches(cl["aud"], c.Audiences) {
		return nil, refuse(ReasonWrongAudience)
	}
	sub, _ := cl["sub"].(string)
	if sub == "" {
		return nil, refuse(ReasonNoSubject)
	}
	jti, _ := cl["jti"].(string)
	clientID, _ := cl["client_id"].(string)
	if clientID == "" {
		clientID, _ = cl["azp"].(string)
	}
	if is.v.isRevoked(c.Name, jti, sub, clientID, iat) {
		return nil, refuse(ReasonRevoked)
	}

	p := &principal.Principal{
		Subject: sub,
		Kind:    principal.User,
		Issuer:  c.Name,
		Method:  principal.JWT,
		Claims:  cl,
		// When the gateway stops accepting the token: identity tokens
		// derived from it must not outlive that.
		Expires: exp.Add(c.Leeway),
	}
	if clientID != "" && clientID == sub {
		// RFC 9068 §2.2: sub is the client itself for client credentials.
		p.Kind = principal.Client
	}
	p.Roles = claims.Roles(cl, c.RolesClaim)
	p.Scopes = claims.Scopes(cl, c.ScopesClaim)
	return &entry{p: p, issuer: is, key: used, until: exp.Add(c.Leeway).UnixNano(), jti: jti, iat: iat}, nil
}

func (s *keySet) hasKID(kid string) bool {
	for _, k := range s.keys {
		if k.kid == kid {
			return true
		}
	}
	return false
}

// run keeps the issuer's key set fresh: at once (jwks_uri) and then every
// refresh interval; after a failure it retries with backoff up to 30 s and
// keeps the last good set meanwhile.
func (is *issuer) run(ctx context.Context) {
	backoff := time.Second
	wait := time.Duration(0)
	if is.cfg.JWKSFile != "" {
		wait = is.interval() // loaded by NewVerifier
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := is.refresh(ctx, true); err != nil && ctx.Err() == nil {
			t.Reset(backoff)
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		t.Reset(is.interval())
	}
}

// interval is the configured refresh interval, or the issuer's max-age
// clamped to [1m, 24h].
func (is *issuer) interval() time.Duration {
	if ks := is.keys.Load(); ks != nil && ks.maxAge > 0 {
		return min(max(ks.maxAge, time.Minute), 24*time.Hour)
	}
	return is.cfg.RefreshInterval
}

// refresh fetches the key set, joining a fetch already in flight. Unless
// force, it does nothing when the last unforced refresh started less than
// MinRefetchInterval ago. fetched reports whether a fetch completed.
func (is *issuer) refresh(ctx context.Context, force bool) (fetched bool, err error) {
	is.mu.Lock()
	f := is.inFlight
	if f == nil {
		// Only refetches for unknown key ids are rate limited: the scheduled
		// refresh must not use up the budget a real rotation needs.
		if !force {
			now := is.v.now()
			if now.Sub(is.lastRefetch) < is.cfg.MinRefetchInterval {
				is.mu.Unlock()
				return false, nil
			}
			is.lastRefetch = now
		}
		f = &flight{done: make(chan struct{})}
		is.inFlight = f
		go is.fetch(f)
	}
	is.mu.Unlock()
	select {
	case <-f.done:
		return true, f.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// fetch runs one flight. It is detached from any request's context, so a
// client that gives up does not cancel the fetch the others wait for.
func (is *issuer) fetch(f *flight) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	f.err = is.load(ctx)
	if f.err != nil {
		is.v.log.Error("issuer key set refresh failed; the last good key set is kept",
			"issuer", is.cfg.Name, "have_keys", is.keys.Load() != nil, "error", f.err.Error())
		is.v.events.Emit(event.Event{Type: event.KeySetFailure, Severity: event.High, Reason: "fetch_failed",
			Detail: fmt.Sprintf("issuer %s: %v", is.cfg.Name, f.err)})
	}
	is.mu.Lock()
	is.inFlight = nil
	is.mu.Unlock()
	close(f.done)
}

// load fetches, parses and installs the key set.
func (is *issuer) load(ctx context.Context) error {
	b, maxAge, err := fetchKeySet(ctx, &is.cfg, is.client)
	if err != nil {
		return err
	}
	keys, skipped, err := parseKeySet(b, is.cfg.Algorithms)
	for _, s := range skipped {
		is.v.log.Warn("issuer key skipped", "issuer", is.cfg.Name, "why", s)
	}
	if err != nil {
		return err
	}
	is.install(keys, maxAge)
	return nil
}

// install swaps in a new key set. Keys that did not change keep their
// identity, so the tokens they verified stay cached; tokens verified by a
// key that is gone are dropped from the cache at once.
func (is *issuer) install(keys []*key, maxAge time.Duration) {
	old := is.keys.Load()
	var removed []*key
	if old != nil {
		for i, k := range keys {
			for _, o := range old.keys {
				if k.same(o) {
					keys[i] = o
					break
				}
			}
		}
		for _, o := range old.keys {
			if !slices.Contains(keys, o) {
				removed = append(removed, o)
			}
		}
	}
	is.keys.Store(&keySet{keys: keys, fetched: is.v.now(), maxAge: maxAge})
	if len(removed) > 0 {
		n := is.v.invalidate(func(e *entry) bool { return e.issuer == is && slices.Contains(removed, e.key) })
		is.v.log.Info("issuer keys removed; tokens they verified are no longer accepted",
			"issuer", is.cfg.Name, "removed", len(removed), "cached_tokens_dropped", n)
	}
	if old == nil || len(removed) > 0 || len(keys) != len(old.keys) {
		kids := make([]string, len(keys))
		for i, k := range keys {
			kids[i] = k.kid
		}
		is.v.log.Info("issuer key set loaded", "issuer", is.cfg.Name, "kids", kids)
	}
}

// invalidate drops cached tokens for which drop is true, and keeps tokens
// being verified right now out of the cache.
func (v *Verifier) invalidate(drop func(*entry) bool) int {
	v.gen.Add(1)
	if v.cache == nil {
		return 0
	}
	return v.cache.purge(drop)
}

type discard struct{}

func (discard) Emit(event.Event) {}
