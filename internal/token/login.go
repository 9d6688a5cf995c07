package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/token/store"
)

// authRequest is a validated authorization request.
type authRequest struct {
	client                   store.Client
	redirectURI, state       string
	scope                    []string
	nonce                    string
	challenge, challengeMeth string
}

// authParams are the parameters an authorization request carries, and
// the hidden fields of the login form that repeats it.
var authParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge", "code_challenge_method"}

// authError is a refused authorization request: redirect is false when the
// client or redirect_uri could not be trusted, and the user sees a page
// instead of being sent anywhere.
type authError struct {
	redirect bool
	code     string
	desc     string
}

// parseAuthRequest validates an authorization request (RFC 6749 4.1.1,
// RFC 7636, OAuth 2.1): the redirect_uri must equal a registered one byte
// for byte, PKCE must be S256, and public clients must use it.
func (s *Server) parseAuthRequest(r *http.Request, q url.Values) (authRequest, *authError) {
	for _, k := range authParams {
		if len(q[k]) > 1 {
			return authRequest{}, &authError{desc: "A parameter was given more than once."}
		}
	}
	c, err := s.activeClient(r.Context(), q.Get("client_id"))
	if err != nil {
		return authRequest{}, &authError{desc: "The application is not registered."}
	}
	ar := authRequest{client: c, redirectURI: q.Get("redirect_uri"), state: q.Get("state"), nonce: q.Get("nonce"),
		challenge: q.Get("code_challenge"), challengeMeth: q.Get("code_challenge_method")}
	// Exact string comparison: no case folding, no trailing-slash, path,
	// or query leniency (each has been an open redirect elsewhere).
	if ar.redirectURI == "" || !slices.Contains(c.RedirectURIs, ar.redirectURI) {
		return authRequest{}, &authError{desc: "The application's return address is not registered."}
	}
	fail := func(code, desc string) (authRequest, *authError) {
		return ar, &authError{redirect: true, code: code, desc: desc}
	}
	if q.Has("request") {
		return fail("request_not_supported", "request objects are not supported")
	}
	if q.Has("request_uri") {
		return fail("request_uri_not_supported", "request_uri is not supported")
	}
	if q.Get("response_type") != "code" {
		return fail("unsupported_response_type", "only response_type=code is supported")
	}
	if !slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		return fail("unauthorized_client", "the client may not use the authorization code grant")
	}
	// A user consents to what the request names: no scope is no default.
	scope, ok := grantedScopes(q.Get("scope"), c.Scopes)
	if q.Get("scope") == "" || !ok || len(scope) == 0 {
		return fail("invalid_scope", "a requested scope is not allowed for this client")
	}
	ar.scope = scope
	switch {
	case ar.challenge == "" && ar.challengeMeth != "":
		return fail("invalid_request", "code_challenge_method without code_challenge")
	case ar.challenge == "" && c.Public:
		return fail("invalid_request", "PKCE (code_challenge with S256) is required")
	case ar.challenge != "" && ar.challengeMeth != "S256":
		// An absent method means plain (RFC 7636 4.3): refused like plain.
		return fail("invalid_request", "code_challenge_method must be S256")
	case ar.challenge != "" && !validChallenge(ar.challenge):
		return fail("invalid_request", "malformed code_challenge")
	}
	if len(ar.state) > 512 || len(ar.nonce) > 512 {
		return fail("invalid_request", "state or nonce too long")
	}
	return ar, nil
}

// validChallenge accepts a base64url SHA-256 digest (43 characters).
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, ar authRequest, e *authError) {
	if !e.redirect {
		s.emit(r, event.Event{Type: GrantRefused, Severity: event.Medium, ClientIP: clientIP(r), Principal: ar.client.ID, Reason: "authorize_untrusted_redirect", Route: r.URL.Path})
		s.renderMessage(w, http.StatusBadRequest, "Sign-in request refused", e.desc)
		return
	}
	s.emit(r, event.Event{Type: GrantRefused, Severity: event.Low, ClientIP: clientIP(r), Principal: ar.client.ID, Reason: e.code, Detail: e.desc, Route: r.URL.Path})
	v := url.Values{"error": {e.code}, "error_description": {e.desc}, "iss": {s.cfg.Issuer}}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	http.Redirect(w, r, withQuery(ar.redirectURI, v), http.StatusSeeOther)
}

func withQuery(base string, v url.Values) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + v.Encode()
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ar, e := s.parseAuthRequest(r, q)
	if e != nil {
		s.redirectError(w, r, ar, e)
		return
	}
	s.renderLogin(w, r, ar, q, http.StatusOK, "")
}

const csrfCookie = "rampart_csrf"

func (s *Server) csrfField(cookie string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, ar authRequest, q url.Values, status int, msg string) {
	cookie := randomToken(32)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: cookie, Path: "/login", HttpOnly: true,
		Secure: strings.HasPrefix(s.cfg.Issuer, "https://"), SameSite: http.SameSiteLaxMode})
	var hidden []field
	for _, k := range authParams {
		if v := q.Get(k); v != "" {
			hidden = append(hidden, field{k, v})
		}
	}
	name := ar.client.Name
	if name == "" {
		name = ar.client.ID
	}
	s.render(w, status, loginPage, map[string]any{"Client": name, "Scopes": ar.scope, "Hidden": hidden, "CSRF": s.csrfField(cookie), "Error": msg})
}

type field struct{ Name, Value string }

// login checks the CSRF token and the credentials, then issues the code.
// Submitting the form is the consent to the scopes it lists.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderMessage(w, http.StatusBadRequest, "Sign-in request refused", "The form could not be read.")
		return
	}
	f := r.PostForm
	ck, err := r.Cookie(csrfCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(s.csrfField(ck.Value)), []byte(f.Get("csrf"))) != 1 {
		s.emit(r, event.Event{Type: GrantRefused, Severity: event.Medium, ClientIP: clientIP(r), Reason: "csrf", Route: r.URL.Path})
		s.renderMessage(w, http.StatusForbidden, "Sign-in request refused", "The form expired or did not come from this site. Go back to the application and try again.")
		return
	}
	ar, e := s.parseAuthRequest(r, f)
	if e != nil {
		s.redirectError(w, r, ar, e)
		return
	}
	username, password := f.Get("username"), f.Get("password")
	ip, now := clientIP(r), s.now()
	if ok, which := s.logins.allowed(username, ip, now); !ok {
		s.emit(r, event.Event{Type: LoginThrottled, Severity: event.High, ClientIP: ip, Principal: username, Reason: which, Route: r.URL.Path})
		s.renderLogin(w, r, ar, f, http.StatusTooManyRequests, "Too many failed attempts. Try again later.")
		return
	}
	u, err := s.store.GetUser(r.Context(), username)
	if err != nil {
		// Hash anyway: an unknown username takes as long as a wrong password.
		u.PasswordHash = s.dummyHash
	}
	if err != nil || u.Username != username || len(password) > 1024 || !store.VerifySecret(u.PasswordHash, password) || !u.Disabled.IsZero() {
		reason := "wrong_credentials"
		if err == nil && !u.Disabled.IsZero() {
			reason = "user_disabled"
		}
		s.logins.failed(username, ip, now)
		s.emit(r, event.Event{Type: LoginFailed, Severity: event.Medium, ClientIP: ip, Principal: username, Reason: reason, Route: r.URL.Path})
		s.renderLogin(w, r, ar, f, http.StatusUnauthorized, "Wrong username or password.")
		return
	}
	s.logins.succeeded(username)
	code := randomToken(32)
	err = s.store.CreateAuthCode(r.Context(), store.AuthCode{Hash: store.TokenHash(code), ClientID: ar.client.ID, Subject: u.ID,
		RedirectURI: ar.redirectURI, Scope: strings.Join(ar.scope, " "), Nonce: ar.nonce, Challenge: ar.challenge,
		ChallengeMethod: ar.challengeMeth, AuthTime: now, Family: randomToken(16), Expires: now.Add(s.cfg.AuthCodeLifetime)})
	if err != nil {
		s.log.Error("store authorization code", "client_id", ar.client.ID, "err", err)
		s.renderMessage(w, http.StatusInternalServerError, "Sign-in failed", "Please try again.")
		return
	}
	v := url.Values{"code": {code}, "iss": {s.cfg.Issuer}}
	if ar.state != "" {
		v.Set("state", ar.state)
	}
	http.Redirect(w, r, withQuery(ar.redirectURI, v), http.StatusSeeOther)
}

const css = `body{font-family:system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem;color:#111}
label{display:block;margin-top:1rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem}.error{color:#a00}`

func (s *Server) stylesheet(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write([]byte(css))
}

var (
	loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in</title><link rel="stylesheet" href="/login.css"></head>
<body><main>
<h1>Sign in</h1>
<p><strong>{{.Client}}</strong> asks to:</p>
<ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in and allow</button>
</form></main></body></html>
`))
	messagePage = template.Must(template.New("message").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title><link rel="stylesheet" href="/login.css"></head>
<body><main><h1>{{.Title}}</h1><p>{{.Text}}</p></main></body></html>
`))
)

func (s *Server) renderMessage(w http.ResponseWriter, status int, title, text string) {
	s.render(w, status, messagePage, map[string]string{"Title": title, "Text": text})
}

// render writes an HTML page with headers that forbid everything the
// pages do not need: no scripts, no framing, no referrer, no caching.
func (s *Server) render(w http.ResponseWriter, status int, t *template.Template, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if strings.HasPrefix(s.cfg.Issuer, "https://") {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	w.WriteHeader(status)
	if err := t.Execute(w, data); err != nil {
		s.log.Error("render page", "err", err)
	}
}
