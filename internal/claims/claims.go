// Package claims reads the members of a decoded JWT claims set or token
// introspection response (JSON decoded into map[string]any) the same way
// everywhere: a claim means the same thing in a JWT, an introspected token
// and an OIDC ID token.
package claims

import (
	"math"
	"slices"
	"strings"
	"time"
)

// NumericDate reads an RFC 7519 NumericDate member. ok is false when it is
// absent; valid is false when it is present but not a plausible number.
func NumericDate(c map[string]any, name string) (t time.Time, ok, valid bool) {
	v, ok := c[name]
	if !ok {
		return time.Time{}, false, true
	}
	f, isNum := v.(float64)
	if !isNum || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, true, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, true
}

// AudienceMatches reports whether aud (a string or a list of strings) holds
// one of want.
func AudienceMatches(aud any, want []string) bool {
	switch a := aud.(type) {
	case string:
		return slices.Contains(want, a)
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

// At follows a dotted claim path ("realm_access.roles"). A claim whose own
// name contains dots ("https://example.com/roles") is found by its whole
// name first.
func At(c map[string]any, path string) (any, bool) {
	if v, ok := c[path]; ok {
		return v, true
	}
	cur := any(c)
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Strings reads a claim that is a list of strings or one string; split says
// whether a single string is divided at spaces (scopes). Non-string and
// empty items are dropped.
func Strings(v any, split bool) []string {
	switch x := v.(type) {
	case string:
		if split {
			return strings.Fields(x)
		}
		if x == "" {
			return nil
		}
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Roles reads the roles at the claim path rolesClaim (none when absent).
func Roles(c map[string]any, rolesClaim string) []string {
	if v, ok := At(c, rolesClaim); ok {
		return Strings(v, false)
	}
	return nil
}

// Scopes reads the granted scopes: at the claim path scopesClaim when set,
// else "scope" (RFC 8693/9068, space-separated), else "scp".
func Scopes(c map[string]any, scopesClaim string) []string {
	if scopesClaim != "" {
		if v, ok := At(c, scopesClaim); ok {
			return Strings(v, true)
		}
		return nil
	}
	if v, ok := c["scope"]; ok {
		return Strings(v, true)
	}
	if v, ok := c["scp"]; ok {
		return Strings(v, true)
	}
	return nil
}
