package oidclogin

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Reasons a callback fails, for security events and metrics (Error.Reason).
const (
	ReasonMethod            = "method_not_allowed" // not a GET
	ReasonNoLoginCookie     = "no_login_cookie"    // no login in progress in this browser
	ReasonBadLoginCookie    = "bad_login_cookie"   // forged, tampered, or another issuer's
	ReasonLoginExpired      = "login_expired"      // over 10 minutes since Start
	ReasonStateMismatch     = "state_mismatch"     // CSRF or a login started in another tab
	ReasonIssuerMismatch    = "issuer_mismatch"    // the iss parameter (RFC 9207) names another issuer
	ReasonProviderError     = "provider_error"     // the issuer answered error=... (e.g. access_denied)
	ReasonNoCode            = "no_code"            // no single code parameter
	ReasonExchangeRefused   = "exchange_refused"   // the token endpoint refused the code (replayed, PKCE, client auth)
	ReasonIssuerUnavailable = "issuer_unavailable" // the token endpoint or the key set could not be fetched
	ReasonNoIDToken         = "no_id_token"        // the token response had no id_token
	ReasonBadIDToken        = "bad_id_token"       // signature, iss, aud, azp, exp or sub
	ReasonNonceMismatch     = "nonce_mismatch"     // the ID token's nonce is not the login's
	ReasonSessionTooLarge   = "session_too_large"  // the roles do not fit in a cookie
)

// Error is what Callback returns on failure: Reason is one of the Reason
// constants, Status what the client was answered, Err the detail for the log
// (never sent to the client).
type Error struct {
	Reason string
	Status int
	Err    error
}

func (e *Error) Error() string {
	return "oidclogin: callback refused (" + e.Reason + "): " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Start answers a request that needs a login. A browser navigation (GET or
// HEAD that accepts text/html, and no Sec-Fetch-Mode other than navigate, no
// X-Requested-With: XMLHttpRequest) gets a 302 to the issuer's authorization
// endpoint (response_type=code, PKCE S256, state, nonce) and a 10-minute
// login cookie holding them with the request's path and query to return to.
// Anything else (APIs, XHR, fetch, forms) gets 401 {"error":"login_required"}
// and no cookie: redirecting it would only break the client.
func (l *Login) Start(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !navigation(r) {
		writeError(w, http.StatusUnauthorized, "login_required")
		return
	}
	st := loginState{
		Issuer:   l.name,
		State:    rand.Text(),
		Nonce:    rand.Text(),
		Verifier: oauth2.GenerateVerifier(),
		Next:     localPath(requestPath(r)),
		Expires:  l.now().Add(loginTTL).Unix(),
	}
	v, err := l.seal(l.loginAAD, &st)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error")
		return
	}
	http.SetCookie(w, cookie(LoginCookieName, v, int(loginTTL/time.Second)))
	w.Header().Set("Location", l.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)))
	w.WriteHeader(http.StatusFound)
}

// Callback handles the issuer's redirect back (GET on CallbackPath): it
// checks the state against the login cookie in constant time, exchanges the
// code with the PKCE verifier, verifies the ID token (signature with the
// issuer's keys, iss, aud = client id, azp when there are several audiences,
// exp, sub; nonce equal to the login's), then sets the session cookie and
// redirects (302) to the path the login started from.
//
// On failure it answers a short JSON error — 400 for a bad or forged
// request, 401 when the issuer or its tokens refuse the login, 405 for a
// method other than GET, 502 when the token endpoint or the issuer's keys
// cannot be fetched, 500 when the session would not fit in a cookie — and
// returns an *Error for the log and the security event. The login cookie
// is removed once its state matched, so a login is tried once.
func (l *Login) Callback(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return l.fail(w, http.StatusMethodNotAllowed, ReasonMethod, fmt.Errorf("method %s", r.Method))
	}
	st, reason, err := l.loginCookie(r)
	if err != nil {
		return l.fail(w, http.StatusBadRequest, reason, err)
	}
	q := r.URL.Query()
	state := single(q, "state")
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(st.State)) != 1 {
		// The login cookie stays: a forged callback must not cancel the
		// user's own login in progress.
		return l.fail(w, http.StatusBadRequest, ReasonStateMismatch, errors.New("state does not match the login cookie"))
	}
	http.SetCookie(w, cookie(LoginCookieName, "", -1))
	if iss, ok := q["iss"]; ok && (len(iss) != 1 || iss[0] != l.issuer) {
		return l.fail(w, http.StatusBadRequest, ReasonIssuerMismatch, fmt.Errorf("iss parameter %.100q", iss))
	}
	if e := q.Get("error"); e != "" {
		return l.fail(w, http.StatusUnauthorized, ReasonProviderError, fmt.Errorf("issuer answered error %.64q", e))
	}
	code := single(q, "code")
	if code == "" {
		return l.fail(w, http.StatusBadRequest, ReasonNoCode, errors.New("no single code parameter"))
	}

	ctx := oidc.ClientContext(r.Context(), l.client)
	tok, err := l.oauth.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return l.fail(w, http.StatusUnauthorized, ReasonExchangeRefused, fmt.Errorf("exchange code: %w", err))
		}
		return l.fail(w, http.StatusBadGateway, ReasonIssuerUnavailable, fmt.Errorf("exchange code: %w", err))
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return l.fail(w, http.StatusUnauthorized, ReasonNoIDToken, errors.New("token response has no id_token"))
	}
	idt, err := l.verifier.Verify(ctx, raw)
	if err != nil {
		// An outage of the key set is not a forgery. go-oidc keeps the
		// fetch error only as text ("failed to verify signature: fetching
		// keys ..."), hence the match.
		if strings.Contains(err.Error(), "fetching keys") {
			return l.fail(w, http.StatusBadGateway, ReasonIssuerUnavailable, fmt.Errorf("verify ID token: %w", err))
		}
		return l.fail(w, http.StatusUnauthorized, ReasonBadIDToken, fmt.Errorf("verify ID token: %w", err))
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return l.fail(w, http.StatusUnauthorized, ReasonBadIDToken, fmt.Errorf("ID token claims: %w", err))
	}
	// OIDC Core 3.1.3.7: with several audiences, azp names the client the
	// token was issued to.
	if azp, _ := claims["azp"].(string); (len(idt.Audience) > 1 || azp != "") && azp != l.oauth.ClientID {
		return l.fail(w, http.StatusUnauthorized, ReasonBadIDToken, fmt.Errorf("ID token azp %.100q is not the client", azp))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return l.fail(w, http.StatusUnauthorized, ReasonNonceMismatch, errors.New("ID token nonce does not match the login cookie"))
	}
	if idt.Subject == "" {
		return l.fail(w, http.StatusUnauthorized, ReasonBadIDToken, errors.New("ID token has no sub"))
	}

	s := l.newSession(idt.Subject, claims, l.now())
	v, err := l.seal(l.sessionAAD, s)
	if err == nil && len(l.cookieName)+1+len(v) > maxSessionCookie {
		// Keep the roles and sub (authorization needs them), drop the rest.
		s.Claims = nil
		if v, err = l.seal(l.sessionAAD, s); err == nil && len(l.cookieName)+1+len(v) > maxSessionCookie {
			err = fmt.Errorf("session cookie of %d bytes with %d roles is over %d", len(v), len(s.Roles), maxSessionCookie)
		}
	}
	if err != nil {
		return l.fail(w, http.StatusInternalServerError, ReasonSessionTooLarge, err)
	}
	http.SetCookie(w, cookie(l.cookieName, v, int(l.ttl/time.Second)))
	w.Header().Set("Location", localPath(st.Next))
	w.WriteHeader(http.StatusFound)
	return nil
}

// Logout clears the session cookie and redirects (303) to the issuer's
// end_session_endpoint with client_id when discovery listed one (ending the
// issuer's session too, else the next login would be silent), or to "/".
// No id_token_hint is sent: the ID token is not kept, so the cookie stays
// small. Logout accepts any method; a caller that wants logout to need a
// POST (against cross-site logout links) routes only POST to it.
func (l *Login) Logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	http.SetCookie(w, cookie(l.cookieName, "", -1))
	loc := "/"
	if l.endSession != "" {
		loc = l.endSession
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}

// loginCookie returns the login in progress.
func (l *Login) loginCookie(r *http.Request) (*loginState, string, error) {
	cs := r.CookiesNamed(LoginCookieName)
	if len(cs) == 0 {
		return nil, ReasonNoLoginCookie, errors.New("no login cookie")
	}
	for i, c := range cs {
		if i == maxSameName {
			break
		}
		var st loginState
		if !l.open(l.loginAAD, c.Value, &st) || st.Issuer != l.name {
			continue
		}
		if l.now().Unix() >= st.Expires {
			return nil, ReasonLoginExpired, fmt.Errorf("login cookie expired at %s", time.Unix(st.Expires, 0).UTC().Format(time.RFC3339))
		}
		return &st, "", nil
	}
	return nil, ReasonBadLoginCookie, errors.New("login cookie does not open (forged, tampered, another key or issuer)")
}

func (l *Login) fail(w http.ResponseWriter, status int, reason string, err error) error {
	code := "login_failed"
	switch status {
	case http.StatusBadRequest:
		code = "bad_request"
	case http.StatusMethodNotAllowed:
		code = "method_not_allowed"
	case http.StatusBadGateway:
		code = "issuer_unavailable"
	case http.StatusInternalServerError:
		code = "internal_error"
	}
	writeError(w, status, code)
	return &Error{Reason: reason, Status: status, Err: err}
}

// cookie is a session or login cookie: maxAge < 0 deletes it. The
// attributes are those the __Host- prefix demands, and are the same when
// deleting (browsers refuse to overwrite a __Host- cookie otherwise).
func cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// writeError writes the short JSON error the gateway uses, with the
// gateway's request id when it set one.
func writeError(w http.ResponseWriter, status int, code string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	body := `{"error":"` + code + `"`
	if id := h.Get("X-Request-Id"); safeID(id) {
		body += `,"request_id":"` + id + `"`
	}
	w.WriteHeader(status)
	w.Write([]byte(body + "}\n"))
}

func safeID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// single is the value of a parameter given exactly once, else "".
func single(q url.Values, k string) string {
	if v := q[k]; len(v) == 1 {
		return v[0]
	}
	return ""
}

// navigation reports whether r is a browser navigating to a page, the only
// request a redirect to a login page helps.
func navigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if m := r.Header.Get("Sec-Fetch-Mode"); m != "" && m != "navigate" {
		return false
	}
	if strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		return false
	}
	return acceptsHTML(r.Header.Values("Accept"))
}

// acceptsHTML reports whether an Accept header names text/html with a
// non-zero q. Wildcards do not count: curl and fetch send */*.
func acceptsHTML(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "text/html" {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// requestPath is the path and query the login returns to.
func requestPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		p += "?" + r.URL.RawQuery
	}
	return p
}

// maxNext bounds the path kept in the login cookie.
const maxNext = 2 << 10

// localPath returns s if it is a path on this host, else "/". Refused: an
// absolute URL, a scheme-relative "//host", backslashes and control or
// space characters (browsers read "/\host" and "/\t/host" as "//host"),
// and anything over 2 KiB.
func localPath(s string) string {
	if len(s) > maxNext || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return "/"
	}
	if slices.ContainsFunc([]byte(s), func(c byte) bool { return c <= ' ' || c >= 0x7f || c == '\\' }) {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return s
}
