// Package token is Rampart's OAuth 2.1 / OpenID Connect authorization
// server: client_credentials, authorization_code with PKCE (S256 only) and
// rotating refresh tokens; RFC 9068 JWT access tokens signed with rotating
// keys published at the JWKS endpoint; introspection (RFC 7662),
// revocation (RFC 7009), userinfo, end-session, and a revocation feed for
// gateways. State lives in internal/token/store.
package token

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/requestid"
	"github.com/rampart-sec/rampart/internal/token/store"
)

// Event types the token service emits.
const (
	ClientAuthFailed event.Type = "token_client_auth_failed" // wrong secret, bad assertion, unknown or revoked client
	LoginFailed      event.Type = "token_login_failed"       // wrong password, unknown or disabled user
	LoginThrottled   event.Type = "token_login_throttled"    // too many failed logins for an account or an address
	RefreshReused    event.Type = "token_refresh_reused"     // a rotated refresh token came back: its family is revoked
	CodeReused       event.Type = "token_code_reused"        // an authorization code came back: its tokens are revoked
	GrantRefused     event.Type = "token_grant_refused"      // PKCE, redirect_uri, scope or grant checks refused a request
	TokenRevoked     event.Type = "token_revoked"            // tokens revoked on request
)

// Config is the token service's configuration. Zero durations take the
// defaults below.
type Config struct {
	// Issuer is the exact issuer URL ("iss"), without a trailing slash.
	Issuer string
	// IssuerName is the name gateways configure for this issuer; it is the
	// Issuer of published revocations ("" matches every issuer).
	IssuerName string
	// SigningAlg is EdDSA (default) or ES256, for keys created from now on.
	SigningAlg string
	// AccessTokenLifetime defaults to 5m, IDTokenLifetime to 5m,
	// RefreshTokenLifetime to 720h, AuthCodeLifetime to 1m.
	AccessTokenLifetime  time.Duration
	IDTokenLifetime      time.Duration
	RefreshTokenLifetime time.Duration
	AuthCodeLifetime     time.Duration
	// RefreshGrace is how long after a rotation the old refresh token
	// still returns the same new pair (concurrent refreshes of one client),
	// instead of counting as reuse (default 10s; negative: none).
	RefreshGrace time.Duration
	// ReloadInterval is how often keys and revocations written by other
	// processes (the CLI, other instances) are read from the store (default 10s).
	ReloadInterval time.Duration
	// SecretCacheTTL bounds how long a verified client secret is
	// remembered (default 5m); SecretCacheEntries bounds how many (default 10000).
	SecretCacheTTL     time.Duration
	SecretCacheEntries int
	// ClientCacheTTL is how long a client's registration is reused
	// without reading the store (default 1s; negative: not cached).
	ClientCacheTTL time.Duration
	// LoginMaxFailures failed logins per account within LoginWindow lock
	// the account for the rest of the window (default 5 in 15m);
	// LoginMaxFailuresPerIP does the same per client address (default 50).
	LoginMaxFailures      int
	LoginMaxFailuresPerIP int
	LoginWindow           time.Duration
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.AccessTokenLifetime, 5*time.Minute)
	def(&c.IDTokenLifetime, 5*time.Minute)
	def(&c.RefreshTokenLifetime, 720*time.Hour)
	def(&c.AuthCodeLifetime, time.Minute)
	def(&c.RefreshGrace, 10*time.Second)
	def(&c.ReloadInterval, 10*time.Second)
	def(&c.SecretCacheTTL, 5*time.Minute)
	def(&c.LoginWindow, 15*time.Minute)
	def(&c.ClientCacheTTL, time.Second)
	if c.RefreshGrace < 0 {
		c.RefreshGrace = 0
	}
	if c.SigningAlg == "" {
		c.SigningAlg = "EdDSA"
	}
	if c.SecretCacheEntries == 0 {
		c.SecretCacheEntries = 10000
	}
	if c.LoginMaxFailures == 0 {
		c.LoginMaxFailures = 5
	}
	if c.LoginMaxFailuresPerIP == 0 {
		c.LoginMaxFailuresPerIP = 50
	}
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "/") {
		return fmt.Errorf("token: issuer %q must be an absolute http(s) URL without query, fragment or trailing slash", c.Issuer)
	}
	if c.SigningAlg != "EdDSA" && c.SigningAlg != "ES256" {
		return fmt.Errorf("token: signing_alg %q: want EdDSA or ES256", c.SigningAlg)
	}
	for name, d := range map[string]time.Duration{"access_token_lifetime": c.AccessTokenLifetime, "id_token_lifetime": c.IDTokenLifetime,
		"refresh_token_lifetime": c.RefreshTokenLifetime, "auth_code_lifetime": c.AuthCodeLifetime, "reload_interval": c.ReloadInterval} {
		if d < 0 {
			return fmt.Errorf("token: %s must not be negative", name)
		}
	}
	return nil
}

// Options are the server's dependencies.
type Options struct {
	Store  store.Store
	Log    *slog.Logger
	Events event.Emitter
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// Server is the token service. Handler serves its endpoints.
type Server struct {
	cfg     Config
	store   store.Store
	log     *slog.Logger
	events  event.Emitter
	now     func() time.Time
	keys    *keyring
	secrets *secretCache
	// secretFailures limits argon2id work spent on wrong client secrets.
	secretFailures *throttle
	clients        *clientCache
	// verified caches access tokens whose signature was checked.
	verified *verifiedCache
	revs     *Revocations
	logins   *throttle
	mux      *http.ServeMux
	handler  http.Handler
	// csrfKey binds CSRF tokens to their cookie.
	csrfKey []byte
	// dummyHash is verified against when a username is unknown.
	dummyHash string

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type discardEvents struct{}

func (discardEvents) Emit(event.Event) {}

// New checks cfg, loads (or creates) the signing keys and the revocations
// in force, and starts reloading both from the store every ReloadInterval.
func New(ctx context.Context, cfg Config, o Options) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Store == nil {
		return nil, errors.New("token: no store")
	}
	s := &Server{cfg: cfg, store: o.Store, log: o.Log, events: o.Events, now: o.Now, csrfKey: make([]byte, 32)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.events == nil {
		s.events = discardEvents{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	rand.Read(s.csrfKey)
	s.dummyHash = store.HashSecret(randomToken(16))
	s.secrets = newSecretCache(cfg.SecretCacheEntries, cfg.SecretCacheTTL)
	s.verified = &verifiedCache{max: 10000}
	s.secretFailures = newThrottle(secretFailuresPerClient, secretFailuresPerIP, time.Minute, 10000)
	s.clients = &clientCache{ttl: cfg.ClientCacheTTL, max: 10000}
	s.logins = newThrottle(cfg.LoginMaxFailures, cfg.LoginMaxFailuresPerIP, cfg.LoginWindow, 10000)
	s.keys = &keyring{}
	if err := EnsureKeys(ctx, s.store, cfg, s.now()); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	if err := s.reloadKeys(ctx); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	s.revs = newRevocations(s.store, cfg.IssuerName, s.now)
	s.revs.Subscribe(func(r authn.Revocation) {
		if r.ClientID != "" && r.TokenID == "" {
			s.clients.drop(r.ClientID)
		}
	})
	if err := s.revs.poll(ctx); err != nil {
		return nil, fmt.Errorf("token: load revocations: %w", err)
	}
	s.routes()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.wg.Go(func() { s.reloadLoop(runCtx) })
	return s, nil
}

// reloadLoop picks up keys rotated and revocations published by other
// processes, and purges expired rows hourly.
func (s *Server) reloadLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ReloadInterval)
	defer t.Stop()
	purge := time.NewTicker(time.Hour)
	defer purge.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-purge.C:
			if n, err := s.store.Purge(ctx, s.now()); err != nil {
				s.log.Error("purge expired tokens", "err", err)
			} else if n > 0 {
				s.log.Info("purged expired tokens", "rows", n)
			}
		case <-t.C:
			if err := s.reloadKeys(ctx); err != nil {
				s.log.Error("reload signing keys; keeping the loaded ones", "err", err)
			}
			if err := s.revs.poll(ctx); err != nil {
				s.log.Error("reload revocations", "err", err)
			}
		}
	}
}

// Revocations is the server's revocation publisher.
func (s *Server) Revocations() *Revocations { return s.revs }

// Handler serves the token service's endpoints.
func (s *Server) Handler() http.Handler { return s.handler }

type requestIDKey struct{}

// withRequestID gives every request an id, sent back as X-Request-Id and
// carried by its events and error answers. An id the client sends is not
// believed: the token service is an edge of its own.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := requestid.New()
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// emit sends e with the request's id and, unless set, its client address.
func (s *Server) emit(r *http.Request, e event.Event) {
	e.RequestID, _ = r.Context().Value(requestIDKey{}).(string)
	if e.ClientIP == "" {
		e.ClientIP = clientIP(r)
	}
	s.events.Emit(e)
}

// Close stops the reload loop. It does not close the store.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	m.HandleFunc("GET /.well-known/jwks.json", s.jwks)
	m.HandleFunc("POST /oauth2/token", s.token)
	m.HandleFunc("GET /oauth2/authorize", s.authorize)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /oauth2/introspect", s.introspect)
	m.HandleFunc("POST /oauth2/revoke", s.revoke)
	m.HandleFunc("GET /userinfo", s.userinfo)
	m.HandleFunc("POST /userinfo", s.userinfo)
	m.HandleFunc("GET /oauth2/logout", s.logout)
	m.HandleFunc("GET /revocations", s.revocationFeed)
	m.HandleFunc("GET /login.css", s.stylesheet)
	s.mux = m
	s.handler = withRequestID(m)
}

// maxLifetime is the longest a token this server signs stays valid: how
// long a retired key and a revocation must be kept.
func (c *Config) maxLifetime() time.Duration {
	return max(c.AccessTokenLifetime, c.IDTokenLifetime) + c.ReloadInterval
}

func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	iss := s.cfg.Issuer
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           iss + "/oauth2/authorize",
		"token_endpoint":                                   iss + "/oauth2/token",
		"introspection_endpoint":                           iss + "/oauth2/introspect",
		"revocation_endpoint":                              iss + "/oauth2/revoke",
		"userinfo_endpoint":                                iss + "/userinfo",
		"end_session_endpoint":                             iss + "/oauth2/logout",
		"jwks_uri":                                         iss + "/.well-known/jwks.json",
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"grant_types_supported":                            []string{"authorization_code", "client_credentials", "refresh_token"},
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            []string{"EdDSA", "ES256"},
		"token_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"token_endpoint_auth_signing_alg_values_supported": assertionAlgs,
		"introspection_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"revocation_endpoint_auth_methods_supported":       []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"code_challenge_methods_supported":                 []string{"S256"},
		"scopes_supported":                                 []string{"openid", "profile", "offline_access"},
		"claims_supported":                                 []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "preferred_username", "roles"},
		"authorization_response_iss_parameter_supported":   true,
		"request_parameter_supported":                      false,
		"request_uri_parameter_supported":                  false,
	})
}
