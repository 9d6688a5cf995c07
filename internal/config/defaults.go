package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// A defaultValue is the value a key takes when the file does not set it.
type defaultValue struct {
	// Key is the key path; "*" stands for every upstream name or list item.
	Key string
	// Value is written as it would be in the file.
	Value string
	// When, if set, names a sibling key that must be set (non-zero) for the
	// default to apply: health check settings only matter with a path.
	When string
}

// defaults is the one table of default values: applyDefaults uses it and
// TestDocsDefaults checks docs/config.md against it.
func defaults() []defaultValue {
	return []defaultValue{
		{Key: "gateway.listen", Value: ":8443"},
		{Key: "gateway.admin", Value: "127.0.0.1:9901"},
		{Key: "gateway.tls.min_version", Value: "1.2"},
		{Key: "gateway.limits.max_body", Value: "1MiB"},
		{Key: "gateway.limits.max_header", Value: "16KiB"},
		{Key: "gateway.limits.read_header_timeout", Value: "5s"},
		{Key: "gateway.limits.read_timeout", Value: "60s"},
		{Key: "gateway.limits.idle_timeout", Value: "120s"},
		// 0: no write timeout, so that streamed responses are not cut.
		{Key: "gateway.limits.write_timeout", Value: "0"},
		{Key: "gateway.limits.max_connections", Value: "10000"},
		{Key: "gateway.limits.max_in_flight", Value: "10000"},
		{Key: "gateway.limits.max_concurrent_streams", Value: "100"},
		{Key: "gateway.shutdown_timeout", Value: "30s"},
		{Key: "gateway.token_cache.entries", Value: "10000"},
		{Key: "gateway.token_cache.memory", Value: "32MiB"},
		{Key: "gateway.hsts.max_age", Value: "31536000s", When: "enabled"},
		{Key: "log.level", Value: "info"},
		{Key: "log.access", Value: "stdout"},
		{Key: "issuers.*.leeway", Value: "30s"},
		{Key: "issuers.*.roles_claim", Value: "roles"},
		{Key: "issuers.*.refresh_interval", Value: "5m"},
		{Key: "issuers.*.min_refetch_interval", Value: "30s"},
		{Key: "issuers.*.max_token_size", Value: "8KiB"},
		{Key: "issuers.*.introspection.cache_ttl", Value: "2m", When: "endpoint"},
		{Key: "api_keys.header", Value: "X-API-Key"},
		{Key: "rate_limits.store", Value: "memory"},
		{Key: "rate_limits.on_redis_error", Value: "deny"},
		{Key: "rate_limits.max_keys", Value: "100000"},
		{Key: "login.logout_path", Value: "/.rampart/logout", When: "issuer"},
		{Key: "login.session_ttl", Value: "8h", When: "issuer"},
		{Key: "response_cache.store", Value: "memory"},
		{Key: "response_cache.max_entries", Value: "10000"},
		{Key: "response_cache.max_memory", Value: "64MiB"},
		{Key: "routes.*.cache.scope", Value: "private", When: "ttl"},
		{Key: "routes.*.cache.max_body", Value: "1MiB", When: "ttl"},
		{Key: "routes.*.mask.style", Value: "full", When: "fields"},
		{Key: "routes.*.mask.max_body", Value: "1MiB", When: "fields"},
		{Key: "upstreams.*.balance", Value: "round_robin"},
		{Key: "upstreams.*.timeout", Value: "30s"},
		// try_timeout is further capped at timeout (see applyDefaults).
		{Key: "upstreams.*.try_timeout", Value: "10s"},
		{Key: "upstreams.*.connect_timeout", Value: "5s"},
		{Key: "upstreams.*.retries", Value: "1"},
		{Key: "upstreams.*.passive.consecutive_failures", Value: "5"},
		{Key: "upstreams.*.passive.eject_for", Value: "30s"},
		{Key: "upstreams.*.circuit_breaker.consecutive_failures", Value: "0"},
		{Key: "upstreams.*.circuit_breaker.open_for", Value: "10s"},
		{Key: "upstreams.*.circuit_breaker.max_requests", Value: "0"},
		{Key: "upstreams.*.keepalive.max_idle_per_host", Value: "256"},
		{Key: "upstreams.*.keepalive.idle_timeout", Value: "90s"},
		{Key: "upstreams.*.health.interval", Value: "5s", When: "path"},
		{Key: "upstreams.*.health.timeout", Value: "2s", When: "path"},
		{Key: "upstreams.*.health.healthy_threshold", Value: "2", When: "path"},
		{Key: "upstreams.*.health.unhealthy_threshold", Value: "3", When: "path"},
	}
}

// applyDefaults sets every key that the file did not write (present holds
// the key paths that it did) to its default. A key that was written keeps
// its value even when it is zero: "retries: 0" means no retries, and
// "read_timeout: 0s" is an error rather than silently 60s.
func applyDefaults(cfg *Config, present map[string]int) {
	for _, dv := range defaults() {
		each(reflect.ValueOf(cfg).Elem(), strings.Split(dv.Key, "."), "", func(parent reflect.Value, field reflect.Value, path string) {
			if _, ok := present[path]; ok {
				return
			}
			if dv.When != "" {
				w := parent.Field(yamlFields(parent.Type())[dv.When])
				if w.IsZero() {
					return
				}
			}
			// The table is checked by TestDefaultsParse, so this cannot fail.
			_ = setScalar(field, dv.Value)
		})
	}
	for name, u := range cfg.Upstreams {
		if u == nil {
			continue
		}
		if _, ok := present[joinKey(joinKey("upstreams", name), "try_timeout")]; !ok && u.TryTimeout > u.Timeout {
			u.TryTimeout = u.Timeout
		}
	}
}

// each calls fn for every field that the key path segs reaches from v, with
// the struct holding it and its concrete key path ("*" visits every map
// entry, in name order).
func each(v reflect.Value, segs []string, path string, fn func(parent, field reflect.Value, path string)) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	if len(segs) == 0 {
		return
	}
	seg := segs[0]
	switch v.Kind() {
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			if seg == "*" || seg == k.String() {
				each(v.MapIndex(k), segs[1:], joinKey(path, k.String()), fn)
			}
		}
	case reflect.Slice:
		if seg == "*" {
			for i := 0; i < v.Len(); i++ {
				each(v.Index(i), segs[1:], fmt.Sprintf("%s[%d]", path, i), fn)
			}
		}
	case reflect.Struct:
		idx, ok := yamlFields(v.Type())[seg]
		if !ok {
			return
		}
		f := v.Field(idx)
		if len(segs) == 1 {
			fn(v, f, joinKey(path, seg))
			return
		}
		each(f, segs[1:], joinKey(path, seg), fn)
	}
}

// setScalar sets a string, int, Duration or Size field from its text.
func setScalar(v reflect.Value, s string) error {
	switch {
	case v.Type() == reflect.TypeFor[Duration]():
		d, err := parseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case v.Type() == reflect.TypeFor[Size]():
		sz, err := parseSize(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(sz))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Int:
		i, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(i))
	default:
		return fmt.Errorf("cannot set a %s from text", v.Type())
	}
	return nil
}
