package respcache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Reasons a response is not stored (decision.reason).
const (
	notStatus         = "status"
	notSetCookie      = "set_cookie"
	notTrailer        = "trailer"
	notStream         = "stream"
	notNoStore        = "no_store"
	notNoCache        = "no_cache"
	notPrivate        = "private"
	notVaryStar       = "vary_star"
	notVaryCredential = "vary_credential"
	notUnkeyedVary    = "unkeyed_vary"
	notShareable      = "not_shareable"
	notFresh          = "not_fresh"
	notTooLarge       = "too_large"
)

// decision is whether, and for how long, a response may be stored.
type decision struct {
	reason   string        // "" when it may be stored
	header   string        // for notUnkeyedVary: the header
	lifetime time.Duration // how long it stays fresh from now
	age      time.Duration // how old the upstream says it already is
}

// cacheableStatus are the statuses stored (RFC 9110 §15.1 heuristically
// cacheable ones, less those whose body depends on the request: 206, 405,
// 414, 501).
func cacheableStatus(code int) bool {
	switch code {
	case 200, 203, 204, 300, 301, 404, 410:
		return true
	}
	return false
}

// decide says whether a response with this status and these headers may be
// stored under cp; auth says the request carried a principal.
func (cp *compiled) decide(code int, h http.Header, auth bool, now time.Time) decision {
	if !cacheableStatus(code) {
		return decision{reason: notStatus}
	}
	if h["Set-Cookie"] != nil {
		return decision{reason: notSetCookie}
	}
	if h["Trailer"] != nil {
		return decision{reason: notTrailer}
	}
	if ct := h.Get("Content-Type"); len(ct) >= 17 && strings.EqualFold(ct[:17], "text/event-stream") {
		return decision{reason: notStream}
	}
	if cl := h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n > cp.maxBody {
			return decision{reason: notTooLarge}
		}
	}
	cc := parseCacheControl(h["Cache-Control"])
	switch {
	case cc.noStore:
		return decision{reason: notNoStore}
	case cc.noCache:
		// Stored answers are never revalidated, so "revalidate each time"
		// means not at all.
		return decision{reason: notNoCache}
	case cc.private && cp.scope == Public:
		return decision{reason: notPrivate}
	case len(h["Cache-Control"]) == 0 && pragmaNoCache(h):
		return decision{reason: notNoCache}
	}
	if d, bad := cp.checkVary(h); bad {
		return d
	}
	// RFC 9111 §3.5: a shared cache reuses an answer to an authenticated
	// request only when the origin explicitly allows it.
	if cp.scope == Public && auth && !cc.public && cc.sMaxAge < 0 {
		return decision{reason: notShareable}
	}

	d := decision{lifetime: cp.ttl}
	if a, ok := deltaSeconds(h.Get("Age")); ok {
		d.age = a
	}
	// The upstream's own freshness, which may only shorten the route's TTL.
	// For public scope s-maxage (meant for shared caches) wins over
	// max-age; for private scope max-age does.
	upstream, first, second := time.Duration(-1), cc.maxAge, cc.sMaxAge
	if cp.scope == Public {
		first, second = second, first
	}
	switch {
	case first >= 0:
		upstream = first
	case second >= 0:
		upstream = second
	case h["Expires"] != nil:
		upstream = expiresLifetime(h, now)
	}
	if upstream >= 0 {
		d.lifetime = min(d.lifetime, upstream-d.age)
	}
	if d.lifetime <= 0 {
		return decision{reason: notFresh}
	}
	return d
}

// checkVary refuses responses that vary on something the key does not
// hold. Private scope keys by the principal, which stands for the
// credential headers.
func (cp *compiled) checkVary(h http.Header) (decision, bool) {
	for _, v := range h["Vary"] {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if name == "*" {
				return decision{reason: notVaryStar}, true
			}
			k := http.CanonicalHeaderKey(name)
			credential := k == "Authorization" || k == "Proxy-Authorization" || k == "X-Rampart-Identity"
			switch {
			case cp.scope == Public && (credential || k == "Cookie"):
				return decision{reason: notVaryCredential}, true
			case credential || cp.keyed[k]:
			default:
				return decision{reason: notUnkeyedVary, header: k}, true
			}
		}
	}
	return decision{}, false
}

// expiresLifetime is Expires − Date (or now, without a usable Date); an
// Expires that does not parse means already expired (RFC 9111 §5.3).
func expiresLifetime(h http.Header, now time.Time) time.Duration {
	exp, err := http.ParseTime(h.Get("Expires"))
	if err != nil {
		return 0
	}
	date := now
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		date = d
	}
	return max(0, exp.Sub(date))
}

func pragmaNoCache(h http.Header) bool {
	for _, v := range h["Pragma"] {
		for d := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-cache") {
				return true
			}
		}
	}
	return false
}

// cacheControl is a parsed Cache-Control. maxAge and sMaxAge are -1 when
// absent; an invalid value counts as 0 (stale), a repeated one as the least.
type cacheControl struct {
	noStore, noCache, private, public bool
	maxAge, sMaxAge                   time.Duration
}

// parseCacheControl parses the Cache-Control field lines (RFC 9111 §5.2):
// comma-separated directives, each a token with an optional token or
// quoted-string argument. Quoted strings are skipped as a whole, so
// private="a, public" is one directive.
func parseCacheControl(lines []string) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1}
	for _, s := range lines {
		for s != "" {
			var name, arg string
			name, arg, s = nextDirective(s)
			switch strings.ToLower(name) {
			case "no-store":
				cc.noStore = true
			case "no-cache":
				cc.noCache = true
			case "private":
				cc.private = true
			case "public":
				cc.public = true
			case "max-age":
				cc.maxAge = minAge(cc.maxAge, arg)
			case "s-maxage":
				cc.sMaxAge = minAge(cc.sMaxAge, arg)
			}
		}
	}
	return cc
}

// nextDirective splits the first directive off s.
func nextDirective(s string) (name, arg, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ',' {
		i++
	}
	name = strings.TrimSpace(s[:i])
	if i == len(s) || s[i] == ',' {
		return name, "", s[i:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	if s != "" && s[0] == '"' {
		j := 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		arg = s[1:min(j, len(s))]
		s = s[min(j+1, len(s)):]
		// Whatever follows the closing quote up to the comma is junk.
		if k := strings.IndexByte(s, ','); k >= 0 {
			return name, arg, s[k:]
		}
		return name, arg, ""
	}
	j := strings.IndexByte(s, ',')
	if j < 0 {
		return name, strings.TrimSpace(s), ""
	}
	return name, strings.TrimSpace(s[:j]), s[j:]
}

func minAge(cur time.Duration, arg string) time.Duration {
	d, ok := deltaSeconds(arg)
	if !ok {
		d = 0
	}
	if cur >= 0 {
		return min(cur, d)
	}
	return d
}

// maxDelta is where delta-seconds saturate (RFC 9111 §1.2.2).
const maxDelta = 1 << 31

// deltaSeconds parses delta-seconds: digits only.
func deltaSeconds(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int64(c-'0'), maxDelta)
	}
	return time.Duration(n) * time.Second, true
}

// clientDirective is what a request's Cache-Control asks of the cache.
type clientDirectiveKind uint8

const (
	clientNone    clientDirectiveKind = iota
	clientNoCache                     // look nothing up, store the fresh answer
	clientNoStore                     // look nothing up, store nothing
)

// clientDirective reads the request's Cache-Control (or Pragma).
func clientDirective(h http.Header) clientDirectiveKind {
	lines := h["Cache-Control"]
	if len(lines) == 0 {
		if pragmaNoCache(h) {
			return clientNoCache
		}
		return clientNone
	}
	cc := parseCacheControl(lines)
	switch {
	case cc.noStore:
		return clientNoStore
	case cc.noCache || cc.maxAge == 0:
		return clientNoCache
	}
	return clientNone
}

// hopByHop are the connection-specific headers (RFC 9110 §7.6.1), never
// stored and never keyed.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func isHopByHop(k string) bool {
	for _, h := range hopByHop {
		if h == k {
			return true
		}
	}
	return false
}

// storedHeader is the copy of h that is kept with an entry: without
// hop-by-hop headers (and those Connection names), headers that are about
// this one exchange (Age, Cache-Status, authentication info, request ids,
// the gateway's own X-Rampart-*), and the headers in skip, which the gateway
// set for this request before the upstream answered. Value slices are
// clipped so an append by a reader can never write into the entry.
func storedHeader(h http.Header, skip []string) http.Header {
	out := make(http.Header, len(h))
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	vals := make([]string, 0, n)
	for k, vs := range h {
		if dropHeader(k) || containsFold(skip, k) || connectionNames(h, k) {
			continue
		}
		start := len(vals)
		vals = append(vals, vs...)
		out[k] = vals[start:len(vals):len(vals)]
	}
	return out
}

func dropHeader(k string) bool {
	if isHopByHop(k) {
		return true
	}
	switch k {
	case "Age", "Cache-Status", "Set-Cookie", "Authentication-Info", "Proxy-Authentication-Info", "X-Request-Id":
		return true
	}
	return len(k) >= 10 && strings.EqualFold(k[:10], "X-Rampart-")
}

// connectionNames reports whether the Connection header names k.
func connectionNames(h http.Header, k string) bool {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(name), k) {
				return true
			}
		}
	}
	return false
}

func containsFold(list []string, k string) bool {
	for _, s := range list {
		if strings.EqualFold(s, k) {
			return true
		}
	}
	return false
}

// validToken reports whether s is an RFC 9110 token (a header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
