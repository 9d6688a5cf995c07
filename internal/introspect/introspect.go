// Package introspect accepts opaque OAuth 2.0 access tokens by asking the
// issuer's token introspection endpoint (RFC 7662) whether they are active,
// and turns the answer into a principal.Principal.
//
// Answers are cached so that a token costs the identity provider one call,
// not one per request: an active token's principal for at most CacheTTL and
// never past its exp; a refused token (inactive, expired, for another
// audience...) for NegativeTTL, so that a flood of junk tokens costs the
// provider at most one call per token per NegativeTTL. Concurrent requests
// with the same token share one call.
//
// A positive answer is cached under the token and the scopes the route
// requires, never under the token alone: Ory Oathkeeper's CVE-2021-32701 was
// a cache that ignored the required scopes, so a token introspected for a
// route needing no scope was then accepted on a route needing "admin". The
// scopes are not sent to the endpoint today, but keying by them means a
// change that does send them cannot bring that bug back.
//
// An endpoint that cannot be reached, or answers anything but a 200 with a
// JSON object holding a boolean "active", fails the request with
// authn.ReasonKeysUnavailable (the gateway answers 503: it is not the
// client's fault) and raises a KeySetFailure event, at most one per
// EventInterval.
package introspect

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// Defaults for the zero values of Config and Options, and fixed bounds.
const (
	DefaultCacheTTL     = 2 * time.Minute
	DefaultNegativeTTL  = 10 * time.Second
	DefaultTimeout      = 5 * time.Second
	DefaultMaxTokenSize = 8 << 10
	DefaultCacheEntries = 10000
	// Leeway is the clock skew allowed between the gateway and the
	// provider when checking exp, nbf and iat.
	Leeway = 30 * time.Second
	// MaxResponseSize bounds the introspection response body.
	MaxResponseSize = 64 << 10
	// EventInterval is the least time between two failure events (and
	// error logs): an outage during a flood must not become a flood of
	// alerts.
	EventInterval = 10 * time.Second
)

// Config is one issuer whose opaque tokens are checked by introspection.
type Config struct {
	// Name is the configured issuer name routes use; it becomes
	// Principal.Issuer.
	Name string
	// Issuer is the provider's issuer identifier. A response that carries
	// "iss" must carry exactly this.
	Issuer string
	// Endpoint is the introspection URL: https, or http only to a loopback
	// address.
	Endpoint string
	// ClientID and ClientSecret authenticate the gateway to the endpoint
	// with HTTP Basic (client_secret_basic, RFC 6749 §2.3.1).
	ClientID     string
	ClientSecret string
	// Audiences: a response that carries "aud" must name one of these.
	// Empty: aud is not checked.
	Audiences []string
	// RolesClaim and ScopesClaim are claim paths ("realm_access.roles").
	// RolesClaim defaults to "roles"; ScopesClaim "" reads "scope" (a
	// space-separated string, RFC 7662) then "scp".
	RolesClaim, ScopesClaim string
	// CacheTTL is the longest an active answer is reused (default
	// DefaultCacheTTL); never past the token's exp.
	CacheTTL time.Duration
	// NegativeTTL is how long a refused token stays refused without asking
	// again (default DefaultNegativeTTL).
	NegativeTTL time.Duration
	// HTTPClient calls the endpoint. nil: a client with a DefaultTimeout
	// timeout, TLS 1.2 or later, no proxy from the environment and at most
	// 64 connections to the provider. Redirects are never followed, and a
	// client without a timeout gets DefaultTimeout.
	HTTPClient *http.Client
	// MaxTokenSize refuses longer tokens without asking (default
	// DefaultMaxTokenSize).
	MaxTokenSize int
}

// String describes c without its client secret, so that printing a Config
// with fmt cannot leak it.
func (c Config) String() string {
	return fmt.Sprintf("introspect.Config{Name:%q Issuer:%q Endpoint:%q ClientID:%q ClientSecret:%s}",
		c.Name, c.Issuer, c.Endpoint, c.ClientID, redacted(c.ClientSecret))
}

// LogValue is what log/slog prints for c: everything but the client secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.String("issuer", c.Issuer),
		slog.String("endpoint", c.Endpoint),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", redacted(c.ClientSecret)),
	)
}

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "[REDACTED]"
}

// Options are a Client's dependencies and cache bound.
type Options struct {
	Events event.Emitter
	Log    *slog.Logger
	// CacheEntries bounds the cached answers, active and refused ones
	// counted apart so that junk tokens never push out active ones (0:
	// DefaultCacheEntries; negative: no cache, every request asks).
	CacheEntries int
	// now is the clock; tests set it.
	now func() time.Time
}

// Client checks opaque tokens with one issuer's introspection endpoint. It is
// safe for concurrent use.
type Client struct {
	cfg      Config
	endpoint string
	// authz is the Authorization header, which holds the client secret. It
	// sits behind a pointer so that printing a Client with fmt shows an
	// address, not the secret.
	authz       *string
	http        *http.Client
	cache       *cache // nil: no cache
	cacheTTL    time.Duration
	negativeTTL time.Duration
	events      event.Emitter
	log         *slog.Logger
	now         func() time.Time

	flightMu sync.Mutex
	flights  map[flightKey]*flight

	failMu     sync.Mutex
	lastEvent  time.Time
	suppressed int
}

// flightKey names one question to the endpoint: a token, for one set of
// required scopes (canonical: see scopeKey).
type flightKey struct {
	token, scopes string
}

// flight is one call to the endpoint that several requests may wait for.
// p and err are written before done is closed.
type flight struct {
	done    chan struct{}
	p       *principal.Principal
	err     *authn.Error
	waiters int // requests that joined after the first; guarded by Client.flightMu
}

// New checks c and returns a client for it. It does no I/O.
func New(c Config, o Options) (*Client, error) {
	if c.Name == "" {
		return nil, errors.New("introspection issuer: name is required")
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("introspection issuer %q: %s", c.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Issuer == "":
		return nil, bad("issuer is required")
	case c.ClientID == "":
		return nil, bad("client_id is required: the gateway authenticates to the endpoint")
	case c.ClientSecret == "":
		return nil, bad("client_secret is required")
	case c.CacheTTL < 0 || c.NegativeTTL < 0:
		return nil, bad("cache_ttl and negative_ttl must not be negative")
	case c.MaxTokenSize < 0:
		return nil, bad("max_token_size must not be negative")
	}
	u, err := checkEndpoint(c.Endpoint)
	if err != nil {
		return nil, bad("endpoint: %v", err)
	}
	if c.RolesClaim == "" {
		c.RolesClaim = "roles"
	}
	c.MaxTokenSize = orDefault(c.MaxTokenSize, DefaultMaxTokenSize)
	cl := &Client{
		cfg:      c,
		endpoint: u.String(),
		// RFC 6749 §2.3.1: both halves are form-urlencoded (Appendix B)
		// before they are joined, so a ':' in the client id stays unambiguous.
		authz:       new("Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ClientID)+":"+url.QueryEscape(c.ClientSecret)))),
		http:        newHTTPClient(c.HTTPClient),
		cacheTTL:    orDefault(c.CacheTTL, DefaultCacheTTL),
		negativeTTL: orDefault(c.NegativeTTL, DefaultNegativeTTL),
		events:      o.Events,
		log:         o.Log,
		now:         o.now,
		flights:     make(map[flightKey]*flight),
	}
	// The Config kept for the claims checks needs no secret: drop it, so
	// no later change that prints cl.cfg can leak it.
	cl.cfg.ClientSecret = ""
	cl.cfg.HTTPClient = nil
	if cl.events == nil {
		cl.events = discard{}
	}
	if cl.log == nil {
		cl.log = slog.New(slog.DiscardHandler)
	}
	if cl.now == nil {
		cl.now = time.Now
	}
	if o.CacheEntries >= 0 {
		cl.cache = newCache(orDefault(o.CacheEntries, DefaultCacheEntries), maxCacheBytes)
	}
	return cl, nil
}

func orDefault[T int | time.Duration](v, d T) T {
	if v == 0 {
		return d
	}
	return v
}

// Introspect returns the principal for token, asking the endpoint unless a
// cached answer for this token and these required scopes is still good.
//
// requiredScopes are the route's scopes. They are part of the cache key but
// are not checked here: the principal carries the granted scopes and the
// caller's authorization decides. Errors are *authn.Error. The principal is
// shared with other requests and must not be modified.
func (c *Client) Introspect(ctx context.Context, token string, requiredScopes []string) (*principal.Principal, error) {
	if len(token) > c.cfg.MaxTokenSize {
		return nil, refuse(authn.ReasonTooLarge)
	}
	if token == "" {
		return nil, refuse(authn.ReasonMalformedToken)
	}
	var s *shard
	if c.cache != nil {
		now := c.now().UnixNano()
		s = c.cache.shardOf(token)
		if p := s.get(token, requiredScopes, now); p != nil {
			return p, nil
		}
		if reason, ok := s.refused(sha256.Sum256([]byte(token)), now); ok {
			return nil, refuse(reason)
		}
	}
	return c.ask(ctx, s, token, requiredScopes)
}

// Revoke drops what is cached for token, for every set of scopes, and keeps
// a call to the endpoint that is in flight for it from being cached or
// joined: the next request asks again.
func (c *Client) Revoke(token string) {
	if c.cache != nil {
		c.cache.shardOf(token).remove(token, sha256.Sum256([]byte(token)))
	}
	c.flightMu.Lock()
	for k := range c.flights {
		if k.token == token {
			delete(c.flights, k)
		}
	}
	c.flightMu.Unlock()
}

// ask joins the call in flight for token and these scopes, or starts one,
// and waits for it or for ctx.
func (c *Client) ask(ctx context.Context, s *shard, token string, requiredScopes []string) (*principal.Principal, error) {
	scopes := canonicalScopes(requiredScopes)
	k := flightKey{token: token, scopes: scopeKey(scopes)}
	c.flightMu.Lock()
	f := c.flights[k]
	if f == nil {
		f = &flight{done: make(chan struct{})}
		c.flights[k] = f
		var gen uint64
		if s != nil {
			gen = s.generation()
		}
		// The call is detached from this request's cancellation: a client
		// that gives up must not fail the others waiting on the same call.
		// The HTTP client's timeout bounds it.
		go c.run(context.WithoutCancel(ctx), f, k, s, scopes, gen)
	} else {
		f.waiters++
	}
	c.flightMu.Unlock()
	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		return f.p, nil
	case <-ctx.Done():
		return nil, refuse(authn.ReasonKeysUnavailable)
	}
}

// run makes one call, caches its answer, then releases the waiters. The
// answer is cached before the flight leaves the map, so a request arriving
// in between finds one or the other and never makes a second call.
func (c *Client) run(ctx context.Context, f *flight, k flightKey, s *shard, scopes []string, gen uint64) {
	now := c.now()
	v, err := c.introspect(ctx, k.token, now)
	switch {
	case err != nil:
		f.err = refuse(authn.ReasonKeysUnavailable)
	case v.refusal != nil:
		f.err = v.refusal
		if s != nil {
			r := refusal{reason: v.refusal.Reason, until: now.Add(c.negativeTTL).UnixNano()}
			s.putRefused(k.token, sha256.Sum256([]byte(k.token)), r, now.UnixNano(), c.cache)
		}
	default:
		f.p = v.p
		if s != nil && v.until.After(now) {
			a := answer{scopes: scopes, p: v.p, until: v.until.UnixNano(), size: v.size}
			s.put(k.token, sha256.Sum256([]byte(k.token)), a, now.UnixNano(), gen, c.cache)
		}
	}
	c.flightMu.Lock()
	if c.flights[k] == f {
		delete(c.flights, k)
	}
	waiters := f.waiters
	c.flightMu.Unlock()
	if err != nil {
		// Before the waiters are released: by the time a request is refused
		// for this, the event is out.
		c.failed(err, waiters+1)
	}
	close(f.done)
}

// failed reports an endpoint failure: an error log and a KeySetFailure
// event, at most one of each per EventInterval, counting the ones skipped.
func (c *Client) failed(err error, requests int) {
	now := c.now()
	c.failMu.Lock()
	if !c.lastEvent.IsZero() && now.Sub(c.lastEvent) < EventInterval {
		c.suppressed++
		c.failMu.Unlock()
		return
	}
	skipped := c.suppressed
	c.suppressed = 0
	c.lastEvent = now
	c.failMu.Unlock()
	c.log.Error("token introspection failed; requests whose token is not cached are refused with 503",
		"issuer", c.cfg.Name, "error", err.Error(), "requests_refused", requests, "earlier_failures_not_logged", skipped)
	detail := fmt.Sprintf("issuer %s: %v", c.cfg.Name, err)
	if skipped > 0 {
		detail += fmt.Sprintf(" (and %d more failures since the last report)", skipped)
	}
	c.events.Emit(event.Event{Type: event.KeySetFailure, Severity: event.High, Reason: "introspection_failed", Detail: detail})
}

// canonicalScopes is the set of scopes, sorted and without repeats, so that
// ["b", "a"] and ["a", "b", "a"] are one cache key.
func canonicalScopes(scopes []string) []string {
	if len(scopes) == 0 {
		return nil
	}
	s := slices.Clone(scopes)
	slices.Sort(s)
	return slices.Compact(s)
}

// scopeKey encodes canonical scopes unambiguously: each is prefixed by its
// length, so no scope containing a separator can make two sets collide.
func scopeKey(scopes []string) string {
	var b strings.Builder
	for _, s := range scopes {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	return b.String()
}

// refuse is the error for reason. A token too large to consider is a bad
// request, as in authn; every other refusal is an invalid token.
func refuse(reason string) *authn.Error {
	code := "invalid_token"
	if reason == authn.ReasonTooLarge {
		code = "invalid_request"
	}
	return &authn.Error{Reason: reason, Code: code}
}

type discard struct{}

func (discard) Emit(event.Event) {}
