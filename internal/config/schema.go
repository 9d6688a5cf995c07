// Package config defines Rampart's configuration schema and loads it strictly:
// unknown keys are errors, every problem is reported at once with its file, line
// and key path, and secrets come from ${ENV} references that are never logged.
//
// The yaml tags below are the contract with users; docs/config.md documents them.
// Defaults are applied by Load after decoding (see defaults.go).
package config

import "path/filepath"

// Config is the whole configuration file.
type Config struct {
	// DataDir holds generated state such as the development CA.
	DataDir string  `yaml:"data_dir"`
	Gateway Gateway `yaml:"gateway"`
	Log     Log     `yaml:"log"`
	// Issuers are the token issuers routes may trust.
	Issuers []Issuer `yaml:"issuers"`
	// APIKeys configures the API keys routes with auth.api_keys accept.
	APIKeys APIKeys `yaml:"api_keys"`
	// Login configures browser login (OIDC) for routes with auth.login.
	Login Login `yaml:"login"`
	// RateLimits says where rate-limit counters live.
	RateLimits RateLimits `yaml:"rate_limits"`
	// ResponseCache says where routes' cached responses live.
	ResponseCache ResponseCache `yaml:"response_cache"`
	// Token configures `rampart token serve`, the OAuth2/OIDC token service.
	Token TokenService `yaml:"token"`
	// Transit serves the keyrings' encrypt/decrypt API on the gateway.
	Transit Transit `yaml:"transit"`
	// Identity is this process's workload identity (a SPIFFE certificate
	// from `rampart ca serve`), used for mTLS to upstreams.
	Identity  Identity             `yaml:"identity"`
	Upstreams map[string]*Upstream `yaml:"upstreams"`
	Routes    []Route              `yaml:"routes"`

	// Source records where each key was found, for error messages that happen
	// after loading (for example when a route is compiled).
	Source *Source `yaml:"-"`
}

// Gateway configures the edge listener.
type Gateway struct {
	Listen string `yaml:"listen"`
	TLS    TLS    `yaml:"tls"`
	// Admin is the address of the admin listener (/healthz, /readyz, /metrics).
	Admin string `yaml:"admin"`
	// TrustedProxies are CIDRs or IPs whose X-Forwarded-* headers are believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	Limits         Limits   `yaml:"limits"`
	// RedirectHTTP, when set, is an address that redirects plain HTTP to HTTPS.
	RedirectHTTP string `yaml:"redirect_http"`
	HSTS         HSTS   `yaml:"hsts"`
	// SecurityHeaders are set on every response; they override the defaults,
	// and an empty value removes a default header.
	SecurityHeaders map[string]string `yaml:"security_headers"`
	// ShutdownTimeout bounds how long in-flight requests may drain on SIGTERM.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// TokenCache bounds the verified-token cache.
	TokenCache TokenCache `yaml:"token_cache"`
}

// TokenCache bounds the cache of verified bearer tokens (see docs/auth.md).
type TokenCache struct {
	// Entries is how many tokens are kept; 0 turns the cache off (every
	// request verifies its token's signature).
	Entries int `yaml:"entries"`
	// Memory bounds the bytes of token kept.
	Memory Size `yaml:"memory"`
}

// TLS configures TLS termination at the edge.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
	// Disabled serves plaintext HTTP. Only for local benchmarks and for a
	// gateway behind another TLS terminator; it is loudly warned about.
	Disabled bool `yaml:"disabled"`
	// ClientCerts asks clients for certificates (mTLS at the edge).
	ClientCerts ClientCerts `yaml:"client_certs"`
}

// ClientCerts configures client certificates at the edge. Routes with
// auth.mtls accept the principal a verified certificate proves.
type ClientCerts struct {
	// Mode is "" (no client certificates), "optional" (verified when sent)
	// or "required" (the handshake fails without one).
	Mode string `yaml:"mode"`
	// CAFile holds the CAs that sign client certificates.
	CAFile string `yaml:"ca_file"`
}

// Login is browser login at the gateway: OpenID Connect authorization code
// with PKCE against one of the issuers, and an encrypted cookie session.
type Login struct {
	// Issuer names the issuers[] entry whose issuer URL is the OpenID provider.
	Issuer       string `yaml:"issuer"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// RedirectURL is the callback registered at the provider; the gateway
	// serves its path.
	RedirectURL string `yaml:"redirect_url"`
	// LogoutPath is the gateway path that ends the session.
	LogoutPath string   `yaml:"logout_path"`
	Scopes     []string `yaml:"scopes"`
	// CookieKey is the base64 of 32 random bytes that encrypt the session
	// cookie; it must come from ${ENV}.
	CookieKey  string   `yaml:"cookie_key"`
	SessionTTL Duration `yaml:"session_ttl"`
}

// RateLimits configures where routes' rate-limit counters live: in memory
// (one gateway) or in Redis (shared by every gateway).
type RateLimits struct {
	// Store is "memory" or "redis".
	Store string `yaml:"store"`
	// Redis is the server for store: redis.
	Redis RedisServer `yaml:"redis"`
	// OnRedisError is "deny" (503, fail closed) or "allow" (fail open) when
	// Redis cannot answer in time.
	OnRedisError string `yaml:"on_redis_error"`
	// MaxKeys bounds the memory store's counters.
	MaxKeys int `yaml:"max_keys"`
}

// RedisServer is how to reach a Redis server.
type RedisServer struct {
	Addr     string `yaml:"addr"`
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`
	// Timeout bounds one decision's round trip.
	Timeout Duration `yaml:"timeout"`
}

// APIKeys configures API keys for machine clients.
type APIKeys struct {
	// Store is the key file "rampart apikey" writes (hashes only);
	// default DATA_DIR/api-keys/keys.json.
	Store string `yaml:"store"`
	// Header is the request header that carries the key.
	Header string `yaml:"header"`
}

// HSTS configures the Strict-Transport-Security response header.
type HSTS struct {
	Enabled           bool     `yaml:"enabled"`
	MaxAge            Duration `yaml:"max_age"`
	IncludeSubdomains bool     `yaml:"include_subdomains"`
	Preload           bool     `yaml:"preload"`
}

// Limits bound what a client may send and how slowly.
type Limits struct {
	MaxBody           Size     `yaml:"max_body"`
	MaxHeader         Size     `yaml:"max_header"`
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading one whole request, body included.
	ReadTimeout  Duration `yaml:"read_timeout"`
	IdleTimeout  Duration `yaml:"idle_timeout"`
	WriteTimeout Duration `yaml:"write_timeout"`
	// MaxConnections caps concurrently open client connections.
	MaxConnections int `yaml:"max_connections"`
	// MaxInFlight caps requests being served at once (all connections and
	// HTTP/2 streams); past it the gateway sheds load with 503.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxConcurrentStreams caps HTTP/2 streams per connection.
	MaxConcurrentStreams int `yaml:"max_concurrent_streams"`
}

// Log configures Rampart's own logs.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Access is where the JSON access log goes: "stdout" (default), "stderr",
	// "off", or a file path.
	Access string `yaml:"access"`
}

// Upstream is a pool of targets that routes forward to.
type Upstream struct {
	// Targets are base URLs (http:// or https://) without path.
	Targets []string `yaml:"targets"`
	// Balance is round_robin (default) or least_requests.
	Balance        string         `yaml:"balance"`
	Health         Health         `yaml:"health"`
	Passive        Passive        `yaml:"passive"`
	CircuitBreaker CircuitBreaker `yaml:"circuit_breaker"`
	// Timeout bounds a whole proxied request including retries (until the
	// response headers arrive; streaming bodies are not cut).
	Timeout Duration `yaml:"timeout"`
	// TryTimeout bounds one attempt until response headers arrive.
	TryTimeout     Duration `yaml:"try_timeout"`
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// Retries is how many extra attempts an idempotent request may get.
	Retries   int         `yaml:"retries"`
	TLS       UpstreamTLS `yaml:"tls"`
	KeepAlive KeepAlive   `yaml:"keepalive"`
	// MTLS makes the gateway present its workload identity and accept only
	// an upstream proving SPIFFEID.
	MTLS UpstreamMTLS `yaml:"mtls"`
}

// UpstreamMTLS is workload mTLS to an upstream.
type UpstreamMTLS struct {
	SPIFFEID string `yaml:"spiffe_id"`
}

// ResponseCache is the store of routes' cached responses: in memory (one
// gateway) or in Redis (shared by every gateway).
type ResponseCache struct {
	// Store is "memory" or "redis".
	Store string      `yaml:"store"`
	Redis RedisServer `yaml:"redis"`
	// MaxEntries and MaxMemory bound the memory store.
	MaxEntries int  `yaml:"max_entries"`
	MaxMemory  Size `yaml:"max_memory"`
}

// Validate is a route's request validation. Each part is off unless set.
type Validate struct {
	// OpenAPI is the path of an OpenAPI 3.0 document; the operation is
	// found by method and canonical path.
	OpenAPI string `yaml:"openapi"`
	// RejectUnknownFields refuses body fields the schema does not declare.
	RejectUnknownFields bool `yaml:"reject_unknown_fields"`
	// ContentTypes are the media types a request body may have.
	ContentTypes []string   `yaml:"content_types"`
	JSON         JSONLimits `yaml:"json"`
	WAF          WAF        `yaml:"waf"`
}

// JSONLimits bound JSON request bodies; 0 takes the default.
type JSONLimits struct {
	MaxDepth     int  `yaml:"max_depth"`
	MaxKeys      int  `yaml:"max_keys"`
	MaxString    Size `yaml:"max_string"`
	MaxNumberLen int  `yaml:"max_number_len"`
	MaxArray     int  `yaml:"max_array"`
}

// WAF runs the OWASP Core Rule Set on a route; Paranoia 0 means off.
type WAF struct {
	Paranoia         int   `yaml:"paranoia"`
	AnomalyThreshold int   `yaml:"anomaly_threshold"`
	DetectionOnly    bool  `yaml:"detection_only"`
	ExcludeRules     []int `yaml:"exclude_rules"`
	BodyLimit        Size  `yaml:"body_limit"`
	MaxArgs          int   `yaml:"max_args"`
}

// Cache is a route's response cache policy; TTL 0 means none.
type Cache struct {
	TTL Duration `yaml:"ttl"`
	// Scope is "private" (keyed by the principal) or "public" (one answer
	// for every caller, stored only when the upstream allows sharing).
	Scope string `yaml:"scope"`
	// Vary are request headers whose values select a variant.
	Vary []string `yaml:"vary"`
	// MaxBody is the largest response body stored.
	MaxBody Size `yaml:"max_body"`
}

// TokenService is the token service's listener, store and token lifetimes.
type TokenService struct {
	// Listen is the https address of the token service.
	Listen string `yaml:"listen"`
	// Issuer is the exact issuer URL ("iss"): https://host[:port].
	Issuer string `yaml:"issuer"`
	// Name is the name gateways give this issuer in their issuers section.
	Name string `yaml:"name"`
	// Cert and Key are the TLS certificate; without them a development
	// certificate from the local CA.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// Store is a SQLite file path or a postgres:// URL (default
	// DATA_DIR/token/token.db).
	Store string `yaml:"store"`
	// KEKFile holds the key-encryption key when $RAMPART_TOKEN_KEK is empty.
	KEKFile         string   `yaml:"kek_file"`
	SigningAlg      string   `yaml:"signing_alg"`
	AccessTokenTTL  Duration `yaml:"access_token_ttl"`
	IDTokenTTL      Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`
	RefreshGrace    Duration `yaml:"refresh_grace"`
}

// Transit mounts the transit encryption API (internal/keys/transit) on
// the gateway listener at /v1/transit/.
type Transit struct {
	// Issuers are the issuers whose bearer tokens the API accepts.
	Issuers []string `yaml:"issuers"`
	// Dir holds the keyrings (default DATA_DIR/keys).
	Dir string `yaml:"dir"`
	// KEKFile holds the key-encryption key when $RAMPART_KEYS_KEK is empty.
	KEKFile string `yaml:"kek_file"`
	// MaxBatch bounds the items of one batch.
	MaxBatch int `yaml:"max_batch"`
}

// Identity is a workload identity from Rampart's CA.
type Identity struct {
	// TrustDomain is the CA's trust domain, e.g. "rampart.local".
	TrustDomain string `yaml:"trust_domain"`
	// CA is the base URL of `rampart ca serve`.
	CA string `yaml:"ca"`
	// BundleFile holds the CA's root certificates (PEM), which authenticate it.
	BundleFile string `yaml:"bundle_file"`
	// JoinToken is the one-time token (`rampart ca token`) for the first
	// certificate; written as ${NAME}.
	JoinToken string `yaml:"join_token"`
	// CertFile and KeyFile keep the certificate across restarts (default:
	// DATA_DIR/identity/svid.pem and svid-key.pem).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Health configures active health checks.
type Health struct {
	Path               string   `yaml:"path"`
	Interval           Duration `yaml:"interval"`
	Timeout            Duration `yaml:"timeout"`
	HealthyThreshold   int      `yaml:"healthy_threshold"`
	UnhealthyThreshold int      `yaml:"unhealthy_threshold"`
}

// Passive configures ejection of a target after consecutive failures.
type Passive struct {
	ConsecutiveFailures int      `yaml:"consecutive_failures"`
	EjectFor            Duration `yaml:"eject_for"`
}

// CircuitBreaker fails fast when the whole pool is failing or saturated.
type CircuitBreaker struct {
	ConsecutiveFailures int      `yaml:"consecutive_failures"`
	OpenFor             Duration `yaml:"open_for"`
	// MaxRequests caps in-flight requests to the pool (0: no cap).
	MaxRequests int `yaml:"max_requests"`
}

// UpstreamTLS configures TLS to https:// targets.
type UpstreamTLS struct {
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
}

// KeepAlive tunes the connection pool to the upstream.
type KeepAlive struct {
	MaxIdlePerHost int      `yaml:"max_idle_per_host"`
	IdleTimeout    Duration `yaml:"idle_timeout"`
}

// Route maps matching requests to an upstream under a policy.
type Route struct {
	Name     string `yaml:"name"`
	Match    Match  `yaml:"match"`
	Upstream string `yaml:"upstream"`
	Auth     Auth   `yaml:"auth"`
	// Allow is a CEL expression over principal and request that must be
	// true for the request to pass (after auth's scopes and roles).
	Allow string `yaml:"allow"`
	// WebSocket allows Upgrade: websocket on this route.
	WebSocket bool `yaml:"websocket"`
	// RateLimit limits how often one caller may use the route.
	RateLimit RateLimit `yaml:"rate_limit"`
	// Mask hides named fields of JSON responses from callers that lack a scope.
	Mask Mask `yaml:"mask"`
	// Cache serves repeated GET/HEAD requests from stored responses.
	Cache Cache `yaml:"cache"`
	// Validate checks request content: media types, JSON shape, an OpenAPI
	// spec and the WAF.
	Validate Validate `yaml:"validate"`
}

// Mask hides personal data in a route's JSON responses: the values of the
// named fields, at any depth, are masked unless the principal holds one of
// UnlessScopes. No fields means no masking.
type Mask struct {
	Fields       []string `yaml:"fields"`
	UnlessScopes []string `yaml:"unless_scopes"`
	// Style is "full" (the default) or "last_four".
	Style string `yaml:"style"`
	// MaxBody bounds the response the gateway buffers to mask it; a larger
	// (or non-JSON, or compressed) response is refused with 502.
	MaxBody Size `yaml:"max_body"`
}

// RateLimit is a route's rate limit (GCRA). Rate "" means none.
type RateLimit struct {
	// Key says who is counted: "client_ip", "principal" (the verified
	// identity, after authentication), "header:NAME" or "expr" (Expr).
	Key string `yaml:"key"`
	// Expr is a CEL expression of type string computing the key, with
	// key: expr.
	Expr string `yaml:"expr"`
	// Rate is requests per period: "100/m", "10/s", "5000/h", "1000/d".
	Rate string `yaml:"rate"`
	// Burst is how many requests may come at once (default: the rate's count).
	Burst int `yaml:"burst"`
}

// Match selects requests by host, path template and methods.
type Match struct {
	// Host is an exact host name or "*.example.com"; empty matches any host.
	Host string `yaml:"host"`
	// Path is an exact path, a template with {param} segments, or a prefix
	// ending in "/*".
	Path    string   `yaml:"path"`
	Methods []string `yaml:"methods"`
	// AllowSemicolon lets paths on this route contain ';' (matrix parameters).
	AllowSemicolon bool `yaml:"allow_semicolon"`
}

// Auth is a route's authentication requirement: the scalar "none" (a public
// route) or a mapping (Rule). A route without auth is an error.
type Auth struct {
	// Set is true when the key was present in the file.
	Set bool `yaml:"-"`
	// None is true for `auth: none` (a public route).
	None bool `yaml:"-"`
	// Rule is the mapping form; nil for "none".
	Rule *AuthRule `yaml:"-"`
}

// AuthRule is the mapping form of a route's auth.
type AuthRule struct {
	// Issuers names the issuers whose bearer tokens the route accepts.
	Issuers []string `yaml:"issuers"`
	// Scopes must all have been granted.
	Scopes []string `yaml:"scopes"`
	// Roles: the principal must hold at least one.
	Roles []string `yaml:"roles"`
	// MTLS accepts a verified client certificate (gateway.tls.client_certs).
	MTLS bool `yaml:"mtls"`
	// APIKeys accepts an API key (api_keys).
	APIKeys bool `yaml:"api_keys"`
	// Login accepts a browser session and sends browsers without one to the
	// login provider (login).
	Login bool `yaml:"login"`
	// ForwardToken sends the client's Authorization header to the upstream
	// as well as the gateway's identity token (off by default).
	ForwardToken bool `yaml:"forward_token"`
}

// Issuer is a trusted issuer of JWT access tokens.
type Issuer struct {
	Name   string `yaml:"name"`
	Issuer string `yaml:"issuer"`
	// JWKSURI or JWKSFile (exactly one) hold the issuer's public keys.
	JWKSURI  string `yaml:"jwks_uri"`
	JWKSFile string `yaml:"jwks_file"`
	// CAFile verifies jwks_uri's TLS certificate instead of the system roots.
	CAFile     string   `yaml:"ca_file"`
	Audiences  []string `yaml:"audiences"`
	Algorithms []string `yaml:"algorithms"`
	// HMACSecret is the HS256 key; only with algorithms: [HS256].
	HMACSecret  string   `yaml:"hmac_secret"`
	Leeway      Duration `yaml:"leeway"`
	RolesClaim  string   `yaml:"roles_claim"`
	ScopesClaim string   `yaml:"scopes_claim"`
	// TokenType "at+jwt" requires RFC 9068 access tokens.
	TokenType          string   `yaml:"token_type"`
	RefreshInterval    Duration `yaml:"refresh_interval"`
	MinRefetchInterval Duration `yaml:"min_refetch_interval"`
	MaxTokenSize       Size     `yaml:"max_token_size"`
	// Introspection checks opaque (non-JWT) tokens with the issuer (RFC 7662).
	Introspection Introspection `yaml:"introspection"`
	// Revocations is the issuer's revocation feed (rampart token's
	// /revocations), polled so that revoked tokens stop passing at once.
	Revocations RevocationFeed `yaml:"revocations"`
}

// RevocationFeed is where the gateway polls an issuer's revocations.
type RevocationFeed struct {
	Endpoint     string   `yaml:"endpoint"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret string   `yaml:"client_secret"`
	Interval     Duration `yaml:"interval"`
}

// Introspection is an issuer's RFC 7662 token introspection endpoint.
type Introspection struct {
	Endpoint     string `yaml:"endpoint"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// CacheTTL bounds how long an answer is reused (never past the token's exp).
	CacheTTL Duration `yaml:"cache_ttl"`
}

// StorePath is the API key store's file: Store, or DATA_DIR/api-keys/keys.json.
func (a APIKeys) StorePath(dataDir string) string {
	if a.Store != "" {
		return a.Store
	}
	return filepath.Join(dataDir, "api-keys", "keys.json")
}
