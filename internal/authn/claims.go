package authn

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"
)

// parseClaims decodes a JWT claims set: one JSON object whose top-level
// names are unique (a duplicate "sub" would let two parsers see two subjects).
func parseClaims(b []byte) (map[string]any, *Error) {
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil || claims == nil || !uniqueTopLevelNames(b) {
		return nil, refuse(ReasonMalformedToken)
	}
	return claims, nil
}

// numericDate reads an RFC 7519 NumericDate claim. ok is false when the claim
// is absent; valid is false when it is present but not a finite number.
func numericDate(claims map[string]any, name string) (t time.Time, ok, valid bool) {
	v, ok := claims[name]
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

// audienceMatches reports whether aud (a string or a list of strings) holds
// one of want.
func audienceMatches(aud any, want []string) bool {
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

// claimAt follows a dotted claim path ("realm_access.roles"). A claim whose
// own name contains dots ("https://example.com/roles") is found by its
// whole name first.
func claimAt(claims map[string]any, path string) (any, bool) {
	if v, ok := claims[path]; ok {
		return v, true
	}
	cur := any(claims)
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

// stringList reads a claim that is a list of strings or one string; split
// says how a single string is divided (scopes: by spaces).
func stringList(v any, split bool) []string {
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
