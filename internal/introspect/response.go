package introspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// verdict is the endpoint's answer about a token, judged: either a
// principal, cacheable until until, or a refusal of the token.
type verdict struct {
	p       *principal.Principal
	until   time.Time
	refusal *authn.Error
	// size is roughly the memory the principal holds (the response body
	// decoded takes about twice its size).
	size int
}

// introspect asks the endpoint about token and judges the answer at now.
// err is for an endpoint that failed or whose answer is not an RFC 7662
// response: the provider's fault, not the client's.
func (c *Client) introspect(ctx context.Context, token string, now time.Time) (verdict, error) {
	b, err := c.post(ctx, token)
	if err != nil {
		return verdict{}, err
	}
	claims, err := decodeObject(b)
	if err != nil {
		return verdict{}, fmt.Errorf("decode introspection response: %w", err)
	}
	// RFC 7662 §2.2: "active" is required and a boolean. Anything else is a
	// broken provider; the string "true" is not taken as yes.
	active, ok := claims["active"].(bool)
	if !ok {
		return verdict{}, errors.New(`decode introspection response: "active" is missing or not a boolean`)
	}
	if !active {
		return verdict{refusal: refuse(authn.ReasonRevoked)}, nil
	}
	p, until, why := c.judge(claims, now)
	return verdict{p: p, until: until, refusal: why, size: len(token) + 2*len(b) + 256}, nil
}

// judge checks the members of an active answer and builds the principal.
func (c *Client) judge(claims map[string]any, now time.Time) (*principal.Principal, time.Time, *authn.Error) {
	cfg := &c.cfg
	// A refresh token presented as an access token must not authenticate
	// requests, even though the provider calls it active.
	if tt, ok := claims["token_type"]; ok {
		s, _ := tt.(string)
		if !strings.EqualFold(s, "access_token") && !strings.EqualFold(s, "bearer") {
			return nil, time.Time{}, refuse(authn.ReasonWrongType)
		}
	}
	if iss, ok := claims["iss"]; ok {
		if s, _ := iss.(string); s != cfg.Issuer {
			return nil, time.Time{}, refuse(authn.ReasonUnknownIssuer)
		}
	}
	exp, hasExp, valid := numericDate(claims, "exp")
	switch {
	case !valid:
		return nil, time.Time{}, refuse(authn.ReasonMalformedToken)
	case hasExp && now.After(exp.Add(Leeway)):
		return nil, time.Time{}, refuse(authn.ReasonExpired)
	}
	if nbf, ok, valid := numericDate(claims, "nbf"); !valid {
		return nil, time.Time{}, refuse(authn.ReasonMalformedToken)
	} else if ok && now.Add(Leeway).Before(nbf) {
		return nil, time.Time{}, refuse(authn.ReasonNotYetValid)
	}
	if iat, ok, valid := numericDate(claims, "iat"); !valid {
		return nil, time.Time{}, refuse(authn.ReasonMalformedToken)
	} else if ok && iat.After(now.Add(Leeway)) {
		return nil, time.Time{}, refuse(authn.ReasonIssuedInFuture)
	}
	if aud, ok := claims["aud"]; ok && len(cfg.Audiences) > 0 && !audienceMatches(aud, cfg.Audiences) {
		return nil, time.Time{}, refuse(authn.ReasonWrongAudience)
	}
	// The subject is "sub", else "username", else the client itself. A
	// member that is present but not a non-empty string refuses the token
	// rather than falling through to the next: it would be a guess.
	clientID, _ := claims["client_id"].(string)
	var sub string
	if v, ok := claims["sub"]; ok {
		sub, _ = v.(string)
	} else if v, ok := claims["username"]; ok {
		sub, _ = v.(string)
	} else {
		sub = clientID
	}
	if sub == "" {
		return nil, time.Time{}, refuse(authn.ReasonNoSubject)
	}

	p := &principal.Principal{
		Subject: sub,
		Kind:    principal.User,
		Issuer:  cfg.Name,
		Method:  principal.Introspection,
		Claims:  claims,
	}
	if clientID != "" && sub == clientID {
		// Client credentials: the client acts for itself.
		p.Kind = principal.Client
	}
	if v, ok := claimAt(claims, cfg.RolesClaim); ok {
		p.Roles = stringList(v, false)
	}
	if cfg.ScopesClaim != "" {
		if v, ok := claimAt(claims, cfg.ScopesClaim); ok {
			p.Scopes = stringList(v, true)
		}
	} else if v, ok := claims["scope"]; ok {
		p.Scopes = stringList(v, true)
	} else if v, ok := claims["scp"]; ok {
		p.Scopes = stringList(v, true)
	}
	until := now.Add(c.cacheTTL)
	if hasExp {
		// As in authn: the gateway accepts the token until exp plus the
		// leeway, so identity tokens derived from it may live that long.
		p.Expires = exp.Add(Leeway)
		// The cache never outlives exp itself: past it, ask again.
		until = minTime(until, exp)
	}
	return p, until, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// decodeObject decodes one JSON object whose members are each named once:
// with a repeated "sub" or "active", two parsers could see two answers.
// Nothing may follow the object.
func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil {
		return nil, err
	} else if t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	m := make(map[string]any)
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string) // the decoder only yields strings as member names
		if _, dup := m[name]; dup {
			return nil, errors.New("a member is named twice")
		}
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		m[name] = v
	}
	if _, err := d.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

// The claim readers below follow internal/authn's (claims.go), which are
// not exported: the same claim means the same thing for a JWT and for an
// introspected token.

// numericDate reads an RFC 7519 NumericDate member. ok is false when it is
// absent; valid is false when it is present but not a plausible number.
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
// says whether a single string is divided at spaces (scopes).
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
