// Package oidclogin is browser login at the gateway: the OpenID Connect
// authorization code flow with PKCE (S256) against one configured issuer,
// ending in an encrypted session cookie that Session turns back into a
// principal on every request.
//
// A Login is built once per configured issuer with New, which fetches the
// issuer's discovery document, and is then safe for concurrent use. The
// gateway wires it roughly so:
//
//	switch {
//	case r.URL.Path == l.CallbackPath():
//		if err := l.Callback(w, r); err != nil {
//			var e *oidclogin.Error
//			errors.As(err, &e) // e.Reason for the security event, err for the log
//		}
//	case r.URL.Path == "/.rampart/logout":
//		l.Logout(w, r)
//	default:
//		if p := l.Session(r); p != nil {
//			// serve as p
//		} else {
//			l.Start(w, r) // 302 to the issuer for browsers, 401 for APIs
//		}
//	}
//
// Nothing is kept on the gateway: the login in progress (state, nonce, PKCE
// verifier, where to return) lives in a 10-minute encrypted cookie
// (LoginCookieName), and the session in another (Config.CookieName). Both
// are AES-256-GCM with a random nonce per cookie and the cookie's name in
// the associated data, so neither can be presented as the other, and both
// carry their expiry inside the authenticated payload.
//
// Sessions are stateless: Logout clears the cookie in the browser that asks,
// but a copy of the cookie taken earlier stays valid until the session
// expires (SessionTTL after login, absolute). Changing CookieKey ends every
// session and every login in progress.
package oidclogin

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Defaults and fixed names.
const (
	DefaultCookieName = "__Host-rampart-session"
	// LoginCookieName holds the login in progress between Start and Callback.
	LoginCookieName   = "__Host-rampart-login"
	DefaultSessionTTL = 8 * time.Hour
	DefaultRolesClaim = "roles"

	loginTTL = 10 * time.Minute
	// maxResponse caps what the issuer may send (discovery, token, JWKS).
	maxResponse = 1 << 20
)

// Config configures browser login against one issuer.
type Config struct {
	// Name is the configured issuer name; it becomes Principal.Issuer.
	Name string
	// IssuerURL is the OIDC issuer, exactly as it appears in its ID tokens;
	// discovery is at IssuerURL/.well-known/openid-configuration. https, or
	// http for loopback hosts only.
	IssuerURL    string
	ClientID     string
	ClientSecret string // empty: a public client (PKCE only)
	// RedirectURL is the absolute URL of the callback, registered at the
	// issuer, e.g. https://gw.example.com/.rampart/login/callback. https, or
	// http for loopback hosts only.
	RedirectURL string
	// Scopes requested; "openid" is always included (default: just openid).
	Scopes []string
	// CookieKey is the 32-byte AES-256-GCM key that encrypts and
	// authenticates the session and login cookies.
	CookieKey []byte
	// CookieName is the session cookie's name, default DefaultCookieName.
	// Whatever the name, the cookie is Secure, HttpOnly, SameSite=Lax,
	// Path=/ and has no Domain.
	CookieName string
	// SessionTTL is how long a session lives from login (absolute, not
	// sliding, not tied to the ID token's exp); default 8h.
	SessionTTL time.Duration
	// RolesClaim is the claim path of the roles in the ID token (names
	// joined by '.', as in "realm_access.roles"); default "roles".
	RolesClaim string
	// HTTPClient fetches discovery, tokens and keys. nil: a client with
	// timeouts, TLS 1.2+, no proxy and no redirects. Either way responses
	// larger than 1 MiB are refused.
	HTTPClient *http.Client

	now func() time.Time // tests
}

// Login runs browser login against one issuer. It is safe for concurrent use.
type Login struct {
	name         string
	issuer       string // the issuer URL, as in its ID tokens
	oauth        oauth2.Config
	verifier     *oidc.IDTokenVerifier
	client       *http.Client
	aead         cipher.AEAD
	sessionAAD   []byte
	loginAAD     []byte
	cookieName   string
	ttl          time.Duration
	rolesClaim   string
	callbackPath string
	endSession   string // "" when the issuer has no end_session_endpoint
	now          func() time.Time
}

// New checks c and fetches the issuer's discovery document. A config error
// or a failed discovery is an error naming the issuer; discovery failures
// (the issuer unreachable, a 5xx) are worth retrying later, config errors
// are not. The returned Login fetches the issuer's keys on first use.
func New(ctx context.Context, c Config) (*Login, error) {
	l, err := c.provision()
	if err != nil {
		return nil, fmt.Errorf("oidclogin: issuer %q: %w", c.Name, err)
	}
	if err := l.discover(ctx, c); err != nil {
		return nil, fmt.Errorf("oidclogin: issuer %q (%s): %w", c.Name, c.IssuerURL, err)
	}
	return l, nil
}

// CallbackPath is the path of RedirectURL, where Callback must be served.
func (l *Login) CallbackPath() string { return l.callbackPath }

// provision checks the configuration and builds everything that needs no
// network.
func (c Config) provision() (*Login, error) {
	if c.Name == "" {
		return nil, errors.New("name is empty")
	}
	iss, err := secureURL(c.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("issuer URL: %w", err)
	}
	if iss.RawQuery != "" || iss.ForceQuery {
		return nil, errors.New("issuer URL: has a query")
	}
	if c.ClientID == "" {
		return nil, errors.New("client id is empty")
	}
	redirect, err := secureURL(c.RedirectURL)
	if err != nil {
		return nil, fmt.Errorf("redirect URL: %w", err)
	}
	if !strings.HasPrefix(redirect.Path, "/") {
		return nil, errors.New("redirect URL: has no path")
	}
	if len(c.CookieKey) != 32 {
		return nil, fmt.Errorf("cookie key: %d bytes, want 32", len(c.CookieKey))
	}
	block, err := aes.NewCipher(c.CookieKey)
	if err != nil {
		return nil, fmt.Errorf("cookie key: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("cookie key: %w", err)
	}
	name := c.CookieName
	if name == "" {
		name = DefaultCookieName
	}
	if err := (&http.Cookie{Name: name, Value: "x"}).Valid(); err != nil {
		return nil, fmt.Errorf("cookie name %q: %w", name, err)
	}
	if name == LoginCookieName {
		return nil, fmt.Errorf("cookie name %q is the login cookie's", name)
	}
	ttl := c.SessionTTL
	if ttl == 0 {
		ttl = DefaultSessionTTL
	}
	if ttl < time.Minute {
		return nil, fmt.Errorf("session TTL %s is under a minute", ttl)
	}
	roles := c.RolesClaim
	if roles == "" {
		roles = DefaultRolesClaim
	}
	if slices.Contains(strings.Split(roles, "."), "") {
		return nil, fmt.Errorf("roles claim %q is not a claim path (names joined by '.')", roles)
	}
	scopes := []string{oidc.ScopeOpenID}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r >= 0x7f }) {
			return nil, fmt.Errorf("scope %q is not a scope token", s)
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	now := c.now
	if now == nil {
		now = time.Now
	}
	return &Login{
		name:   c.Name,
		client: httpClient(c.HTTPClient),
		oauth: oauth2.Config{
			ClientID:     c.ClientID,
			ClientSecret: c.ClientSecret,
			RedirectURL:  c.RedirectURL,
			Scopes:       scopes,
		},
		aead:         aead,
		sessionAAD:   aad(name),
		loginAAD:     aad(LoginCookieName),
		cookieName:   name,
		ttl:          ttl,
		rolesClaim:   roles,
		callbackPath: redirect.Path,
		now:          now,
	}, nil
}

// discover fetches the discovery document and refuses an issuer whose
// endpoints are not https, or that says it cannot do PKCE with S256.
func (l *Login) discover(ctx context.Context, c Config) error {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, l.client), c.IssuerURL)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	var meta struct {
		Authorize   string   `json:"authorization_endpoint"`
		Token       string   `json:"token_endpoint"`
		JWKS        string   `json:"jwks_uri"`
		EndSession  string   `json:"end_session_endpoint"`
		PKCE        []string `json:"code_challenge_methods_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	for _, e := range []struct{ key, v string }{
		{"authorization_endpoint", meta.Authorize},
		{"token_endpoint", meta.Token},
		{"jwks_uri", meta.JWKS},
	} {
		if _, err := secureURL(e.v); err != nil {
			return fmt.Errorf("discovery: %s: %w", e.key, err)
		}
	}
	// An issuer that lists its PKCE methods without S256 would drop the
	// challenge; one that lists none is trusted to honour it.
	if len(meta.PKCE) > 0 && !slices.Contains(meta.PKCE, "S256") {
		return fmt.Errorf("discovery: code_challenge_methods_supported %q lacks S256", meta.PKCE)
	}
	if meta.EndSession != "" {
		u, err := secureURL(meta.EndSession)
		if err != nil {
			return fmt.Errorf("discovery: end_session_endpoint: %w", err)
		}
		q := u.Query()
		q.Set("client_id", c.ClientID)
		u.RawQuery = q.Encode()
		l.endSession = u.String()
	}
	style, err := authStyle(c.ClientSecret, meta.AuthMethods)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	l.issuer = c.IssuerURL
	l.oauth.Endpoint = p.Endpoint()
	l.oauth.Endpoint.AuthStyle = style
	l.verifier = p.Verifier(&oidc.Config{ClientID: c.ClientID, Now: l.now})
	return nil
}

// authStyle picks how the client authenticates at the token endpoint,
// explicitly: oauth2's auto-detection would retry a refused exchange.
func authStyle(secret string, methods []string) (oauth2.AuthStyle, error) {
	switch {
	case secret == "":
		return oauth2.AuthStyleInParams, nil // client_id only
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader, nil
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams, nil
	}
	return 0, fmt.Errorf("token_endpoint_auth_methods_supported %q has neither client_secret_basic nor client_secret_post", methods)
}

// secureURL parses an absolute https URL, or http on a loopback host.
func secureURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%q is not an absolute URL", raw)
	}
	if u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%q has user info or a fragment", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return nil, fmt.Errorf("%q: http is only for loopback hosts", raw)
		}
	default:
		return nil, fmt.Errorf("%q: scheme is not https", raw)
	}
	return u, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// httpClient returns c (or the default client) with response bodies capped.
func httpClient(c *http.Client) *http.Client {
	if c == nil {
		d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
		c = &http.Client{
			Timeout: 15 * time.Second,
			Transport: &http.Transport{
				Proxy:                 nil,
				DialContext:           d.DialContext,
				TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
				TLSHandshakeTimeout:   5 * time.Second,
				ResponseHeaderTimeout: 10 * time.Second,
				IdleConnTimeout:       90 * time.Second,
				MaxIdleConnsPerHost:   4,
				ForceAttemptHTTP2:     true,
			},
			// A redirect would send the token request, code and client
			// secret included, somewhere the configuration never named.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	} else {
		cp := *c
		c = &cp
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = capTransport{base}
	return c
}

// capTransport caps response bodies: go-oidc reads discovery and key sets
// with io.ReadAll.
type capTransport struct{ base http.RoundTripper }

func (t capTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &capBody{rc: resp.Body, left: maxResponse}
	return resp, nil
}

var errResponseTooLarge = errors.New("oidclogin: issuer response larger than 1 MiB")

type capBody struct {
	rc   io.ReadCloser
	left int64
	err  error
}

func (b *capBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		b.err = err
		return n, err
	}
	n = int(b.left)
	b.left = 0
	b.err = errResponseTooLarge
	return n, b.err
}

func (b *capBody) Close() error { return b.rc.Close() }
