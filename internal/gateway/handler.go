// Package gateway is Rampart's edge request path: one canonical path per request,
// routing, header hygiene, limits, and the proxy to upstream pools. Each
// configuration is compiled once into a Table; the Handler serves whichever Table
// is current and a reload swaps it atomically.
//
// The order of checks for one request (ServeHTTP):
//
//	framing violation → protocol (CONNECT, h2c, absolute-form) → header size → canonical path →
//	route (404/405/;) → upgrade policy → forwarding headers → authenticate →
//	authorize → body limit → proxy (identity token to the upstream)
package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-sec/rampart/internal/canonpath"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/framing"
	"github.com/rampart-sec/rampart/internal/logging"
	"github.com/rampart-sec/rampart/internal/oidclogin"
	"github.com/rampart-sec/rampart/internal/router"
	"github.com/rampart-sec/rampart/internal/upstream"
	"github.com/rampart-sec/rampart/internal/validate"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// Handler serves requests with the current Table.
type Handler struct {
	table atomic.Pointer[Table]
	deps  Deps
	// inFlight counts the requests being served (gateway.limits.max_in_flight).
	inFlight atomic.Int64
}

// NewHandler returns a Handler serving t.
func NewHandler(t *Table, deps Deps) *Handler {
	h := &Handler{deps: deps}
	h.table.Store(t)
	return h
}

// Swap installs t and returns the Table it replaced.
func (h *Handler) Swap(t *Table) *Table { return h.table.Swap(t) }

// Table returns the Table in use.
func (h *Handler) Table() *Table { return h.table.Load() }

// state is what the proxy stages need to know about one request.
type state struct {
	fwd   forwarded
	canon string
	route *route
	// bodyTooLarge is set when the body reader hit the limit, bodyBroken when
	// the client's body could not be read (bad chunking, early EOF). The
	// transport reads the body on its own goroutine, hence atomics.
	bodyTooLarge atomic.Bool
	bodyBroken   atomic.Bool
	// rec shares the state's allocation.
	rec recorder
	// principal is the verified identity on protected routes.
	principal *principal.Principal
	// identity is the signed identity token for the upstream.
	identity string
}

type stateKey struct{}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t := h.table.Load()
	st := &state{fwd: t.trust.resolve(r, t.tls)}
	rec := &st.rec
	rec.ResponseWriter = w
	rec.Header().Set("X-Request-Id", st.fwd.requestID)
	code := h.serve(t, rec, r, st)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	m := t.unrouted
	routeName := ""
	if st.route != nil {
		m = st.route.metrics
		routeName = st.route.name
	}
	d := time.Since(start)
	m.Observe(r.Method, status, d)
	if h.deps.Access != nil {
		h.deps.Access.Log(&logging.AccessRecord{
			Time:      start,
			RequestID: st.fwd.requestID,
			ClientIP:  st.fwd.client,
			Method:    r.Method,
			Host:      r.Host,
			Path:      pathForLog(st.canon, r),
			Query:     logging.SanitizeQuery(r.URL.RawQuery),
			Proto:     r.Proto,
			Status:    status,
			Bytes:     rec.bytes,
			Duration:  d,
			Route:     routeName,
			Error:     code,
			UserAgent: r.UserAgent(),
		})
	}
}

// pathForLog logs the canonical path, or for refused paths a bounded prefix of
// the raw one (refused input is attacker-controlled; the redaction hook still applies).
func pathForLog(canon string, r *http.Request) string {
	if canon != "" {
		return canon
	}
	p := r.URL.EscapedPath()
	if len(p) > 256 {
		p = p[:256]
	}
	return p
}

// serve runs the checks and the proxy. It returns the error code it refused
// the request with, or "" when it was proxied.
func (h *Handler) serve(t *Table, w *recorder, r *http.Request, st *state) string {
	ev := func(typ event.Type, sev event.Severity, reason, detail string) {
		rn := ""
		if st.route != nil {
			rn = st.route.name
		}
		subject := ""
		if st.principal != nil {
			subject = st.principal.Subject
		}
		h.deps.Events.Emit(event.Event{Type: typ, Severity: sev, Route: rn, ClientIP: st.fwd.client,
			Principal: subject, RequestID: st.fwd.requestID, Reason: reason, Detail: detail})
	}
	refuse := func(status int, code string, typ event.Type, sev event.Severity, reason, detail string, closeConn bool) string {
		ev(typ, sev, reason, detail)
		t.applySecurityHeaders(w.Header())
		reject(w, status, code, st.fwd.requestID, closeConn)
		return code
	}

	// Shed load before doing any work for a request the gateway cannot
	// afford: the in-flight count covers every connection and stream.
	if n := h.inFlight.Add(1); n > t.maxInFlight && t.maxInFlight > 0 {
		h.inFlight.Add(-1)
		w.Header().Set("Retry-After", "1")
		return refuse(http.StatusServiceUnavailable, "overloaded", event.LimitExceeded, event.High, "in_flight", "", false)
	}
	defer h.inFlight.Add(-1)

	// Ambiguous HTTP/1 framing (CL+TE, TE on HTTP/1.0, obs-fold, bare LF) that
	// net/http would silently normalize poisons the whole connection.
	if c := framing.FromContext(r.Context()); c != nil {
		if v := c.Violation(); v != "" {
			return refuse(http.StatusBadRequest, "bad_request", event.BadRequest, event.High, "ambiguous_framing", v, true)
		}
	}
	// Tunnels around the chain are never allowed. Refusals close the
	// connection: it might otherwise be taken for a tunnel by a front proxy.
	if r.Method == http.MethodConnect {
		return refuse(http.StatusMethodNotAllowed, "method_not_allowed", event.ProtocolRefused, event.Medium, "connect", "", true)
	}
	if r.Method == "PRI" { // an HTTP/2 prior-knowledge preface on an HTTP/1 listener
		return refuse(http.StatusBadRequest, "bad_request", event.ProtocolRefused, event.Medium, "h2_prior_knowledge", "", true)
	}
	upgrade := r.Header.Get("Upgrade")
	if upgrade != "" && headerHasToken(r.Header, "Upgrade", "h2c") {
		return refuse(http.StatusBadRequest, "bad_request", event.ProtocolRefused, event.Medium, "h2c_upgrade", "", true)
	}
	if len(r.RequestURI) == 0 || r.RequestURI[0] != '/' {
		return refuse(http.StatusBadRequest, "bad_request", event.BadRequest, event.Medium, "request_target_form",
			"request-target is not origin-form", true)
	}
	if n := headerSize(r); n > t.maxHdr {
		return refuse(http.StatusRequestHeaderFieldsTooLarge, "headers_too_large", event.LimitExceeded, event.Low, "header_size", "", true)
	}

	// One canonical view of the path.
	rawPath := r.RequestURI
	if i := strings.IndexByte(rawPath, '?'); i >= 0 {
		rawPath = rawPath[:i]
	}
	canon, semicolon, err := canonpath.Canonical(rawPath)
	if err != nil {
		reason := "invalid_path"
		var ce *canonpath.Error
		if errors.As(err, &ce) {
			reason = ce.Reason
		}
		return refuse(http.StatusBadRequest, "bad_request", event.BadRequest, event.Medium, reason, "", false)
	}
	st.canon = canon

	// The gateway's own login paths (callback, logout) come before routing.
	if handled, reason := t.login.serveOwnPath(w, r, canon); handled {
		switch reason {
		case "":
			return ""
		case "login_unavailable":
			return refuse(http.StatusServiceUnavailable, "unavailable", event.AuthnFailed, event.High, reason, "", false)
		}
		// The login package answered the client; the reason goes to the event.
		ev(event.AuthnFailed, event.Medium, reason, "browser login callback refused")
		return "login_failed"
	}

	if t.transit != nil && isTransit(canon) {
		// The transit API authenticates and authorizes each call itself
		// (bearer token, a scope per key and operation) and emits its events.
		stripInternalHeaders(r.Header)
		r.URL.Path, r.URL.RawPath = canon, ""
		t.applySecurityHeaders(w.Header())
		t.transit.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
		return ""
	}

	var params router.Params
	idx, res, allow := t.router.Match(r.Host, canon, r.Method, semicolon, &params)
	switch res {
	case router.NotFound:
		return refuse(http.StatusNotFound, "not_found", event.RouteNotFound, event.Info, "no_route", "", false)
	case router.MethodNotAllowed:
		w.Header().Set("Allow", allow)
		return refuse(http.StatusMethodNotAllowed, "method_not_allowed", event.MethodNotAllowed, event.Low, "method", r.Method, false)
	case router.SemicolonNotAllowed:
		st.route = t.routes[idx]
		return refuse(http.StatusBadRequest, "bad_request", event.BadRequest, event.Medium, "semicolon", "", false)
	}
	rt := t.routes[idx]
	st.route = rt

	if upgrade != "" {
		if !rt.websocket || !strings.EqualFold(strings.TrimSpace(upgrade), "websocket") {
			return refuse(http.StatusBadRequest, "bad_request", event.ProtocolRefused, event.Medium, "upgrade_not_allowed", "", true)
		}
	}
	if st.fwd.spoofed {
		ev(event.SpoofedHeader, event.Low, "forwarding_headers", "forwarding headers from an untrusted peer were replaced")
	}
	if stripInternalHeaders(r.Header) {
		ev(event.SpoofedHeader, event.Medium, "internal_headers", "client sent X-Rampart-* headers")
	}

	// A limit keyed by who connects runs before authentication, so that
	// floods of bad credentials are limited too; one keyed by the principal
	// runs after it.
	if rl := rt.limit; rl != nil && rl.beforeAuth {
		if code := h.rateLimit(r.Context(), w, r, st, rl, &params, refuse); code != "" {
			return code
		}
	}
	// Authentication and authorization run on the canonical path and after
	// client-sent X-Rampart-* headers are gone.
	if rt.auth != nil {
		if code := h.authenticate(t, w, r, st, rt.auth, &params, refuse); code != "" {
			return code
		}
	}
	if rl := rt.limit; rl != nil && !rl.beforeAuth {
		if code := h.rateLimit(r.Context(), w, r, st, rl, &params, refuse); code != "" {
			return code
		}
	}

	if r.ContentLength > t.maxBody {
		return refuse(http.StatusRequestEntityTooLarge, "body_too_large", event.LimitExceeded, event.Low, "body_size", "", true)
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &limitedBody{rc: r.Body, left: t.maxBody, st: st}
	}

	if ch := rt.validate; ch != nil {
		blocked, reports := ch.Check(r.Context(), r, canon)
		for _, v := range reports {
			ev(event.WAFMatch, event.Medium, v.Reason, v.Detail+" (detection only)")
		}
		if blocked != nil {
			if st.bodyTooLarge.Load() {
				return refuse(http.StatusRequestEntityTooLarge, "body_too_large", event.LimitExceeded, event.Low, "body_size", "", true)
			}
			typ, sev, code := event.ValidationFailed, event.Low, "bad_request"
			switch {
			case blocked.Reason == validate.ReasonWAF:
				typ, sev, code = event.WAFMatch, event.High, "forbidden"
			case blocked.Status == http.StatusRequestEntityTooLarge:
				code = "body_too_large"
			case blocked.Status == http.StatusUnsupportedMediaType:
				code = "unsupported_media_type"
			case blocked.Status == http.StatusNotFound || blocked.Status == http.StatusMethodNotAllowed:
				code = "not_found"
			}
			return refuse(blocked.Status, code, typ, sev, blocked.Reason, blocked.Detail, blocked.Status == http.StatusRequestEntityTooLarge)
		}
	}

	ctx := context.WithValue(r.Context(), stateKey{}, st)
	rt.serve.ServeHTTP(w, r.WithContext(ctx))
	if st.bodyTooLarge.Load() {
		ev(event.LimitExceeded, event.Low, "body_size", "streamed body exceeded the limit")
		return "body_too_large"
	}
	return ""
}

// stripInternalHeaders removes every X-Rampart-* header; only the gateway sets them.
func stripInternalHeaders(h http.Header) bool {
	found := false
	for k := range h {
		if len(k) >= 10 && strings.EqualFold(k[:10], "X-Rampart-") {
			delete(h, k)
			found = true
		}
	}
	return found
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			p := strings.TrimSpace(part)
			if i := strings.IndexByte(p, '/'); i >= 0 {
				p = p[:i]
			}
			if strings.EqualFold(p, token) {
				return true
			}
		}
	}
	return false
}

// headerSize approximates the request head size as sent on the wire.
func headerSize(r *http.Request) int64 {
	n := int64(len(r.Method) + len(r.RequestURI) + len(r.Host) + 16)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += int64(len(k) + len(v) + 4)
		}
	}
	return n
}

// limitedBody stops reading after the limit and marks the request, so the
// proxy's error answer becomes 413 instead of 502.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	st   *state
}

var errBodyTooLarge = errors.New("request body exceeds the configured limit")

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.st.bodyTooLarge.Store(true)
		return 0, errBodyTooLarge
	}
	if err != nil && err != io.EOF {
		b.st.bodyBroken.Store(true)
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// newProxy builds the reverse proxy for one upstream pool.
func (t *Table) newProxy(pool *upstream.Pool, deps Deps) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport:  pool,
		BufferPool: &bufferPool{},
		ErrorLog:   slog.NewLogLogger(deps.Log.Handler(), slog.LevelDebug),
		// Rewrite runs after the proxy removed hop-by-hop headers (including any
		// named in Connection) and the inbound X-Forwarded-*, so a client's
		// "Connection: X-Forwarded-For" cannot remove what is set here.
		Rewrite: func(pr *httputil.ProxyRequest) {
			st := pr.In.Context().Value(stateKey{}).(*state)
			out := pr.Out
			out.URL.RawPath = st.canon
			if p, err := url.PathUnescape(st.canon); err == nil {
				out.URL.Path = p
			}
			h := out.Header
			h.Del("Forwarded")
			h.Del("X-Real-Ip")
			h.Set("X-Forwarded-For", st.fwd.xff)
			h.Set("X-Forwarded-Proto", st.fwd.proto)
			h.Set("X-Forwarded-Host", st.fwd.host)
			h.Set("X-Request-Id", st.fwd.requestID)
			if t.apiKeyHeader != "" {
				// An API key is a credential: it never reaches a service.
				delete(h, t.apiKeyHeader)
			}
			if t.login != nil {
				// Nor does the login session.
				stripCookies(h, oidclogin.DefaultCookieName, oidclogin.LoginCookieName)
			}
			if st.principal != nil {
				identify(h, st)
			}
			if m := st.route.mask; m != nil && !m.exempt(st.principal) {
				// The gateway must read the body to mask it.
				h.Set("Accept-Encoding", "identity")
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			for _, k := range leakyResponseHeaders {
				resp.Header.Del(k)
			}
			t.applySecurityHeaders(resp.Header)
			st := resp.Request.Context().Value(stateKey{}).(*state)
			if m := st.route.mask; m != nil && !m.exempt(st.principal) {
				return m.apply(resp)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			st, _ := r.Context().Value(stateKey{}).(*state)
			rid := ""
			if st != nil {
				rid = st.fwd.requestID
			}
			status, code, reason := http.StatusBadGateway, "bad_gateway", "upstream_error"
			var me *maskError
			switch {
			case errors.As(err, &me) && st != nil:
				// The upstream answered, but not in a form the gateway can
				// mask: refused rather than passed on with the data in clear.
				deps.Events.Emit(event.Event{Type: event.MaskRefused, Severity: event.High, Route: st.route.name,
					ClientIP: st.fwd.client, RequestID: rid, Reason: me.reason})
				t.applySecurityHeaders(w.Header())
				reject(w, http.StatusBadGateway, "bad_gateway", rid, false)
				return
			case st != nil && st.bodyTooLarge.Load():
				status, code, reason = http.StatusRequestEntityTooLarge, "body_too_large", "body_size"
			case st != nil && st.bodyBroken.Load() && r.Context().Err() == nil:
				// The client sent a body net/http could not decode (bad
				// chunking, truncated): the client's fault, not the upstream's.
				deps.Events.Emit(event.Event{Type: event.BadRequest, Severity: event.Medium, Route: st.route.name,
					ClientIP: st.fwd.client, RequestID: rid, Reason: "malformed_body"})
				deps.Log.Info("request body could not be read", "request_id", rid, "route", st.route.name, "error", err.Error())
				t.applySecurityHeaders(w.Header())
				reject(w, http.StatusBadRequest, "bad_request", rid, true)
				return
			case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
				// The client went away; nobody is listening for an answer.
				return
			case errors.Is(err, upstream.ErrNoHealthyTarget):
				status, code, reason = http.StatusServiceUnavailable, "unavailable", "no_healthy_target"
			case errors.Is(err, upstream.ErrCircuitOpen):
				status, code, reason = http.StatusServiceUnavailable, "unavailable", "circuit_open"
			case errors.Is(err, upstream.ErrOverloaded):
				status, code, reason = http.StatusServiceUnavailable, "unavailable", "overloaded"
			case errors.Is(err, context.DeadlineExceeded):
				status, code, reason = http.StatusGatewayTimeout, "upstream_timeout", "timeout"
			}
			if status != http.StatusRequestEntityTooLarge && st != nil && st.route != nil {
				deps.Events.Emit(event.Event{Type: event.UpstreamFailure, Severity: event.Low, Route: st.route.name,
					ClientIP: st.fwd.client, RequestID: rid, Reason: reason})
				deps.Log.Warn("upstream request failed", "request_id", rid, "route", st.route.name,
					"upstream", st.route.upstream, "reason", reason, "error", err.Error())
			}
			t.applySecurityHeaders(w.Header())
			reject(w, status, code, rid, status == http.StatusRequestEntityTooLarge)
		},
	}
}

func (t *Table) applySecurityHeaders(h http.Header) {
	for _, rule := range t.headers {
		switch {
		case rule.value == "":
			h.Del(rule.name)
		case rule.override || h.Get(rule.name) == "":
			h.Set(rule.name, rule.value)
		}
	}
	if t.hsts != "" {
		h.Set("Strict-Transport-Security", t.hsts)
	}
}
