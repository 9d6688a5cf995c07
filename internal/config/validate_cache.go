package config

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// responseCache checks where cached responses live.
func (v *validator) responseCache(c *ResponseCache) {
	switch c.Store {
	case "memory":
		if v.has("response_cache.redis") {
			v.errorf("response_cache.redis.addr", "only applies with store: redis")
		}
	case "redis":
		if _, _, err := net.SplitHostPort(c.Redis.Addr); err != nil {
			v.errorf("response_cache.redis.addr", "is required with store: redis (host:port)")
		}
		if c.Redis.Password != "" && !v.expanded("response_cache.redis.password") {
			v.errorf("response_cache.redis.password", "must come from the environment: write it as ${NAME}")
		}
		if c.Redis.DB < 0 || c.Redis.DB > 15 {
			v.errorf("response_cache.redis.db", "must be between 0 and 15")
		}
		if t := c.Redis.Timeout.Std(); t != 0 && (t < time.Millisecond || t > 5*time.Second) {
			v.errorf("response_cache.redis.timeout", "must be between 1ms and 5s (a slower store is a miss)")
		}
	default:
		v.errorf("response_cache.store", `must be "memory" or "redis", got %s`, v.q("response_cache.store", c.Store))
	}
	if c.MaxEntries < 100 || c.MaxEntries > 10_000_000 {
		v.errorf("response_cache.max_entries", "must be between 100 and 10000000")
	}
	if c.MaxMemory < 1<<20 || c.MaxMemory > 64<<30 {
		v.errorf("response_cache.max_memory", "must be between 1MiB and 64GiB")
	}
}

// routeCache checks a route's cache policy.
func (v *validator) routeCache(p string, r *Route) {
	c := r.Cache
	if c.TTL == 0 {
		for _, k := range []string{"scope", "vary", "max_body"} {
			if v.has(p + ".cache." + k) {
				v.errorf(p+".cache.ttl", "is required in a cache (how long answers are kept, e.g. 30s)")
				break
			}
		}
		return
	}
	if c.TTL < Duration(time.Second) || c.TTL > Duration(24*time.Hour) {
		v.errorf(p+".cache.ttl", "must be between 1s and 24h")
	}
	protected := r.Auth.Set && !r.Auth.None
	switch c.Scope {
	case "private":
		if !protected {
			v.errorf(p+".cache.scope", "private keys answers by the principal, and this route has none (auth is none): use public")
		}
	case "public":
		if len(r.Mask.UnlessScopes) > 0 {
			// The answer depends on the caller's scopes: sharing it would
			// serve one caller's unmasked record to everyone.
			v.errorf(p+".cache.scope", "public does not combine with mask.unless_scopes (callers see different answers): use private")
		}
	default:
		v.errorf(p+".cache.scope", `must be "private" or "public", got %s`, v.q(p+".cache.scope", c.Scope))
	}
	if len(c.Vary) > 16 {
		v.errorf(p+".cache.vary", "at most 16 headers")
	}
	for i, h := range c.Vary {
		k := fmt.Sprintf("%s.cache.vary[%d]", p, i)
		switch ch := http.CanonicalHeaderKey(h); {
		case !validHeaderToken(h):
			v.errorf(k, "%s is not a header name", v.q(k, h))
		case ch == "Authorization" || ch == "Cookie":
			v.errorf(k, "%s carries credentials: use scope: private, which keys by the verified principal", h)
		}
	}
	if c.MaxBody < 1 || c.MaxBody > 64<<20 {
		v.errorf(p+".cache.max_body", "must be between 1B and 64MiB")
	}
}
