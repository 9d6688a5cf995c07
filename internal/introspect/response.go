package introspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/claims"
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
	resp, err := decodeObject(b)
	if err != nil {
		return verdict{}, fmt.Errorf("decode introspection response: %w", err)
	}
	// RFC 7662 §2.2: "active" is required and a boolean. Anything else is a
	// broken provider; the string "true" is not taken as yes.
	active, ok := resp["active"].(bool)
	if !ok {
		return verdict{}, errors.New(`decode introspection response: "active" is missing or not a boolean`)
	}
	if !active {
		return verdict{refusal: refuse(authn.ReasonRevoked)}, nil
	}
	p, until, why := c.judge(resp, now)
	return verdict{p: p, until: until, refusal: why, size: len(token) + 2*len(b) + 256}, nil
}

// judge checks the members of an active answer and builds the principal.
func (c *Client) judge(resp map[string]any, now time.Time) (*principal.Principal, time.Time, *authn.Error) {
	cfg := &c.cfg
	// A refresh token presented as an access token must not authenticate
	// requests, even though the provider calls it active.
	if tt, ok := resp["token_type"]; ok {
		s, _ := tt.(string)
		if !strings.EqualFold(s, "access_token") && !strings.EqualFold(s, "bearer") {
			return nil, time.Time{}, refuse(authn.ReasonWrongType)
		}
	}
	if iss, ok := resp["iss"]; ok {
		if s, _ := iss.(string); s != cfg.Issuer {
			return nil, time.Time{}, refuse(authn.ReasonUnknownIssuer)
		}
	}
	exp, hasExp, valid := claims.NumericDate(resp, "exp")
	switch {
	case !valid:
		return nil, time.Time{}, refuse(authn.ReasonMalformedToken)
	case hasExp && now.After(exp.Add(Leeway)):
		return nil, time.Time{}, refuse(authn.ReasonExpired)
	}
	if nbf, ok, valid := claims.NumericDate(resp, "nbf"); !valid {
		return nil, time.Time{}, refuse(authn.ReasonMalformedToken)
	} else if ok && now.Add(Leeway).Before(nbf) {
		return nil, time.Time{}, refuse(authn.ReasonNotYetValid)
	}
	if iat, ok, valid := claims.NumericDate(resp, "iat"); !valid {
		return nil, time.Time{}, refuse(authn.ReasonMalformedToken)
	} else if ok && iat.After(now.Add(Leeway)) {
		return nil, time.Time{}, refuse(authn.ReasonIssuedInFuture)
	}
	if aud, ok := resp["aud"]; ok && len(cfg.Audiences) > 0 && !claims.AudienceMatches(aud, cfg.Audiences) {
		return nil, time.Time{}, refuse(authn.ReasonWrongAudience)
	}
	// The subject is "sub", else "username", else the client itself. A
	// member that is present but not a non-empty string refuses the token
	// rather than falling through to the next: it would be a guess.
	clientID, _ := resp["client_id"].(string)
	var sub string
	if v, ok := resp["sub"]; ok {
		sub, _ = v.(string)
	} else if v, ok := resp["username"]; ok {
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
		Claims:  resp,
	}
	if clientID != "" && sub == clientID {
		// Client credentials: the client acts for itself.
		p.Kind = principal.Client
	}
	p.Roles = claims.Roles(resp, cfg.RolesClaim)
	p.Scopes = claims.Scopes(resp, cfg.ScopesClaim)
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
