package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/rampart-sec/rampart/internal/authz"
	"github.com/rampart-sec/rampart/internal/ratelimit"
)

// supportedAlgorithms are the JWS algorithms an issuer may allow. Nothing
// else is ever accepted: no "none", no RSA PKCS#1 v1.5 beyond RS256, no
// HS384/512 (one symmetric option is enough and it is discouraged).
var supportedAlgorithms = []string{"EdDSA", "ES256", "ES384", "RS256", "PS256", "HS256"}

// minHMACSecret is the shortest HS256 secret accepted: 256 bits.
const minHMACSecret = 32

func (v *validator) issuers(iss []Issuer) map[string]int {
	names := make(map[string]int, len(iss))
	for i := range iss {
		is := &iss[i]
		p := fmt.Sprintf("issuers[%d]", i)
		switch {
		case is.Name == "":
			v.errorf(p+".name", "is required")
		case !upstreamName(is.Name):
			v.errorf(p+".name", "%s is not a valid issuer name (1 to 63 letters, digits, '_' and '-')", v.q(p+".name", is.Name))
		default:
			if first, dup := names[is.Name]; dup {
				v.errorf(p+".name", "duplicate issuer name (also issuers[%d])", first)
			} else {
				names[is.Name] = i
			}
		}

		if is.Issuer == "" {
			v.errorf(p+".issuer", `is required: the exact "iss" value of the issuer's tokens`)
		} else if hasControl(is.Issuer) {
			v.errorf(p+".issuer", "must not contain control characters")
		}

		symmetric := len(is.Algorithms) == 1 && is.Algorithms[0] == "HS256"
		introspects := is.Introspection.Endpoint != ""
		switch {
		case symmetric && (is.JWKSURI != "" || is.JWKSFile != ""):
			v.errorf(p+".algorithms", "an HS256 issuer verifies with hmac_secret only; remove jwks_uri and jwks_file (a key set must never be used as an HMAC secret)")
		case symmetric:
		case is.JWKSURI == "" && is.JWKSFile == "" && introspects && len(is.Algorithms) > 0:
			v.errorf(p+".algorithms", "applies to JWTs verified with jwks_uri or jwks_file; an issuer with only introspection has none")
		case is.JWKSURI == "" && is.JWKSFile == "" && introspects:
		case is.JWKSURI == "" && is.JWKSFile == "":
			v.errorf(p, "one of jwks_uri, jwks_file and introspection.endpoint is required")
		case is.JWKSURI != "" && is.JWKSFile != "":
			v.errorf(p+".jwks_file", "set jwks_uri or jwks_file, not both")
		case is.JWKSURI != "":
			v.httpsURL(p+".jwks_uri", is.JWKSURI, "keys fetched over plain HTTP can be replaced in transit")
		default:
			v.readable(p+".jwks_file", is.JWKSFile)
		}
		v.introspection(p+".introspection", &is.Introspection)
		v.revocationFeed(p+".revocations", is)
		if is.CAFile != "" {
			if !strings.HasPrefix(is.JWKSURI, "https://") && !strings.HasPrefix(is.Introspection.Endpoint, "https://") && !strings.HasPrefix(is.Issuer, "https://") {
				v.errorf(p+".ca_file", "only applies to an https jwks_uri, introspection endpoint or issuer URL (login)")
			} else {
				v.readable(p+".ca_file", is.CAFile)
			}
		}

		if len(is.Audiences) == 0 {
			v.errorf(p+".audiences", `at least one audience is required: tokens minted for another service must not be accepted here`)
		}
		for j, a := range is.Audiences {
			if a == "" || hasControl(a) {
				v.errorf(fmt.Sprintf("%s.audiences[%d]", p, j), "must be a non-empty string without control characters")
			}
		}
		if is.JWKSURI != "" || is.JWKSFile != "" || is.HMACSecret != "" || !introspects {
			v.algorithms(p, is)
		}

		if is.RolesClaim != "" && !claimPath(is.RolesClaim) {
			v.errorf(p+".roles_claim", "%s is not a claim path (names joined by '.', as in \"realm_access.roles\")", v.q(p+".roles_claim", is.RolesClaim))
		}
		if is.ScopesClaim != "" && !claimPath(is.ScopesClaim) {
			v.errorf(p+".scopes_claim", "%s is not a claim path (names joined by '.', as in \"scp\")", v.q(p+".scopes_claim", is.ScopesClaim))
		}
		if is.TokenType != "" && is.TokenType != "at+jwt" {
			v.errorf(p+".token_type", `%s: the only supported value is "at+jwt" (RFC 9068)`, v.q(p+".token_type", is.TokenType))
		}
		if is.Leeway < 0 || is.Leeway.Std() > 5*60e9 {
			v.errorf(p+".leeway", "must be between 0s and 5m")
		}
		if is.RefreshInterval.Std() < 60e9 {
			v.errorf(p+".refresh_interval", "must be at least 1m")
		}
		if is.MinRefetchInterval.Std() < 1e9 {
			v.errorf(p+".min_refetch_interval", "must be at least 1s (it bounds how often forged key ids can make us call the issuer)")
		}
		if is.MaxTokenSize < 512 || is.MaxTokenSize > 64<<10 {
			v.errorf(p+".max_token_size", "must be between 512B and 64KiB")
		}
	}
	return names
}

func (v *validator) algorithms(p string, is *Issuer) {
	if len(is.Algorithms) == 0 {
		v.errorf(p+".algorithms", "at least one algorithm is required (%s)", strings.Join(supportedAlgorithms, ", "))
	}
	hs, asym := false, false
	seen := map[string]bool{}
	for j, a := range is.Algorithms {
		ap := fmt.Sprintf("%s.algorithms[%d]", p, j)
		switch {
		case !contains(supportedAlgorithms, a):
			msg := fmt.Sprintf("%s is not a supported algorithm (%s)", v.q(ap, a), strings.Join(supportedAlgorithms, ", "))
			if s := suggest(a, supportedAlgorithms); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			v.errorf(ap, "%s", msg)
		case seen[a]:
			v.errorf(ap, "duplicate algorithm")
		case a == "HS256":
			hs = true
		default:
			asym = true
		}
		seen[a] = true
	}
	switch {
	case hs && asym:
		// One issuer mixing a shared secret with public keys is how algorithm
		// confusion attacks start; use two issuers if both are really needed.
		v.errorf(p+".algorithms", "HS256 cannot be combined with public-key algorithms in one issuer")
	case hs && is.HMACSecret == "":
		v.errorf(p+".hmac_secret", "is required with HS256 (write it as ${NAME} so it stays out of the file)")
	case hs && len(is.HMACSecret) < minHMACSecret:
		v.errorf(p+".hmac_secret", "is too short: HS256 needs at least %d bytes", minHMACSecret)
	case !hs && is.HMACSecret != "":
		v.errorf(p+".hmac_secret", "only applies with algorithms: [HS256]")
	}
}

// introspection checks an issuer's RFC 7662 endpoint settings.
func (v *validator) introspection(p string, in *Introspection) {
	if in.Endpoint == "" {
		if in.ClientID != "" || in.ClientSecret != "" || v.has(p+".cache_ttl") {
			v.errorf(p+".endpoint", "is required with the other introspection keys")
		}
		return
	}
	v.httpsURL(p+".endpoint", in.Endpoint, "tokens and the client secret would cross the network in clear")
	if in.ClientID == "" {
		v.errorf(p+".client_id", "is required: the gateway authenticates to the endpoint")
	}
	switch {
	case in.ClientSecret == "":
		v.errorf(p+".client_secret", "is required (write it as ${NAME} so it stays out of the file)")
	case !v.expanded(p + ".client_secret"):
		v.errorf(p+".client_secret", "must come from the environment: write it as ${NAME}")
	}
	if in.CacheTTL < 1e9 || in.CacheTTL.Std() > 3600e9 {
		v.errorf(p+".cache_ttl", "must be between 1s and 1h")
	}
}

// revocationFeed checks an issuer's revocation feed.
func (v *validator) revocationFeed(p string, is *Issuer) {
	rf := &is.Revocations
	if rf.Endpoint == "" {
		if rf.ClientID != "" || rf.ClientSecret != "" || v.has(p+".interval") {
			v.errorf(p+".endpoint", "is required with the other revocations keys")
		}
		return
	}
	if is.JWKSURI == "" && is.JWKSFile == "" && is.HMACSecret == "" {
		v.errorf(p, "applies to JWT issuers (jwks_uri, jwks_file): introspection already sees revocations")
	}
	v.httpsURL(p+".endpoint", rf.Endpoint, "the client secret would cross the network in clear")
	if rf.ClientID == "" {
		v.errorf(p+".client_id", "is required: the gateway authenticates to the feed")
	}
	switch {
	case rf.ClientSecret == "":
		v.errorf(p+".client_secret", "is required (write it as ${NAME} so it stays out of the file)")
	case !v.expanded(p + ".client_secret"):
		v.errorf(p+".client_secret", "must come from the environment: write it as ${NAME}")
	}
	if v.has(p+".interval") && (rf.Interval < 1e8 || rf.Interval.Std() > 600e9) {
		v.errorf(p+".interval", "must be between 100ms and 10m")
	}
}

// login checks browser login: an issuer to log in with, the client, the
// callback and a session key that only the environment holds.
func (v *validator) login(l *Login, names map[string]int, iss []Issuer) {
	if l.Issuer == "" {
		if l.ClientID != "" || l.RedirectURL != "" || l.CookieKey != "" || l.ClientSecret != "" || len(l.Scopes) > 0 {
			v.errorf("login.issuer", "is required with the other login keys: the issuers[] name of the OpenID provider")
		}
		return
	}
	if i, ok := names[l.Issuer]; !ok {
		msg := fmt.Sprintf("%s is not defined in issuers", v.q("login.issuer", l.Issuer))
		if s := suggest(l.Issuer, sortedKeys(names)); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		v.errorf("login.issuer", "%s", msg)
	} else if !strings.HasPrefix(iss[i].Issuer, "https://") && !loopbackHTTP(iss[i].Issuer) {
		v.errorf("login.issuer", "issuer %s: its issuer URL must be https (OpenID discovery starts there)", l.Issuer)
	}
	if l.ClientID == "" {
		v.errorf("login.client_id", "is required: the gateway's client id at the provider")
	}
	if l.ClientSecret != "" && !v.expanded("login.client_secret") {
		v.errorf("login.client_secret", "must come from the environment: write it as ${NAME}")
	}
	callback := ""
	if u, err := url.Parse(l.RedirectURL); l.RedirectURL == "" || err != nil || u.Host == "" || u.Path == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopbackHTTP(l.RedirectURL))) {
		v.errorf("login.redirect_url", "must be the absolute https URL of the callback registered at the provider (http only on a loopback host), with a path")
	} else {
		callback = u.Path
	}
	if !strings.HasPrefix(l.LogoutPath, "/") || l.LogoutPath == callback {
		v.errorf("login.logout_path", "must be a path starting with / and differ from the callback path")
	}
	switch {
	case l.CookieKey == "":
		v.errorf("login.cookie_key", "is required: base64 of 32 random bytes, written as ${NAME} (e.g. openssl rand -base64 32)")
	case !v.expanded("login.cookie_key"):
		v.errorf("login.cookie_key", "must come from the environment: write it as ${NAME}")
	default:
		if _, err := DecodeKey32(l.CookieKey); err != nil {
			v.errorf("login.cookie_key", "%v", err)
		}
	}
	if l.SessionTTL < 60e9 || l.SessionTTL.Std() > 7*24*3600e9 {
		v.errorf("login.session_ttl", "must be between 1m and 168h")
	}
	for i, sc := range l.Scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\"\\") || hasControl(sc) {
			v.errorf(fmt.Sprintf("login.scopes[%d]", i), "must be a non-empty scope token")
		}
	}
}

// DecodeKey32 decodes a 32-byte key written in base64 (standard or URL
// alphabet, padded or not). The message never shows the value.
func DecodeKey32(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("decodes to %d bytes; 32 are required", len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("is not base64")
}

// loopbackHTTP reports whether s is an http URL to a loopback host.
func loopbackHTTP(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
}

// rateLimits checks where rate-limit counters live.
func (v *validator) rateLimits(rl *RateLimits) {
	switch rl.Store {
	case "memory":
		if rl.Redis.Addr != "" {
			v.errorf("rate_limits.redis.addr", `only applies with store: redis`)
		}
	case "redis":
		if rl.Redis.Addr == "" {
			v.errorf("rate_limits.redis.addr", "is required with store: redis (host:port)")
		} else if _, _, err := net.SplitHostPort(rl.Redis.Addr); err != nil {
			v.errorf("rate_limits.redis.addr", "%s is not host:port", v.q("rate_limits.redis.addr", rl.Redis.Addr))
		}
	default:
		v.errorf("rate_limits.store", `must be "memory" or "redis", got %s`, v.q("rate_limits.store", rl.Store))
	}
	if rl.Redis.Password != "" && !v.expanded("rate_limits.redis.password") {
		v.errorf("rate_limits.redis.password", "must come from the environment: write it as ${NAME}")
	}
	if rl.Redis.DB < 0 || rl.Redis.DB > 15 {
		v.errorf("rate_limits.redis.db", "must be between 0 and 15")
	}
	if rl.Redis.Timeout != 0 && (rl.Redis.Timeout < 1e6 || rl.Redis.Timeout.Std() > 5e9) {
		v.errorf("rate_limits.redis.timeout", "must be between 1ms and 5s (it bounds how long a request waits for a decision)")
	}
	if rl.OnRedisError != "deny" && rl.OnRedisError != "allow" {
		v.errorf("rate_limits.on_redis_error", `must be "deny" (answer 503) or "allow" (let requests through), got %s`, v.q("rate_limits.on_redis_error", rl.OnRedisError))
	}
	if rl.MaxKeys < 1000 || rl.MaxKeys > 10_000_000 {
		v.errorf("rate_limits.max_keys", "must be between 1000 and 10000000")
	}
}

// routeRateLimit checks a route's rate limit.
func (v *validator) routeRateLimit(p string, r *Route) {
	rl := r.RateLimit
	if rl.Rate == "" {
		if rl.Burst != 0 || v.has(p+".rate_limit.key") {
			v.errorf(p+".rate_limit.rate", `is required in a rate_limit ("100/m", "10/s")`)
		}
		return
	}
	if rate, period, err := ratelimit.ParseRate(rl.Rate); err != nil {
		v.errorf(p+".rate_limit.rate", "%v", err)
	} else if rl.Burst >= 0 {
		burst := rl.Burst
		if burst == 0 {
			burst = rate
		}
		if err := (ratelimit.Limit{Rate: rate, Period: period, Burst: burst}).Validate(); err != nil {
			v.errorf(p+".rate_limit", "%v", err)
		}
	}
	switch {
	case rl.Key == "client_ip", rl.Key == "":
	case rl.Key == "principal":
		if !r.Auth.Set || r.Auth.None {
			v.errorf(p+".rate_limit.key", "principal needs a protected route (auth is none here): use client_ip")
		}
	case strings.HasPrefix(rl.Key, "header:") && validHeaderToken(strings.TrimPrefix(rl.Key, "header:")):
	case rl.Key == "expr":
		k, err := authz.CompileKey(rl.Expr)
		switch {
		case rl.Expr == "":
			v.errorf(p+".rate_limit.expr", "is required with key: expr (a CEL expression of type string)")
		case err != nil:
			v.errorf(p+".rate_limit.expr", "%v", err)
		case k.NeedsPrincipal() && (!r.Auth.Set || r.Auth.None):
			v.errorf(p+".rate_limit.expr", "reads principal, which needs a protected route (auth is none here)")
		}
	default:
		v.errorf(p+".rate_limit.key", `must be "client_ip", "principal", "header:NAME" or "expr", got %s`, v.q(p+".rate_limit.key", rl.Key))
	}
	if rl.Expr != "" && rl.Key != "expr" {
		v.errorf(p+".rate_limit.expr", "only applies with key: expr")
	}
	if rl.Burst < 0 || rl.Burst > 1_000_000 {
		v.errorf(p+".rate_limit.burst", "must be between 1 and 1000000 (0: the rate's count)")
	}
}

// routeMask checks a route's response masking.
func (v *validator) routeMask(p string, r *Route) {
	m := r.Mask
	if len(m.Fields) == 0 {
		if len(m.UnlessScopes) > 0 || v.has(p+".mask.style") || v.has(p+".mask.max_body") {
			v.errorf(p+".mask.fields", "is required in a mask (the JSON field names to hide)")
		}
		return
	}
	seen := make(map[string]bool, len(m.Fields))
	for i, f := range m.Fields {
		key := fmt.Sprintf("%s.mask.fields[%d]", p, i)
		switch lf := strings.ToLower(f); {
		case f == "" || len(f) > 128:
			v.errorf(key, "must be a JSON field name of 1 to 128 characters")
		case seen[lf]:
			v.errorf(key, "%s is listed twice (names match case-insensitively)", v.q(key, f))
		default:
			seen[lf] = true
		}
	}
	if len(m.UnlessScopes) > 0 && (!r.Auth.Set || r.Auth.None) {
		v.errorf(p+".mask.unless_scopes", "needs a protected route (auth is none here, so no caller has a scope)")
	}
	if m.Style != "full" && m.Style != "last_four" {
		v.errorf(p+".mask.style", `must be "full" or "last_four", got %s`, v.q(p+".mask.style", m.Style))
	}
	if m.MaxBody < 1 || m.MaxBody > 64<<20 {
		v.errorf(p+".mask.max_body", "must be between 1B and 64MiB")
	}
}

// apiKeys checks the API key settings.
func (v *validator) apiKeys(a *APIKeys) {
	h := a.Header
	switch {
	case !validHeaderToken(h):
		v.errorf("api_keys.header", "%s is not a header name", v.q("api_keys.header", h))
	case strings.EqualFold(h, "Authorization"), strings.EqualFold(h, "Cookie"), strings.EqualFold(h, "Host"),
		len(h) >= 10 && strings.EqualFold(h[:10], "X-Rampart-"), len(h) >= 10 && strings.EqualFold(h[:10], "X-Forwarde"):
		v.errorf("api_keys.header", "%s is reserved: use a header of its own, such as X-API-Key", v.q("api_keys.header", h))
	}
}

// validHeaderToken: an RFC 9110 token of at most 64 bytes.
func validHeaderToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// httpsURL: https, or http only to a loopback address (a local issuer or a
// test); why says what plain HTTP would risk.
func (v *validator) httpsURL(path, s, why string) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		v.errorf(path, "%s is not an http(s) URL", v.q(path, s))
		return
	}
	if u.User != nil {
		v.errorf(path, "must not contain user info (credentials in URLs end up in logs)")
		return
	}
	if u.Scheme == "http" {
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			v.errorf(path, "%s must use https (%s); http is allowed only to a loopback address", v.q(path, s), why)
		}
	}
}

// claimPath: names joined by '.', each letters, digits, '_', '-', ':' or '/'
// (URL-like claim names such as "https://example.com/roles" are not paths).
func claimPath(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == ':') {
				return false
			}
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// routeAuth checks a route's auth and allow against the defined issuers.
func (v *validator) routeAuth(p string, r *Route, issuers map[string]int, issuerNames []string) {
	if !r.Auth.Set {
		v.errorf(p+".auth", `auth is required (fail closed); use "auth: none" for a public route`)
		return
	}
	if r.Allow != "" && hasControl(strings.NewReplacer("\n", "", "\t", "").Replace(r.Allow)) {
		v.errorf(p+".allow", "must not contain control characters")
	}
	rule := r.Auth.Rule
	if rule == nil {
		return
	}
	ap := p + ".auth"
	if rule.MTLS && !v.clientCerts {
		v.errorf(ap+".mtls", "needs gateway.tls.client_certs (mode and ca_file)")
	}
	if rule.Login && !v.hasLogin {
		v.errorf(ap+".login", "needs the login section (an OpenID provider to send browsers to)")
	}
	if len(rule.Issuers) == 0 && !rule.MTLS && !rule.APIKeys && !rule.Login {
		v.errorf(ap, "says nothing to accept: set issuers, mtls: true, api_keys: true or login: true (a protected route must say which credentials it accepts)")
	}
	if rule.ForwardToken && len(rule.Issuers) == 0 {
		v.errorf(ap+".forward_token", "only applies with issuers")
	}
	for j, name := range rule.Issuers {
		ip := fmt.Sprintf("%s.issuers[%d]", ap, j)
		if _, ok := issuers[name]; !ok {
			msg := fmt.Sprintf("%s is not defined in issuers", v.q(ip, name))
			if s := suggest(name, issuerNames); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			v.errorf(ip, "%s", msg)
		}
	}
	for j, s := range rule.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\"\\") || hasControl(s) {
			v.errorf(fmt.Sprintf("%s.scopes[%d]", ap, j), "must be a non-empty scope token (no spaces, quotes or backslashes)")
		}
	}
	for j, s := range rule.Roles {
		if s == "" || hasControl(s) {
			v.errorf(fmt.Sprintf("%s.roles[%d]", ap, j), "must be a non-empty string without control characters")
		}
	}
}
