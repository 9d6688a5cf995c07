package oidclogin

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	claimpath "github.com/rampart-sec/rampart/internal/claims"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// Cookie format: base64url (unpadded) of the version byte followed by
// AES-256-GCM's random nonce, ciphertext and tag. The associated data is the
// version byte and the cookie's name. The plaintext is JSON.
const cookieVersion = 1

const (
	// maxSessionCookie bounds name=value of the session cookie, well under
	// the 4 KiB browsers keep per cookie.
	maxSessionCookie = 3 << 10
	// maxCookieValue bounds what is decoded at all.
	maxCookieValue = 4 << 10
	// maxClaimLen drops claim values (and roles) longer than this rather
	// than carry them in every request's cookie.
	maxClaimLen = 256
	// maxSameName bounds how many cookies of one name are tried.
	maxSameName = 4
	// skew is how far in the future a session's iat may be.
	skew = time.Minute
)

var b64 = base64.RawURLEncoding.Strict()

// sessionClaims are the ID token claims kept in the session, besides sub.
var sessionClaims = []string{"email", "name", "preferred_username"}

// session is the session cookie's payload.
type session struct {
	Issuer   string            `json:"iss"` // Login.name
	Subject  string            `json:"sub"`
	Roles    []string          `json:"roles,omitempty"`
	Claims   map[string]string `json:"claims,omitempty"`
	IssuedAt int64             `json:"iat"`
	Expires  int64             `json:"exp"`
}

// loginState is the login cookie's payload.
type loginState struct {
	Issuer   string `json:"iss"` // Login.name
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Next     string `json:"next"` // a local path, see localPath
	Expires  int64  `json:"exp"`
}

func aad(cookieName string) []byte {
	return append([]byte{cookieVersion}, cookieName...)
}

func (l *Login) seal(ad []byte, v any) (string, error) {
	pt, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(l.aead.Seal([]byte{cookieVersion}, nil, pt, ad)), nil
}

func (l *Login) open(ad []byte, value string, v any) bool {
	if len(value) > maxCookieValue {
		return false
	}
	b, err := b64.DecodeString(value)
	if err != nil || len(b) == 0 || b[0] != cookieVersion {
		return false
	}
	pt, err := l.aead.Open(nil, nil, b[1:], ad)
	if err != nil {
		return false
	}
	return json.Unmarshal(pt, v) == nil
}

// Session returns the principal of a valid session cookie on r, or nil:
// Subject is the ID token's sub, Kind user, Issuer the configured name,
// Method jwt, Roles from RolesClaim, Claims sub, email, name and
// preferred_username (those the ID token had) plus "login": "oidc", and
// Expires the end of the session.
func (l *Login) Session(r *http.Request) *principal.Principal {
	for i, c := range r.CookiesNamed(l.cookieName) {
		if i == maxSameName {
			break
		}
		if p := l.principal(c.Value); p != nil {
			return p
		}
	}
	return nil
}

func (l *Login) principal(value string) *principal.Principal {
	var s session
	if !l.open(l.sessionAAD, value, &s) || s.Issuer != l.name || s.Subject == "" {
		return nil
	}
	now := l.now()
	iat := time.Unix(s.IssuedAt, 0)
	if iat.After(now.Add(skew)) {
		return nil
	}
	// A session never outlives the TTL configured now, even one sealed
	// while a longer TTL was configured.
	exp := min(s.Expires, iat.Add(l.ttl).Unix())
	if now.Unix() >= exp {
		return nil
	}
	claims := make(map[string]any, len(s.Claims)+2)
	for k, v := range s.Claims {
		claims[k] = v
	}
	claims["sub"] = s.Subject
	claims["login"] = "oidc"
	return &principal.Principal{
		Subject: s.Subject,
		Kind:    principal.User,
		Issuer:  l.name,
		Roles:   s.Roles,
		Method:  principal.Session,
		Claims:  claims,
		Expires: time.Unix(exp, 0),
	}
}

// newSession keeps what a principal needs from the verified ID token's
// claims. Claims and roles longer than maxClaimLen are dropped.
func (l *Login) newSession(sub string, claims map[string]any, now time.Time) *session {
	s := &session{
		Issuer:   l.name,
		Subject:  sub,
		IssuedAt: now.Unix(),
		Expires:  now.Add(l.ttl).Unix(),
	}
	if v, ok := claimpath.At(claims, l.rolesClaim); ok {
		s.Roles = stringList(v)
	}
	for _, k := range sessionClaims {
		if v, ok := claims[k].(string); ok && v != "" && len(v) <= maxClaimLen {
			if s.Claims == nil {
				s.Claims = make(map[string]string, len(sessionClaims))
			}
			s.Claims[k] = v
		}
	}
	return s
}

// stringList reads a claim that is a list of strings or one string.
func stringList(v any) []string {
	var out []string
	add := func(s string) {
		if s != "" && len(s) <= maxClaimLen {
			out = append(out, s)
		}
	}
	switch x := v.(type) {
	case string:
		add(x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				add(s)
			}
		}
	}
	return out
}
