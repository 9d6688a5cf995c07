// Package respcache is the gateway's response cache: per route, it answers
// GET and HEAD requests from stored upstream responses, and collapses
// concurrent misses for one key into one upstream request.
//
// A route's Policy says how long answers live (TTL), whom they may be served
// to (Scope) and which request headers select a variant (Vary). The key is
// the method, the canonical host and path, the query with its parameters in
// a canonical order, the values of the Vary headers and, for private scope,
// the principal. Nothing else of the request may change the answer, so:
//
//   - a response whose Vary names a header the route does not key on is not
//     stored (it is the signature of unkeyed-input cache poisoning) and is
//     counted and reported as ReasonUnkeyedVary;
//   - headers that reverse proxies and frameworks honour as request rewrites
//     (X-Original-URL, X-Forwarded-Host, X-HTTP-Method-Override...) are
//     removed from GET and HEAD requests on cached routes unless the route
//     keys on them,
//     so an upstream that reflects one without saying Vary cannot be poisoned
//     through it either;
//   - GET and HEAD requests with a body or a Range header are passed through.
//
// Public scope serves one answer to every caller of the route, so a response
// is stored as public only when the upstream says it may be shared: no
// Set-Cookie, no Cache-Control private, no-store or no-cache, no Vary on *,
// Authorization or Cookie, a cacheable status, and (RFC 9111 §3.5) when the
// request was authenticated, Cache-Control public or s-maxage. Private scope
// keys every answer by the principal and still refuses Set-Cookie, no-store
// and no-cache. The upstream's max-age, s-maxage or Expires can shorten the
// route's TTL, never lengthen it.
//
// Client request directives (Cache-Control no-cache, no-store, max-age=0,
// Pragma: no-cache) are honoured only on private scope, where they can affect
// nobody but the caller. On public scope they are ignored: the stored answer
// is by definition one anybody may have, and honouring them would let any
// client turn the cache off and send its whole load to the upstream.
//
// Every response says what the cache did in a Cache-Status header (RFC 9211):
//
//	Cache-Status: rampart; hit; ttl=23
//	Cache-Status: rampart; fwd=uri-miss                      (forwarded; stored if the body fits)
//	Cache-Status: rampart; fwd=uri-miss; detail=uncacheable  (forwarded, not stored)
//	Cache-Status: rampart; fwd=uri-miss; collapsed           (answered by another request's forward)
//	Cache-Status: rampart; fwd=method | fwd=request | fwd=bypass
//
// Stores are the bounded in-memory LRU (Memory, the default) and Redis
// (RedisStore) for several gateways. A store that fails is a miss, counted
// and reported as ReasonStoreError, never an error answer.
package respcache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-sec/rampart/internal/canonpath"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// Defaults for Policy and Options.
const (
	DefaultMaxBody         = 1 << 20
	DefaultCoalesceTimeout = 5 * time.Second
	// MaxVary bounds a route's keyed headers: each is read on every request.
	MaxVary = 16
	// MaxMaxBody bounds Policy.MaxBody: a cached body is held in memory.
	MaxMaxBody = 64 << 20
	// MaxTTL bounds Policy.TTL.
	MaxTTL = 365 * 24 * time.Hour
)

// StatusHeader is the response header that says what the cache did (RFC 9211).
const StatusHeader = "Cache-Status"

// Scope says whom a stored answer may be served to.
type Scope uint8

// Scopes. The zero value is Private, the one that cannot leak.
const (
	// Private keys every answer by the principal: it is served only to the
	// principal it was made for.
	Private Scope = iota
	// Public serves one answer to every caller of the route, and stores only
	// responses the upstream marks as shareable.
	Public
)

func (s Scope) String() string {
	switch s {
	case Private:
		return "private"
	case Public:
		return "public"
	}
	return "Scope(" + strconv.Itoa(int(s)) + ")"
}

// ParseScope parses a scope as written in the config: "private" or "public".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "private":
		return Private, nil
	case "public":
		return Public, nil
	}
	return 0, fmt.Errorf("parse cache scope %q: want private or public", s)
}

// Policy is one route's cache configuration (route key cache:).
type Policy struct {
	// TTL is how long an answer is served; the upstream can shorten it.
	TTL time.Duration
	// Scope is Private (the zero value) or Public.
	Scope Scope
	// Vary names the request headers whose values are part of the key.
	Vary []string
	// MaxBody is the largest body stored (DefaultMaxBody when 0); larger
	// responses are passed through.
	MaxBody int64
}

// Validate reports whether p can be enforced, with a message for the config.
func (p Policy) Validate() error {
	_, err := p.compile()
	return err
}

// compiled is a Policy as the request path uses it.
type compiled struct {
	ttl     time.Duration
	scope   Scope
	vary    []string        // canonical header names, in config order
	keyed   map[string]bool // vary, for the response's Vary check
	maxBody int64
}

// credentialHeaders carry credentials: never part of a key. Private scope
// keys by the principal the credential proved, public scope must not depend
// on one.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "X-Rampart-Identity"}

func (p Policy) compile() (*compiled, error) {
	if p.TTL <= 0 || p.TTL > MaxTTL {
		return nil, fmt.Errorf("cache: ttl must be positive and at most %v, got %v", MaxTTL, p.TTL)
	}
	if p.Scope != Private && p.Scope != Public {
		return nil, fmt.Errorf("cache: unknown scope %v", p.Scope)
	}
	if p.MaxBody < 0 || p.MaxBody > MaxMaxBody {
		return nil, fmt.Errorf("cache: max_body must be between 0 and %d, got %d", MaxMaxBody, p.MaxBody)
	}
	if len(p.Vary) > MaxVary {
		return nil, fmt.Errorf("cache: vary names %d headers, at most %d", len(p.Vary), MaxVary)
	}
	c := &compiled{ttl: p.TTL, scope: p.Scope, maxBody: p.MaxBody, keyed: make(map[string]bool, len(p.Vary))}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxBody
	}
	for i, name := range p.Vary {
		if !validToken(name) {
			return nil, fmt.Errorf("cache: vary[%d]: %q is not a header name", i, name)
		}
		k := http.CanonicalHeaderKey(name)
		switch {
		case slices.Contains(credentialHeaders, k):
			return nil, fmt.Errorf("cache: vary[%d]: %s carries credentials and cannot be keyed on (scope private keys by principal)", i, k)
		case k == "Cookie" && p.Scope == Public:
			return nil, fmt.Errorf("cache: vary[%d]: Cookie with scope public would share per-user answers; use scope private", i)
		case isHopByHop(k):
			return nil, fmt.Errorf("cache: vary[%d]: %s is a hop-by-hop header", i, k)
		case c.keyed[k]:
			return nil, fmt.Errorf("cache: vary[%d]: %s is listed twice", i, k)
		}
		c.keyed[k] = true
		c.vary = append(c.vary, k)
	}
	return c, nil
}

// View is what the gateway established about a request, for the key.
type View struct {
	// Host and Path are the canonical host and path the route matched.
	Host, Path string
	// Principal identifies the verified principal (see PrincipalKey); ""
	// when the request is anonymous.
	Principal string
}

// PrincipalKey is the part of a private key that names p: everything the
// gateway tells the upstream about who is asking, so that an answer made for
// one set of rights is not served under another. That is how the principal
// was proven, its kind, issuer and subject (an API key named "alice" is not
// the user alice), its roles and scopes (alice through a third-party app
// with fewer scopes is not alice in full), and the OAuth client it acts
// through (the azp or client_id claim). It is "" for nil.
func PrincipalKey(p *principal.Principal) string {
	if p == nil {
		return ""
	}
	var arr [256]byte
	b := appendField(arr[:0], string(p.Method))
	b = appendField(b, string(p.Kind))
	b = appendField(b, p.Issuer)
	b = appendField(b, p.Subject)
	b = appendList(b, p.Roles)
	b = appendList(b, p.Scopes)
	for _, c := range [...]string{"azp", "client_id"} {
		v, _ := p.Claims[c].(string)
		b = appendField(b, v)
	}
	return string(b)
}

// DefaultView reads the host from r.Host, the canonical path from the
// request-target and the principal from principal.FromContext. The gateway
// passes its own, which reuses what it already computed.
func DefaultView(r *http.Request) (View, bool) {
	raw := r.RequestURI
	if raw == "" {
		raw = r.URL.RequestURI()
	}
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	canon, _, err := canonpath.Canonical(raw)
	if err != nil {
		return View{}, false
	}
	return View{Host: r.Host, Path: canon, Principal: PrincipalKey(principal.FromContext(r.Context()))}, true
}

// Store keeps entries by key. Keys start with the route name and a NUL byte
// (stores may namespace by it) and are otherwise opaque. Get returns
// (nil, nil) for a miss; entries it returns are shared and must not be
// modified. A store bounds what it keeps and may return an error wrapping
// ErrTooLarge from Set.
type Store interface {
	Get(ctx context.Context, key string) (*Entry, error)
	// Set keeps e under key; ttl is how long it stays fresh, after which
	// the store may drop it.
	Set(ctx context.Context, key string, e *Entry, ttl time.Duration) error
}

// ErrTooLarge is returned (wrapped) by a store refusing an entry for its size.
var ErrTooLarge = errors.New("cache entry too large for the store")

// Reasons carried by Event.
const (
	// ReasonUnkeyedVary: the upstream's Vary named a header the route does
	// not key on; the response was not stored. Detail is the header name.
	ReasonUnkeyedVary = "unkeyed_vary"
	// ReasonStoreError: the store failed; the request was treated as a miss
	// (or its response not stored). Err says why.
	ReasonStoreError = "store_error"
)

// Event is something the operator should hear about.
type Event struct {
	Route  string
	Reason string
	Detail string
	Err    error
}

// Options configure a Cache. The zero value works.
type Options struct {
	// Store keeps the entries; a Memory with default bounds when nil.
	Store Store
	// View gives the request's canonical host, path and principal;
	// DefaultView when nil. When it returns false the request is passed
	// through uncached.
	View func(*http.Request) (View, bool)
	// CoalesceTimeout bounds how long a request waits for another
	// request's forward of the same key before forwarding itself
	// (DefaultCoalesceTimeout when 0).
	CoalesceTimeout time.Duration
	// OnEvent, if set, hears about refused poisoning attempts and store
	// failures, in the request's goroutine. It must not block.
	OnEvent func(Event)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Cache holds the store and settings shared by every route's Handler.
type Cache struct {
	store    Store
	view     func(*http.Request) (View, bool)
	coalesce time.Duration
	onEvent  func(Event)
	now      func() time.Time
}

// New returns a Cache.
func New(o Options) (*Cache, error) {
	if o.CoalesceTimeout < 0 {
		return nil, fmt.Errorf("new response cache: coalesce timeout must not be negative, got %v", o.CoalesceTimeout)
	}
	c := &Cache{store: o.Store, view: o.View, coalesce: o.CoalesceTimeout, onEvent: o.OnEvent, now: o.Now}
	if c.store == nil {
		m, err := NewMemory(MemoryOptions{})
		if err != nil {
			return nil, fmt.Errorf("new response cache: %w", err)
		}
		c.store = m
	}
	if c.view == nil {
		c.view = DefaultView
	}
	if c.coalesce == 0 {
		c.coalesce = DefaultCoalesceTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Stats counts what a route's cache did. Each request counts once in Hits,
// Collapsed, Misses or Bypassed; Misses split into Stored and Uncacheable.
type Stats struct {
	Hits        uint64 // answered from the store
	Collapsed   uint64 // answered with another request's forwarded response
	Misses      uint64 // forwarded to the upstream
	Bypassed    uint64 // not cacheable by method, request, or client directive
	Stored      uint64 // forwarded responses stored
	Uncacheable uint64 // forwarded responses not stored
	UnkeyedVary uint64 // of Uncacheable: refused for a Vary on an unkeyed header
	StoreErrors uint64 // store failures, each treated as a miss or not stored
	Waiting     int64  // requests waiting for another request's forward now
}

type counters struct {
	hits, collapsed, misses, bypassed, stored, uncacheable, unkeyedVary, storeErrors atomic.Uint64
	waiting                                                                          atomic.Int64
}

// Handler is one route's cache in front of next.
type Handler struct {
	c      *Cache
	route  string
	policy *compiled
	next   http.Handler
	stats  counters
	// prefix starts every key of this route (see key).
	prefix string

	mu      sync.Mutex
	flights map[string]*flight
	// passes are keys whose last answer could not be stored, until when to
	// forward them without waiting for one another (Varnish's
	// hit-for-pass): coalescing them would only queue each request behind
	// another's forward.
	passes map[string]time.Time
}

// passTTL bounds how long a key is passed after an uncacheable answer, and
// maxPasses how many keys are remembered.
const (
	passTTL   = 10 * time.Second
	maxPasses = 10000
)

// Wrap returns a Handler caching route's answers from next under p. It is
// meant to be called once per route when the config loads; the Handler
// serves concurrently.
func (c *Cache) Wrap(route string, p Policy, next http.Handler) (*Handler, error) {
	if route == "" || strings.IndexByte(route, 0) >= 0 {
		return nil, fmt.Errorf("cache: route name %q is empty or contains NUL", route)
	}
	cp, err := p.compile()
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", route, err)
	}
	return &Handler{c: c, route: route, policy: cp, next: next, prefix: keyPrefix(route, cp),
		flights: make(map[string]*flight), passes: make(map[string]time.Time)}, nil
}

// Stats returns the route's counters.
func (h *Handler) Stats() Stats {
	s := &h.stats
	return Stats{Hits: s.hits.Load(), Collapsed: s.collapsed.Load(), Misses: s.misses.Load(),
		Bypassed: s.bypassed.Load(), Stored: s.stored.Load(), Uncacheable: s.uncacheable.Load(),
		UnkeyedVary: s.unkeyedVary.Load(), StoreErrors: s.storeErrors.Load(), Waiting: s.waiting.Load()}
}

// flight is one forward that other requests for its key wait for.
type flight struct {
	done  chan struct{}
	entry *Entry // set before done is closed; nil when not shareable
}

// Cache-Status values.
const (
	statusMethod      = "rampart; fwd=method"
	statusRequest     = "rampart; fwd=request"
	statusBypass      = "rampart; fwd=bypass"
	statusMiss        = "rampart; fwd=uri-miss"
	statusUncacheable = "rampart; fwd=uri-miss; detail=uncacheable"
	statusCollapsed   = "rampart; fwd=uri-miss; collapsed"
)

// ServeHTTP answers r from the store, from another request's forward of the
// same key, or by forwarding it to next (and storing the answer when it may
// be stored).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.bypass(w, r, statusMethod)
		return
	}
	h.stripUnkeyedOverrides(r.Header)
	// A body or a range changes the answer without being in the key; an
	// upgrade is not an answer at all.
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 || r.Header["Range"] != nil || r.Header["Upgrade"] != nil {
		h.bypass(w, r, statusBypass)
		return
	}
	v, ok := h.c.view(r)
	if !ok || (h.policy.scope == Private && v.Principal == "") {
		// An anonymous caller on a private route has no key of its own.
		h.bypass(w, r, statusBypass)
		return
	}
	key, ok := h.key(r, v)
	if !ok {
		h.bypass(w, r, statusBypass)
		return
	}
	// RFC 9111 §3.5 speaks of requests with Authorization; on a route
	// without authentication the upstream may still read one.
	auth := v.Principal != "" || r.Header["Authorization"] != nil
	if h.policy.scope == Private {
		switch clientDirective(r.Header) {
		case clientNoStore:
			h.bypass(w, r, statusRequest)
			return
		case clientNoCache:
			// Forward, and store the fresh answer for the caller's next request.
			h.stats.misses.Add(1)
			h.forward(w, r, key, nil, auth, statusRequest)
			return
		}
	}

	ctx := r.Context()
	now := h.c.now()
	if e := h.lookup(ctx, key, now); e != nil {
		h.stats.hits.Add(1)
		serveEntry(w, r, e, now, "")
		return
	}

	h.mu.Lock()
	if until, ok := h.passes[key]; ok && now.Before(until) {
		h.mu.Unlock()
		h.stats.misses.Add(1)
		h.forward(w, r, key, nil, auth, "")
		return
	}
	f := h.flights[key]
	if f == nil {
		f = &flight{done: make(chan struct{})}
		h.flights[key] = f
		h.mu.Unlock()
		h.stats.misses.Add(1)
		h.forward(w, r, key, f, auth, "")
		return
	}
	h.mu.Unlock()
	if e := h.wait(ctx, f); e != nil {
		h.stats.collapsed.Add(1)
		serveEntry(w, r, e, h.c.now(), statusCollapsed)
		return
	}
	if ctx.Err() != nil {
		return // the client left; nobody reads an answer
	}
	// The forward failed, was not shareable or is slow: forward on our own.
	h.stats.misses.Add(1)
	h.forward(w, r, key, nil, auth, "")
}

func (h *Handler) bypass(w http.ResponseWriter, r *http.Request, status string) {
	h.stats.bypassed.Add(1)
	w.Header().Add(StatusHeader, status)
	h.next.ServeHTTP(w, r)
}

// lookup returns the fresh entry for key, or nil.
func (h *Handler) lookup(ctx context.Context, key string, now time.Time) *Entry {
	e, err := h.c.store.Get(ctx, key)
	if err != nil {
		h.storeError(fmt.Errorf("route %q: get cached response: %w", h.route, err))
		return nil
	}
	// The key inside the entry is compared, so a hash collision or a store
	// mix-up can never serve one key's answer for another.
	if e == nil || e.Key != key || !now.Before(e.Expires) {
		return nil
	}
	return e
}

// wait returns the entry f's forward produced, or nil when it produced none
// within the coalesce timeout or ctx ended.
func (h *Handler) wait(ctx context.Context, f *flight) *Entry {
	h.stats.waiting.Add(1)
	defer h.stats.waiting.Add(-1)
	t := time.NewTimer(h.c.coalesce)
	defer t.Stop()
	select {
	case <-f.done:
		return f.entry
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// forward sends r to the upstream and stores the response if it may be
// stored; auth says the request carried a principal. f, when not nil, is the flight this request leads: it is completed
// whatever happens, a panic included (ReverseProxy aborts with
// http.ErrAbortHandler when the client goes away mid-body).
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, key string, f *flight, auth bool, status string) {
	cw := newCaptureWriter(w, h, r.Method == http.MethodHead, auth, status)
	done := false
	defer func() {
		if !done {
			h.finish(key, f, nil, false)
		}
	}()
	h.next.ServeHTTP(cw, r)
	done = true
	if !cw.wrote {
		// What net/http would send for a handler that wrote nothing,
		// decided here so that it carries a Cache-Status and can be stored.
		cw.WriteHeader(http.StatusOK)
	}
	e := cw.entry(key)
	if e == nil {
		h.stats.uncacheable.Add(1)
		h.finish(key, f, nil, true)
		return
	}
	if f != nil {
		// Waiters are answered before the store write, which may take a
		// Redis round trip; new requests meanwhile find the finished flight.
		f.entry = e
		close(f.done)
	}
	h.put(r.Context(), key, e)
	h.finish(key, f, e, false)
}

// finish completes f (when there is one and it is still open) and forgets
// it. pass says the upstream's answer could not be stored: for a while,
// requests for key go straight to the upstream.
func (h *Handler) finish(key string, f *flight, e *Entry, pass bool) {
	if f != nil && e == nil {
		close(f.done)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if f != nil && h.flights[key] == f {
		delete(h.flights, key)
	}
	switch {
	case pass:
		if len(h.passes) >= maxPasses {
			// Crude but bounded: forgetting only costs some queueing.
			clear(h.passes)
		}
		h.passes[key] = h.c.now().Add(min(h.policy.ttl, passTTL))
	case e != nil:
		delete(h.passes, key)
	}
}

func (h *Handler) put(ctx context.Context, key string, e *Entry) {
	// The answer was already written: a client hanging up now must not
	// cancel the store write.
	ttl := e.Expires.Sub(h.c.now())
	if ttl <= 0 {
		h.stats.uncacheable.Add(1)
		return
	}
	err := h.c.store.Set(context.WithoutCancel(ctx), key, e, ttl)
	switch {
	case err == nil:
		h.stats.stored.Add(1)
	case errors.Is(err, ErrTooLarge):
		h.stats.uncacheable.Add(1)
	default:
		h.stats.uncacheable.Add(1)
		h.storeError(fmt.Errorf("route %q: store response: %w", h.route, err))
	}
}

func (h *Handler) storeError(err error) {
	h.stats.storeErrors.Add(1)
	if h.c.onEvent != nil {
		h.c.onEvent(Event{Route: h.route, Reason: ReasonStoreError, Err: err})
	}
}

func (h *Handler) unkeyedVary(name string) {
	h.stats.unkeyedVary.Add(1)
	if h.c.onEvent != nil {
		h.c.onEvent(Event{Route: h.route, Reason: ReasonUnkeyedVary, Detail: name})
	}
}

// overrideHeaders are request headers that proxies and frameworks honour as
// a different host, URL or method than the one the key was made from.
var overrideHeaders = []string{
	"X-Original-Url", "X-Rewrite-Url", "X-Original-Host", "X-Host",
	"X-Forwarded-Host", "X-Forwarded-Server", "X-Forwarded-Scheme", "X-Forwarded-Prefix",
	"X-Http-Method-Override", "X-Http-Method", "X-Method-Override",
}

// stripUnkeyedOverrides removes the override headers the route does not key
// on. The gateway sets its own X-Forwarded-Host after this, from what it trusts.
func (h *Handler) stripUnkeyedOverrides(hdr http.Header) {
	for _, k := range overrideHeaders {
		if hdr[k] != nil && !h.policy.keyed[k] {
			delete(hdr, k)
		}
	}
}

// serveEntry writes e as the answer to r.
func serveEntry(w http.ResponseWriter, r *http.Request, e *Entry, now time.Time, status string) {
	hdr := w.Header()
	// One backing array for every value: the entry is shared between
	// requests, and a later Header().Add must never write into it.
	n := 0
	for _, vs := range e.Header {
		n += len(vs)
	}
	vals := make([]string, 0, n)
	for k, vs := range e.Header {
		start := len(vals)
		vals = append(vals, vs...)
		hdr[k] = vals[start:len(vals):len(vals)]
	}
	age := max(0, now.Sub(e.Created)/time.Second)
	hdr["Age"] = []string{strconv.FormatInt(int64(age), 10)}
	if status == "" {
		ttl := max(0, (e.Expires.Sub(now)+time.Second-1)/time.Second)
		status = "rampart; hit; ttl=" + strconv.FormatInt(int64(ttl), 10)
	}
	hdr[StatusHeader] = append(hdr[StatusHeader], status)
	if e.Status == http.StatusOK && notModified(r.Header, e.Header) {
		delete(hdr, "Content-Length")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead && len(e.Body) > 0 {
		_, _ = w.Write(e.Body)
	}
}

// notModified reports whether the request's If-None-Match matches the
// entry's ETag (weak comparison, RFC 9110 §13.1.2).
func notModified(req, resp http.Header) bool {
	inm := req.Values("If-None-Match")
	etag := resp.Get("Etag")
	if len(inm) == 0 || etag == "" {
		return false
	}
	etag = strings.TrimPrefix(etag, "W/")
	for _, v := range inm {
		for tag := range strings.SplitSeq(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}
