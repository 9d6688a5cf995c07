package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-sec/rampart/internal/apikey"
	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/authz"
	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/framing"
	"github.com/rampart-sec/rampart/internal/introspect"
	"github.com/rampart-sec/rampart/internal/router"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// IdentityTTL is the lifetime of the identity tokens the gateway sends
// upstream (principal.IdentityHeader, issuer principal.DefaultGatewayIssuer);
// services verify them with sdk/principal. Like every X-Rampart-* header the
// identity header is removed from client requests.
const IdentityTTL = 60 * time.Second

// routeAuth is a route's compiled authentication and authorization.
type routeAuth struct {
	// issuers the route accepts bearer tokens from.
	issuers []string
	// mtls, apiKeys and login: the route accepts a verified client
	// certificate, an API key, a browser session.
	mtls, apiKeys, login bool
	// policy checks scopes, roles and allow; nil when the route has none.
	policy       *authz.Policy
	needsRequest bool
	forwardToken bool
	// scopes are the route's required scopes, for the introspection cache key.
	scopes []string
}

// protected reports whether the route needs a credential.
func (ra *routeAuth) protected() bool { return ra.issuers != nil || ra.mtls || ra.apiKeys || ra.login }

// keyVerifier checks API keys (internal/apikey's Store).
type keyVerifier interface {
	Verify(key string) (*principal.Principal, error)
}

// introspector checks opaque tokens with their issuer (internal/introspect).
type introspector interface {
	Introspect(ctx context.Context, token string, requiredScopes []string) (*principal.Principal, error)
}

// anonymous is the principal a public route's allow policy sees.
var anonymous = &principal.Principal{}

// compileAuth builds a route's auth from its configuration. Errors are located
// at the route's keys.
func compileAuth(i int, rc *config.Route, src *config.Source) (*routeAuth, config.Errors) {
	var errs config.Errors
	ra := &routeAuth{}
	rule := authz.Rule{Allow: rc.Allow}
	if r := rc.Auth.Rule; r != nil {
		ra.issuers = r.Issuers
		ra.mtls, ra.apiKeys, ra.login = r.MTLS, r.APIKeys, r.Login
		ra.forwardToken = r.ForwardToken
		ra.scopes = r.Scopes
		rule.Scopes, rule.Roles = r.Scopes, r.Roles
	}
	if len(rule.Scopes) > 0 || len(rule.Roles) > 0 || rule.Allow != "" {
		p, err := authz.Compile(rule)
		if err != nil {
			var ce *authz.CompileError
			path := fmt.Sprintf("routes[%d].allow", i)
			if errors.As(err, &ce) {
				e := src.Errorf(path, "%s", ce.Msg)
				if ce.Line > 1 && e.Line > 0 {
					// A block scalar starts on the line after the key.
					e.Line += ce.Line
				}
				if ce.Column > 0 {
					e.Msg = fmt.Sprintf("%s (at column %d of the expression)", e.Msg, ce.Column)
				}
				errs = append(errs, e)
			} else {
				errs = append(errs, src.Errorf(path, "%v", err))
			}
		} else {
			ra.policy = p
			ra.needsRequest = p.NeedsRequest()
		}
	}
	if !ra.protected() && ra.policy == nil {
		return nil, errs
	}
	return ra, errs
}

// issuerConfigs converts the configuration's JWT issuers (those with a key
// set or an HMAC secret) for authn.
func issuerConfigs(iss []config.Issuer) ([]authn.IssuerConfig, error) {
	out := make([]authn.IssuerConfig, 0, len(iss))
	for _, is := range iss {
		if is.JWKSURI == "" && is.JWKSFile == "" && is.HMACSecret == "" {
			continue // introspection only
		}
		ic := authn.IssuerConfig{
			Name:               is.Name,
			Issuer:             is.Issuer,
			JWKSURI:            is.JWKSURI,
			JWKSFile:           is.JWKSFile,
			Audiences:          is.Audiences,
			Algorithms:         is.Algorithms,
			Leeway:             is.Leeway.Std(),
			RolesClaim:         is.RolesClaim,
			ScopesClaim:        is.ScopesClaim,
			RequireTyp:         is.TokenType,
			RefreshInterval:    is.RefreshInterval.Std(),
			MinRefetchInterval: is.MinRefetchInterval.Std(),
			MaxTokenSize:       int(is.MaxTokenSize),
		}
		if is.HMACSecret != "" {
			ic.HMACSecret = []byte(is.HMACSecret)
		}
		var err error
		if ic.HTTPClient, err = issuerHTTPClient(&is); err != nil {
			return nil, err
		}
		out = append(out, ic)
	}
	return out, nil
}

// issuerHTTPClient is the client for an issuer's key set and introspection
// endpoint when it names its own CA (ca_file); nil: the packages' defaults.
func issuerHTTPClient(is *config.Issuer) (*http.Client, error) {
	if is.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(is.CAFile)
	if err != nil {
		return nil, fmt.Errorf("issuer %s: read ca_file: %w", is.Name, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("issuer %s: ca_file %s holds no PEM certificate", is.Name, is.CAFile)
	}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 5 * time.Second,
		},
		// A redirect could take the token or the keys' fetch elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// verifierHolder lets a reload keep the running verifier (its key sets and
// verified-token cache) and introspection clients when the issuers did not
// change.
type verifierHolder struct {
	issuers []config.Issuer
	cache   config.TokenCache
	// verifier checks JWTs; nil when no issuer has a key set or secret.
	verifier *authn.Verifier
	// introspectors check opaque tokens, by issuer name.
	introspectors map[string]introspector
	cancel        context.CancelFunc // nil until started
	owner         atomic.Pointer[Table]
	// events and log are for the issuers' revocation feeds.
	events event.Emitter
	log    *slog.Logger
}

// ready reports whether the named issuer can check tokens now: its key set
// was fetched, or it only introspects (nothing to fetch ahead).
func (v *verifierHolder) ready(name string) bool {
	if v.verifier != nil && v.verifier.Ready(name) {
		return true
	}
	for _, is := range v.issuers {
		if is.Name == name {
			return is.JWKSURI == "" && is.JWKSFile == "" && is.HMACSecret == ""
		}
	}
	return false
}

func (v *verifierHolder) same(iss []config.Issuer, cache config.TokenCache) bool {
	return v != nil && v.cache == cache && reflect.DeepEqual(v.issuers, iss)
}

// start fetches the key sets in the background, until ctx ends or stop.
func (v *verifierHolder) start(ctx context.Context) {
	if v == nil || v.cancel != nil {
		return
	}
	ctx, v.cancel = context.WithCancel(ctx)
	if v.verifier != nil {
		v.verifier.Start(ctx)
		for i := range v.issuers {
			is := &v.issuers[i]
			if is.Revocations.Endpoint == "" {
				continue
			}
			client, err := issuerHTTPClient(is)
			if err != nil {
				// The CA file was readable when the table compiled.
				v.log.Error("revocation feed not started", "issuer", is.Name, "error", err.Error())
				v.events.Emit(event.Event{Type: event.RevocationFeed, Severity: event.High, Reason: "feed_unavailable", Detail: "issuer " + is.Name + ": " + err.Error()})
				continue
			}
			go newRevocationFeed(is, v.verifier, client, v.events, v.log).run(ctx)
		}
	}
}

func (v *verifierHolder) stop() {
	if v != nil && v.cancel != nil {
		v.cancel()
	}
}

// waitReady waits until every issuer has a key set, or the deadline. A reload
// that brings new issuers waits here so that requests never meet an issuer
// whose keys are still being fetched.
func (v *verifierHolder) waitReady(ctx context.Context, d time.Duration) bool {
	if v == nil {
		return true
	}
	deadline := time.Now().Add(d)
	for {
		ready := true
		for _, is := range v.issuers {
			if !v.ready(is.Name) {
				ready = false
				break
			}
		}
		if ready {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// authenticate runs the route's authentication and authorization. It returns
// "" when the request may proceed (st.principal set for protected routes), or
// the error code it refused the request with.
func (h *Handler) authenticate(t *Table, w *recorder, r *http.Request, st *state, ra *routeAuth, params *router.Params,
	refuse func(status int, code string, typ event.Type, sev event.Severity, reason, detail string, closeConn bool) string) string {
	p := anonymous
	if ra.protected() {
		var err error
		p, err = t.credential(r, ra, st)
		if err != nil {
			var ae *authn.Error
			switch {
			case err == errLoginRequired:
				// A browser goes to the provider, anything else gets 401.
				h.deps.Events.Emit(event.Event{Type: event.AuthnFailed, Severity: event.Info, Route: st.route.name,
					ClientIP: st.fwd.client, RequestID: st.fwd.requestID, Reason: reasonLoginRequired})
				t.applySecurityHeaders(w.Header())
				w.Header().Set("X-Request-Id", st.fwd.requestID)
				t.login.cur.Load().Start(w, r)
				return reasonLoginRequired
			case !errors.As(err, &ae):
				// RFC 6750 §3.1: no error code when the request had no credentials.
				if ra.issuers != nil {
					w.Header().Set("WWW-Authenticate", `Bearer realm="rampart"`)
				}
				return refuse(http.StatusUnauthorized, "unauthorized", event.AuthnFailed, event.Low, "missing", "", false)
			case ae.Reason == authn.ReasonKeysUnavailable:
				// Not the client's fault: the issuer's keys or introspection
				// endpoint could not be reached.
				w.Header().Set("Retry-After", "5")
				return refuse(http.StatusServiceUnavailable, "unavailable", event.AuthnFailed, event.High, ae.Reason, "", false)
			}
			if ra.issuers != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="rampart", error="`+ae.Code+`"`)
			}
			status := http.StatusUnauthorized
			if ae.Code == "invalid_request" {
				status = http.StatusBadRequest
			}
			return refuse(status, ae.Code, event.AuthnFailed, severityOf(ae.Reason), ae.Reason, "", false)
		}
		st.principal = p
	}
	if ra.policy != nil {
		if code := h.authorize(w, r, st, ra, p, params, refuse); code != "" {
			return code
		}
	}
	if st.principal != nil && h.deps.Identity != nil {
		// Signed here rather than while the upstream request is written, so
		// that a failure refuses the request instead of sending it on
		// without the identity the service expects.
		tok, err := h.deps.Identity.Sign(st.principal, st.route.upstream)
		if err != nil {
			h.deps.Log.Error("sign identity token", "request_id", st.fwd.requestID, "error", err.Error())
			return refuse(http.StatusInternalServerError, "internal_error", event.AuthnFailed, event.High, "identity_token", err.Error(), false)
		}
		st.identity = tok
	}
	return ""
}

// Reasons for credential refusals decided here rather than by a verifier.
const (
	// reasonSeveralCredentials: a bearer token and an API key in one request;
	// which one would count is exactly the ambiguity attackers look for.
	reasonSeveralCredentials = "several_credentials"
	// reasonCredentialNotAccepted: a credential of a kind the route does
	// not accept (an API key on a token-only route...).
	reasonCredentialNotAccepted = "credential_not_accepted"
	// reasonNoIntrospection: an opaque token on a route whose issuers
	// cannot introspect.
	reasonNoIntrospection = "opaque_token_not_accepted"
)

// credential finds and verifies the request's credential for the route:
// a bearer token (a JWT verified locally, anything else introspected), an
// API key, or, when neither is sent, a verified client certificate. Errors
// are *authn.Error, or authn.ErrNoCredentials when there is none.
func (t *Table) credential(r *http.Request, ra *routeAuth, st *state) (*principal.Principal, error) {
	_, hasBearer := r.Header["Authorization"]
	var apiKey []string
	if t.apiKeyHeader != "" {
		apiKey = r.Header[t.apiKeyHeader]
	}
	switch {
	case hasBearer && apiKey != nil:
		return nil, &authn.Error{Reason: reasonSeveralCredentials, Code: "invalid_request"}
	case hasBearer:
		if ra.issuers == nil {
			return nil, &authn.Error{Reason: reasonCredentialNotAccepted, Code: "invalid_token"}
		}
		tok, err := authn.BearerToken(r.Header)
		if err != nil {
			return nil, err
		}
		if strings.Count(tok, ".") == 2 || t.verifier == nil || len(t.verifier.introspectors) == 0 {
			if t.verifier == nil || t.verifier.verifier == nil {
				return nil, &authn.Error{Reason: authn.ReasonMalformedToken, Code: "invalid_token"}
			}
			return t.verifier.verifier.Verify(r.Context(), tok, ra.issuers)
		}
		return t.introspect(r.Context(), tok, ra)
	case apiKey != nil:
		if !ra.apiKeys || t.apiKeys == nil {
			return nil, &authn.Error{Reason: reasonCredentialNotAccepted, Code: "invalid_token"}
		}
		if len(apiKey) != 1 {
			return nil, &authn.Error{Reason: authn.ReasonMalformed, Code: "invalid_request"}
		}
		return t.apiKeys.Verify(apiKey[0])
	}
	if ra.login && t.login != nil {
		if p := t.login.session(r); p != nil {
			if !sameOrigin(r, st.fwd.proto, st.fwd.host) {
				return nil, &authn.Error{Reason: reasonCrossSite, Code: "invalid_request"}
			}
			return p, nil
		}
	}
	if ra.mtls {
		// HTTP/2 requests carry the TLS state; HTTP/1 connections are
		// wrapped by the framing inspector, which keeps it.
		cs := r.TLS
		if c := framing.FromContext(r.Context()); cs == nil && c != nil {
			cs = c.TLS()
		}
		p, err := authn.CertificatePrincipal(cs)
		if err != authn.ErrNoCredentials || !ra.login {
			return p, err
		}
	}
	if ra.login {
		if !t.login.ready() {
			return nil, &authn.Error{Reason: authn.ReasonKeysUnavailable, Code: "invalid_token"}
		}
		return nil, errLoginRequired
	}
	return nil, authn.ErrNoCredentials
}

// introspect asks the route's issuers that have an introspection endpoint,
// in order, about an opaque token; the first definite answer counts.
func (t *Table) introspect(ctx context.Context, tok string, ra *routeAuth) (*principal.Principal, error) {
	var first error
	for _, name := range ra.issuers {
		in := t.verifier.introspectors[name]
		if in == nil {
			continue
		}
		p, err := in.Introspect(ctx, tok, ra.scopes)
		if err == nil {
			return p, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		return nil, &authn.Error{Reason: reasonNoIntrospection, Code: "invalid_token"}
	}
	return nil, first
}

// policyRequest is what CEL expressions (allow, rate-limit keys) read about
// the request: the canonical path and decoded route params.
func policyRequest(r *http.Request, st *state, params *router.Params) *authz.Request {
	req := &authz.Request{
		Method:   r.Method,
		Path:     st.canon,
		ClientIP: st.fwd.client,
		Query:    r.URL.Query(),
		Headers:  r.Header,
	}
	if n := params.Len(); n > 0 {
		req.Params = make(map[string]string, n)
		for i := 0; i < n; i++ {
			name, value := params.At(i)
			if v, err := url.PathUnescape(value); err == nil {
				value = v
			}
			req.Params[name] = value
		}
	}
	return req
}

// authorize applies the route's scopes, roles and allow policy to p.
func (h *Handler) authorize(w *recorder, r *http.Request, st *state, ra *routeAuth, p *principal.Principal, params *router.Params,
	refuse func(status int, code string, typ event.Type, sev event.Severity, reason, detail string, closeConn bool) string) string {
	var req *authz.Request
	if ra.needsRequest {
		req = policyRequest(r, st, params)
	}
	d := ra.policy.Decide(p, req)
	if d.Allowed {
		return ""
	}
	detail := ""
	if d.Err != nil {
		detail = d.Err.Error()
	}
	if d.Reason == authz.ReasonInsufficientScope {
		v := `Bearer realm="rampart", error="insufficient_scope"`
		if d.Missing != "" && !strings.ContainsAny(d.Missing, "\"\\") {
			v += `, scope="` + d.Missing + `"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	return refuse(http.StatusForbidden, "forbidden", event.AuthzDenied, event.Medium, d.Reason, detail, false)
}

// severityOf grades authentication failures: forgeries are worse than expiry.
func severityOf(reason string) event.Severity {
	switch reason {
	case authn.ReasonBadSignature, authn.ReasonAlgNone, authn.ReasonAlgNotAllowed, authn.ReasonEmbeddedKey,
		authn.ReasonCrit, authn.ReasonUnknownKey, authn.ReasonRevoked, apikey.ReasonBadKey, reasonSeveralCredentials:
		return event.High
	case authn.ReasonExpired, authn.ReasonNotYetValid:
		return event.Low
	}
	return event.Medium
}

// identify replaces the client's credentials with the gateway's statement of
// the verified principal: the identity token signed in authenticate, and
// plain convenience headers.
func identify(h http.Header, st *state) {
	ra := st.route.auth
	if ra == nil || !ra.protected() {
		return
	}
	if !ra.forwardToken {
		h.Del("Authorization")
	}
	if st.identity != "" {
		h[principal.IdentityHeader] = []string{st.identity}
	}
	p := st.principal
	setIfSafe(h, "X-Rampart-Subject", p.Subject)
	setIfSafe(h, "X-Rampart-Issuer", p.Issuer)
	setIfSafe(h, "X-Rampart-Scopes", strings.Join(p.Scopes, " "))
	setIfSafe(h, "X-Rampart-Roles", strings.Join(p.Roles, ","))
}

// setIfSafe sets a header from token claims only when the value is printable
// ASCII: claims are attacker-influenced text and must not split headers.
func setIfSafe(h http.Header, name, v string) {
	if v == "" || len(v) > 1024 {
		return
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return
		}
	}
	h[name] = []string{v}
}

// newIntrospectors builds the introspection clients of the issuers that have
// an introspection endpoint.
func newIntrospectors(iss []config.Issuer, deps Deps) (map[string]introspector, error) {
	out := make(map[string]introspector)
	for i := range iss {
		is := &iss[i]
		in := is.Introspection
		if in.Endpoint == "" {
			continue
		}
		hc, err := issuerHTTPClient(is)
		if err != nil {
			return nil, err
		}
		c, err := introspect.New(introspect.Config{
			Name: is.Name, Issuer: is.Issuer, Endpoint: in.Endpoint,
			ClientID: in.ClientID, ClientSecret: in.ClientSecret,
			Audiences: is.Audiences, RolesClaim: is.RolesClaim, ScopesClaim: is.ScopesClaim,
			CacheTTL: in.CacheTTL.Std(), MaxTokenSize: int(is.MaxTokenSize), HTTPClient: hc,
		}, introspect.Options{Events: deps.Events, Log: deps.Log})
		if err != nil {
			return nil, fmt.Errorf("issuer %s: introspection: %w", is.Name, err)
		}
		out[is.Name] = c
	}
	return out, nil
}
