package authn

import (
	"encoding/json"
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
