package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/authz"
	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
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
	// issuers the route accepts bearer tokens from; nil for a public route.
	issuers []string
	// policy checks scopes, roles and allow; nil when the route has none.
	policy       *authz.Policy
	needsRequest bool
	forwardToken bool
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
		ra.forwardToken = r.ForwardToken
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
	if ra.issuers == nil && ra.policy == nil {
		return nil, errs
	}
	return ra, errs
}

// issuerConfigs converts the configuration's issuers for authn.
func issuerConfigs(iss []config.Issuer) ([]authn.IssuerConfig, error) {
	out := make([]authn.IssuerConfig, 0, len(iss))
	for _, is := range iss {
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
		if is.CAFile != "" {
			pem, err := os.ReadFile(is.CAFile)
			if err != nil {
				return nil, fmt.Errorf("issuer %s: read ca_file: %w", is.Name, err)
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("issuer %s: ca_file %s holds no PEM certificate", is.Name, is.CAFile)
			}
			ic.HTTPClient = &http.Client{
				Timeout: 10 * time.Second,
				Transport: &http.Transport{
					TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
					TLSHandshakeTimeout: 5 * time.Second,
				},
			}
		}
		out = append(out, ic)
	}
	return out, nil
}

// verifierHolder lets a reload keep the running verifier (its key sets and
// verified-token cache) when the issuers did not change.
type verifierHolder struct {
	issuers  []config.Issuer
	verifier *authn.Verifier
	cancel   context.CancelFunc // nil until started
	owner    atomic.Pointer[Table]
}

func (v *verifierHolder) sameIssuers(iss []config.Issuer) bool {
	return v != nil && reflect.DeepEqual(v.issuers, iss)
}

// start fetches the key sets in the background, until ctx ends or stop.
func (v *verifierHolder) start(ctx context.Context) {
	if v == nil || v.cancel != nil {
		return
	}
	ctx, v.cancel = context.WithCancel(ctx)
	v.verifier.Start(ctx)
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
			if !v.verifier.Ready(is.Name) {
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
	if ra.issuers != nil {
		tok, err := authn.BearerToken(r.Header)
		if err == nil {
			p, err = t.verifier.verifier.Verify(r.Context(), tok, ra.issuers)
		}
		if err != nil {
			var ae *authn.Error
			switch {
			case !errors.As(err, &ae):
				// RFC 6750 §3.1: no error code when the request had no credentials.
				w.Header().Set("WWW-Authenticate", `Bearer realm="rampart"`)
				return refuse(http.StatusUnauthorized, "unauthorized", event.AuthnFailed, event.Low, "missing", "", false)
			case ae.Reason == authn.ReasonKeysUnavailable:
				// Not the client's fault: the issuer's keys could not be fetched.
				w.Header().Set("Retry-After", "5")
				return refuse(http.StatusServiceUnavailable, "unavailable", event.AuthnFailed, event.High, ae.Reason, "", false)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="rampart", error="`+ae.Code+`"`)
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

// authorize applies the route's scopes, roles and allow policy to p.
func (h *Handler) authorize(w *recorder, r *http.Request, st *state, ra *routeAuth, p *principal.Principal, params *router.Params,
	refuse func(status int, code string, typ event.Type, sev event.Severity, reason, detail string, closeConn bool) string) string {
	var req *authz.Request
	if ra.needsRequest {
		req = &authz.Request{
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
		authn.ReasonCrit, authn.ReasonUnknownKey, authn.ReasonRevoked:
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
	if ra == nil || ra.issuers == nil {
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
