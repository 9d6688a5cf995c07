package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
)

// validator collects every problem of a decoded, defaulted configuration.
type validator struct {
	src *Source
	// raw and bad come from the decoder (see decoder).
	raw  map[string]string
	bad  map[string]bool
	errs Errors
	// clientCerts is true when the edge asks for client certificates, which
	// routes with auth.mtls need.
	clientCerts bool
	// hasLogin is true when browser login is configured (auth.login needs it).
	hasLogin bool
	// tokenOnly is true for a file that configures the token service and no
	// gateway routes.
	tokenOnly bool
}

// errorf records a problem at path, unless decoding already refused the
// value there or above it (one mistake, one message).
func (v *validator) errorf(path, format string, args ...any) {
	for p := path; p != ""; p = parent(p) {
		if v.bad[p] {
			return
		}
	}
	v.errs = append(v.errs, v.src.Errorf(path, format, args...))
}

// q quotes the value at path as the file wrote it: for a value that came
// from ${NAME} that is the reference, never the (possibly secret) value.
func (v *validator) q(path, val string) string {
	if r, ok := v.raw[path]; ok {
		return strconv.Quote(r)
	}
	return strconv.Quote(val)
}

// expanded reports whether the value at path came from ${NAME} expansion.
func (v *validator) expanded(path string) bool {
	_, ok := v.raw[path]
	return ok
}

// has reports whether the file wrote the key path.
func (v *validator) has(path string) bool {
	_, ok := v.src.Lines[path]
	return ok
}

func validate(cfg *Config, v *validator) {
	v.gateway(&cfg.Gateway)
	v.log(&cfg.Log)
	// A file for `rampart token serve` alone needs no gateway routes.
	v.tokenOnly = cfg.Token.Listen != "" && len(cfg.Upstreams) == 0 && len(cfg.Routes) == 0
	v.token(&cfg.Token)
	v.upstreams(cfg.Upstreams)
	v.apiKeys(&cfg.APIKeys)
	v.rateLimits(&cfg.RateLimits)
	v.identity(&cfg.Identity, cfg.Upstreams)
	v.clientCerts = cfg.Gateway.TLS.ClientCerts.Mode != ""
	issuers := v.issuers(cfg.Issuers)
	v.login(&cfg.Login, issuers, cfg.Issuers)
	v.transit(&cfg.Transit, cfg.Issuers)
	v.responseCache(&cfg.ResponseCache)
	v.hasLogin = cfg.Login.Issuer != ""
	v.routes(cfg.Routes, cfg.Upstreams, issuers)
}

func (v *validator) gateway(g *Gateway) {
	listen, lok := v.addr("gateway.listen", g.Listen)
	admin, aok := v.addr("gateway.admin", g.Admin)
	if lok && aok && sameListener(listen, admin) {
		v.errorf("gateway.admin", "must not be the same address as gateway.listen")
	}
	if g.RedirectHTTP != "" || v.has("gateway.redirect_http") {
		redirect, rok := v.addr("gateway.redirect_http", g.RedirectHTTP)
		if rok && ((lok && sameListener(redirect, listen)) || (aok && sameListener(redirect, admin))) {
			v.errorf("gateway.redirect_http", "must not be the same address as gateway.listen or gateway.admin")
		}
		if g.TLS.Disabled {
			v.errorf("gateway.redirect_http", "redirects to HTTPS, but gateway.tls.disabled is true")
		}
	}

	for i, p := range g.TrustedProxies {
		v.trustedProxy(fmt.Sprintf("gateway.trusted_proxies[%d]", i), p)
	}

	t := g.TLS
	switch {
	case t.Disabled && (t.Cert != "" || t.Key != ""):
		v.errorf("gateway.tls.disabled", "is true, but tls.cert or tls.key is set; remove one or the other")
	case t.Cert != "" && t.Key == "":
		v.errorf("gateway.tls.key", "is required when tls.cert is set")
	case t.Key != "" && t.Cert == "":
		v.errorf("gateway.tls.cert", "is required when tls.key is set")
	}
	if t.Cert != "" {
		v.readable("gateway.tls.cert", t.Cert)
	}
	if t.Key != "" {
		v.readable("gateway.tls.key", t.Key)
	}
	switch cc := t.ClientCerts; {
	case cc.Mode == "" && cc.CAFile != "":
		v.errorf("gateway.tls.client_certs.mode", `is required with ca_file: "optional" or "required"`)
	case cc.Mode == "":
	case cc.Mode != "optional" && cc.Mode != "required":
		v.errorf("gateway.tls.client_certs.mode", `must be "optional" or "required", got %s`, v.q("gateway.tls.client_certs.mode", cc.Mode))
	case t.Disabled:
		v.errorf("gateway.tls.client_certs", "needs TLS, but gateway.tls.disabled is true")
	case cc.CAFile == "":
		v.errorf("gateway.tls.client_certs.ca_file", "is required: the CAs that sign client certificates")
	default:
		v.readable("gateway.tls.client_certs.ca_file", cc.CAFile)
	}
	switch t.MinVersion {
	case "1.2", "1.3":
	case "1.0", "1.1":
		v.errorf("gateway.tls.min_version", `must be "1.2" or "1.3" (TLS 1.0 and 1.1 are deprecated by RFC 8996)`)
	default:
		v.errorf("gateway.tls.min_version", `must be "1.2" or "1.3", got %s`, v.q("gateway.tls.min_version", t.MinVersion))
	}

	if tc := g.TokenCache; tc.Entries < 0 || tc.Entries > 1_000_000 {
		v.errorf("gateway.token_cache.entries", "must be between 0 (no cache) and 1000000")
	}
	if tc := g.TokenCache; tc.Memory < 1<<20 || tc.Memory > 4<<30 {
		v.errorf("gateway.token_cache.memory", "must be between 1MiB and 4GiB")
	}
	l := g.Limits
	if l.MaxBody <= 0 {
		v.errorf("gateway.limits.max_body", "must be greater than 0")
	}
	if l.MaxHeader < 1<<10 || l.MaxHeader > 1<<20 {
		v.errorf("gateway.limits.max_header", "must be between 1KiB and 1MiB")
	}
	for _, d := range []struct {
		key string
		val Duration
	}{
		{"read_header_timeout", l.ReadHeaderTimeout},
		{"read_timeout", l.ReadTimeout},
		{"idle_timeout", l.IdleTimeout},
	} {
		if d.val <= 0 {
			v.errorf("gateway.limits."+d.key, "must be greater than 0 (an unbounded wait lets slow clients hold connections open)")
		}
	}
	if l.MaxInFlight < 1 || l.MaxInFlight > 1_000_000 {
		v.errorf("gateway.limits.max_in_flight", "must be between 1 and 1000000")
	}
	if l.MaxConnections < 1 {
		v.errorf("gateway.limits.max_connections", "must be at least 1")
	}
	if l.MaxConcurrentStreams < 1 || l.MaxConcurrentStreams > 1000 {
		v.errorf("gateway.limits.max_concurrent_streams", "must be between 1 and 1000")
	}

	names := sortedKeys(g.SecurityHeaders)
	for _, name := range names {
		v.securityHeader(joinKey("gateway.security_headers", name), name, g.SecurityHeaders[name])
	}
}

// addr checks a host:port listen address.
func (v *validator) addr(path, s string) (hostPort [2]string, ok bool) {
	if s == "" {
		v.errorf(path, `must not be empty (write host:port, as in ":8443" or "127.0.0.1:8443")`)
		return hostPort, false
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		v.errorf(path, `%s is not host:port (as in ":8443" or "127.0.0.1:8443")`, v.q(path, s))
		return hostPort, false
	}
	if !isPort(port, 0) {
		v.errorf(path, "%s has an invalid port (a number from 0 to 65535)", v.q(path, s))
		return hostPort, false
	}
	if host != "" && !validIP(host) && !validHostname(host) {
		v.errorf(path, "%s has an invalid host (an IP address or a host name)", v.q(path, s))
		return hostPort, false
	}
	return [2]string{host, port}, true
}

// isPort reports whether s is a decimal port number from lowest to 65535.
func isPort(s string, lowest int) bool {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	n, _ := strconv.Atoi(s)
	return n >= lowest && n <= 65535
}

// sameListener reports whether two host:port addresses would collide. Port 0
// picks a free port, so it never collides.
func sameListener(a, b [2]string) bool {
	if a[1] != b[1] || a[1] == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return a[0] == b[0] || wild(a[0]) || wild(b[0])
}

func (v *validator) trustedProxy(path, s string) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			v.errorf(path, "%s is not an IP address or CIDR (as in \"10.0.0.0/8\")", v.q(path, s))
			return
		}
		if p.Bits() == 0 {
			v.errorf(path, "%s trusts X-Forwarded-For from every address, so any client could choose its own IP; list your proxies' addresses", v.q(path, s))
			return
		}
		if p.Masked() != p {
			msg := fmt.Sprintf("%s has bits set past the prefix length", v.q(path, s))
			if !v.expanded(path) {
				msg += fmt.Sprintf(" (did you mean %q?)", p.Masked().String())
			}
			v.errorf(path, "%s", msg)
		}
		return
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		v.errorf(path, "%s is not an IP address or CIDR (as in \"10.0.0.0/8\")", v.q(path, s))
	}
}

// readable checks that a file the gateway will read exists and can be read
// now, so that a typo fails at load rather than at the first handshake.
// Relative names are relative to the working directory, as when the file is
// opened later. The message names the file as written and never includes
// the operating system's error text, which would repeat an expanded name.
func (v *validator) readable(path, name string) {
	fi, err := os.Stat(name)
	if err != nil {
		v.errorf(path, "file %s %s", v.q(path, name), fileProblem(err))
		return
	}
	if !fi.Mode().IsRegular() {
		v.errorf(path, "%s is not a regular file", v.q(path, name))
		return
	}
	f, err := os.Open(name)
	if err != nil {
		v.errorf(path, "file %s %s", v.q(path, name), fileProblem(err))
		return
	}
	f.Close()
}

func fileProblem(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist"
	case errors.Is(err, fs.ErrPermission):
		return "cannot be read (permission denied)"
	}
	return "cannot be read"
}

// framingHeaders must not be set on every response: they describe one
// message's framing or connection, and forcing them corrupts responses or
// enables response splitting between the gateway and its clients.
func framingHeader(name string) bool {
	switch strings.ToLower(name) {
	case "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
		"trailer", "te", "proxy-connection", "content-encoding", "content-type":
		return true
	}
	return false
}

func (v *validator) securityHeader(path, name, value string) {
	if !isToken(name) {
		v.errorf(path, "is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~)")
		return
	}
	if framingHeader(name) {
		v.errorf(path, "%s describes one message's framing and cannot be set on every response", name)
		return
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			v.errorf(path, "value must not contain control characters (CR, LF, NUL, ...)")
			return
		}
	}
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func isToken(s string) bool {
	if s == "" {
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

func (v *validator) log(l *Log) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		v.errorf("log.level", "must be debug, info, warn or error, got %s", v.q("log.level", l.Level))
	}
	switch {
	case l.Access == "":
		v.errorf("log.access", `must be "stdout", "stderr", "off" or a file path`)
	case hasControl(l.Access):
		v.errorf("log.access", "must not contain control characters")
	}
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func (v *validator) upstreams(ups map[string]*Upstream) {
	if len(ups) == 0 && v.tokenOnly {
		return
	}
	if len(ups) == 0 {
		v.errorf("upstreams", "at least one upstream is required")
		return
	}
	for _, name := range sortedKeys(ups) {
		v.upstream(joinKey("upstreams", name), name, ups[name])
	}
}

// upstreamName reports whether s is a valid upstream name:
// ^[a-z0-9][a-z0-9_-]{0,62}$. Names appear in metrics labels and logs.
func upstreamName(s string) bool { return validName(s, "_-") }

// routeName reports whether s is a valid route name: ^[a-z0-9][a-z0-9._-]{0,62}$.
func routeName(s string) bool { return validName(s, "._-") }

func validName(s, punct string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		lower := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !lower && (i == 0 || strings.IndexByte(punct, c) < 0) {
			return false
		}
	}
	return true
}

func (v *validator) upstream(p, name string, u *Upstream) {
	if !upstreamName(name) {
		v.errorf(p, "%q is not a valid upstream name (1 to 63 lowercase letters, digits, '_' and '-', starting with a letter or digit)", name)
	}
	if len(u.Targets) == 0 {
		v.errorf(p+".targets", "at least one target is required")
	}
	seen := make(map[string]int, len(u.Targets))
	https := false
	for i, t := range u.Targets {
		tp := fmt.Sprintf("%s.targets[%d]", p, i)
		key, scheme, ok := v.target(tp, t)
		if !ok {
			continue
		}
		https = https || scheme == "https"
		if first, dup := seen[key]; dup {
			v.errorf(tp, "duplicate target (same as targets[%d])", first)
			continue
		}
		seen[key] = i
	}

	switch u.Balance {
	case "round_robin", "least_requests":
	default:
		v.errorf(p+".balance", "must be round_robin or least_requests, got %s", v.q(p+".balance", u.Balance))
	}

	h := u.Health
	if h.Path != "" {
		if h.Path[0] != '/' {
			v.errorf(p+".health.path", "must start with '/'")
		} else if strings.ContainsAny(h.Path, " #") || hasControl(h.Path) {
			v.errorf(p+".health.path", "must not contain spaces, '#' or control characters")
		}
		if h.Interval <= 0 {
			v.errorf(p+".health.interval", "must be greater than 0")
		}
		if h.Timeout <= 0 {
			v.errorf(p+".health.timeout", "must be greater than 0")
		}
		if h.HealthyThreshold < 1 {
			v.errorf(p+".health.healthy_threshold", "must be at least 1")
		}
		if h.UnhealthyThreshold < 1 {
			v.errorf(p+".health.unhealthy_threshold", "must be at least 1")
		}
	} else {
		// Settings without a path would suggest checks that never run.
		for _, k := range []string{"interval", "timeout", "healthy_threshold", "unhealthy_threshold"} {
			if v.has(p + ".health." + k) {
				v.errorf(p+".health."+k, "has no effect without health.path (no active checks run)")
			}
		}
	}

	positive := []struct {
		key string
		val Duration
	}{
		{"timeout", u.Timeout},
		{"try_timeout", u.TryTimeout},
		{"connect_timeout", u.ConnectTimeout},
		{"passive.eject_for", u.Passive.EjectFor},
		{"circuit_breaker.open_for", u.CircuitBreaker.OpenFor},
		{"keepalive.idle_timeout", u.KeepAlive.IdleTimeout},
	}
	for _, d := range positive {
		if d.val <= 0 {
			v.errorf(p+"."+d.key, "must be greater than 0")
		}
	}
	if u.TryTimeout > u.Timeout && u.Timeout > 0 && !v.bad[p+".timeout"] {
		v.errorf(p+".try_timeout", "must not be longer than timeout, which bounds all attempts together")
	}
	if u.Retries < 0 || u.Retries > 5 {
		v.errorf(p+".retries", "must be between 0 and 5")
	}
	for _, n := range []struct {
		key string
		val int
	}{
		{"passive.consecutive_failures", u.Passive.ConsecutiveFailures},
		{"circuit_breaker.consecutive_failures", u.CircuitBreaker.ConsecutiveFailures},
		{"circuit_breaker.max_requests", u.CircuitBreaker.MaxRequests},
	} {
		if n.val < 0 {
			v.errorf(p+"."+n.key, "must be 0 (off) or more")
		}
	}
	if u.KeepAlive.MaxIdlePerHost < 1 {
		v.errorf(p+".keepalive.max_idle_per_host", "must be at least 1")
	}

	if u.TLS.CAFile != "" {
		v.readable(p+".tls.ca_file", u.TLS.CAFile)
	}
	if sn := u.TLS.ServerName; sn != "" && !validHostname(sn) && !validIP(sn) {
		v.errorf(p+".tls.server_name", "%s is not a host name", v.q(p+".tls.server_name", sn))
	}
	if (u.TLS.CAFile != "" || u.TLS.ServerName != "") && !https && len(seen) > 0 {
		v.errorf(p+".tls", "applies only to https:// targets, and this upstream has none")
	}
}

// target checks one upstream target and returns a key that is equal for two
// targets reaching the same place, and its scheme.
func (v *validator) target(path, s string) (key, scheme string, ok bool) {
	const want = `(write a base URL, as in "https://10.0.0.5:9001")`
	if !strings.Contains(s, "://") {
		v.errorf(path, "%s must start with http:// or https:// %s", v.q(path, s), want)
		return "", "", false
	}
	u, err := url.Parse(s)
	if err != nil {
		v.errorf(path, "%s is not a URL %s", v.q(path, s), want)
		return "", "", false
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		v.errorf(path, "%s must start with http:// or https:// %s", v.q(path, s), want)
	case u.Opaque != "" || u.Host == "":
		v.errorf(path, "%s has no host %s", v.q(path, s), want)
	case u.User != nil:
		v.errorf(path, "%s must not contain user info (credentials in URLs end up in logs)", v.q(path, s))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		v.errorf(path, "%s must not have a query or fragment", v.q(path, s))
	case u.Path != "" && u.Path != "/":
		v.errorf(path, "%s must not have a path (routes forward the request's own path)", v.q(path, s))
	default:
		host, port := u.Hostname(), u.Port()
		if !validIP(host) && !validHostname(host) {
			v.errorf(path, "%s has an invalid host (an IP address or a host name)", v.q(path, s))
			return "", "", false
		}
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		} else if !isPort(port, 1) {
			v.errorf(path, "%s has an invalid port (a number from 1 to 65535)", v.q(path, s))
			return "", "", false
		}
		n, _ := strconv.Atoi(port)
		return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(host), strconv.Itoa(n)), u.Scheme, true
	}
	return "", "", false
}

// validIP reports whether s is an IP address without a zone.
func validIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}

// validHostname reports whether s is a DNS name: dot-separated labels of 1
// to 63 letters, digits, '-' and '_' (not starting or ending with '-'), at
// most 253 characters, with an optional final dot.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func (v *validator) routes(routes []Route, ups map[string]*Upstream, issuers map[string]int) {
	issuerNames := sortedKeys(issuers)
	if len(routes) == 0 && v.tokenOnly {
		return
	}
	if len(routes) == 0 {
		v.errorf("routes", "at least one route is required")
		return
	}
	names := make(map[string]int, len(routes))
	for i := range routes {
		r := &routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		switch {
		case r.Name == "":
			v.errorf(p+".name", "is required")
		case !routeName(r.Name):
			v.errorf(p+".name", "%s is not a valid route name (1 to 63 lowercase letters, digits, '.', '_' and '-', starting with a letter or digit)", v.q(p+".name", r.Name))
		default:
			if first, dup := names[r.Name]; dup {
				v.errorf(p+".name", "duplicate route name (also routes[%d])", first)
			} else {
				names[r.Name] = i
			}
		}

		if msg := checkPath(r.Match.Path); msg != "" {
			v.errorf(p+".match.path", "%s", msg)
		}
		// Normalized here, once, so that the router and the threat model see
		// one spelling of each host.
		r.Match.Host = strings.TrimSuffix(strings.ToLower(r.Match.Host), ".")
		if msg := checkHost(r.Match.Host); msg != "" {
			v.errorf(p+".match.host", "%s %s", v.q(p+".match.host", r.Match.Host), msg)
		}
		v.methods(p+".match.methods", r.Match.Methods)

		switch {
		case r.Upstream == "":
			v.errorf(p+".upstream", "is required")
		case ups[r.Upstream] == nil:
			msg := fmt.Sprintf("%s is not defined in upstreams", v.q(p+".upstream", r.Upstream))
			if s := suggest(r.Upstream, sortedKeys(ups)); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			v.errorf(p+".upstream", "%s", msg)
		}

		v.routeAuth(p, r, issuers, issuerNames)
		v.routeRateLimit(p, r)
		v.routeMask(p, r)
		v.routeCache(p, r)
		v.routeValidate(p, r)
	}
}

// checkPath returns what is wrong with a route path template, or "". The
// messages never repeat the path, which may come from ${NAME}.
// It refuses everything that could make the template mean something other
// than what the router matches on the canonical path: encodings, dot
// segments, query and fragment markers, backslashes and whitespace.
func checkPath(path string) string {
	if path == "" {
		return "is required"
	}
	if path[0] != '/' {
		return "must start with '/'"
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '?' || c == '#':
			return "must not contain '?' or '#' (routes match the path only)"
		case c == '%':
			return "must not contain '%' (write the decoded path; requests are matched after decoding)"
		case c == '\\':
			return `must not contain '\'`
		case c <= ' ' || c == 0x7f:
			return "must not contain whitespace or control characters"
		}
	}
	if path == "/" {
		return ""
	}
	if strings.HasSuffix(path, "/") {
		return `must not end with '/' (a trailing slash is ignored when matching; use "/prefix/*" for a subtree)`
	}
	segs := strings.Split(path[1:], "/")
	params := make(map[string]bool)
	for i, seg := range segs {
		switch {
		case seg == "":
			return "must not contain an empty segment ('//')"
		case seg == "." || seg == "..":
			return "must not contain '.' or '..' segments"
		case seg == "*":
			if i != len(segs)-1 {
				return `'*' is allowed only as the last segment, as in "/static/*"`
			}
		case strings.Contains(seg, "*"):
			return `'*' must be a whole segment, as in "/static/*"`
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			name := seg[1 : len(seg)-1]
			if !isEnvName(name) {
				return "parameter names are letters, digits and '_', not starting with a digit"
			}
			if params[name] {
				return "a parameter name appears twice"
			}
			params[name] = true
		case strings.ContainsAny(seg, "{}"):
			return `a {param} must be a whole segment, as in "/accounts/{id}"`
		}
	}
	return ""
}

// checkHost returns what is wrong with a lowercased match.host, or "".
func checkHost(h string) string {
	switch {
	case h == "":
		return ""
	case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]"):
		if a, err := netip.ParseAddr(h[1 : len(h)-1]); err == nil && a.Is6() && a.Zone() == "" {
			return ""
		}
		return "is not an IPv6 address"
	case strings.Contains(h, ":"):
		return "must not include a port (the port is ignored when matching; IPv6 addresses go in brackets)"
	case h == "*":
		return "is not allowed; leave match.host out to match any host"
	case strings.HasPrefix(h, "*."):
		if !validHostname(h[2:]) || strings.Contains(h[2:], "*") {
			return `is not "*." followed by a host name`
		}
		return ""
	case strings.Contains(h, "*"):
		return `may use '*' only as the whole first label, as in "*.example.com"`
	case !validHostname(h):
		return "is not a host name"
	}
	return ""
}

// methods checks match.methods. CONNECT and TRACE are refused: CONNECT opens
// a tunnel around every route policy, and TRACE echoes the request,
// credentials included, back to the caller.
func (v *validator) methods(path string, ms []string) {
	seen := make(map[string]bool, len(ms))
	for i, m := range ms {
		p := fmt.Sprintf("%s[%d]", path, i)
		switch m {
		case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
			if seen[m] {
				v.errorf(p, "%s is listed twice", m)
			}
			seen[m] = true
		case "CONNECT":
			v.errorf(p, "CONNECT is refused: a tunnel would bypass every route policy")
		case "TRACE":
			v.errorf(p, "TRACE is refused: it echoes requests, credentials included, back to the caller")
		default:
			upper := strings.ToUpper(m)
			switch upper {
			case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
				v.errorf(p, "methods are uppercase: write %s", upper)
			default:
				v.errorf(p, "%s is not a supported method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)", v.q(p, m))
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
