// Package idtoken signs the identity tokens the gateway sends to upstream
// services: a short-lived EdDSA JWT stating the principal the gateway
// verified, for one upstream (the audience). Services verify them with
// sdk/principal, which defines the wire format's constants.
package idtoken

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// A Signer signs identity tokens with one key. It caches the tokens it signs
// (see Sign), and is safe for concurrent use.
type Signer struct {
	issuer string
	ttl    time.Duration
	signer jose.Signer
	jwks   []byte
	// err is set when NewSigner got an unusable key or TTL: every Sign
	// returns it, so the gateway fails closed rather than at startup.
	err error
	// now is time.Now, except in tests.
	now   func() time.Time
	cache cache
}

// NewSigner returns a Signer that signs with key, as issuer (default
// principal.DefaultGatewayIssuer), tokens valid for ttl. An unusable key or
// a ttl under a second (JWT dates are whole seconds) makes every Sign fail.
func NewSigner(key ed25519.PrivateKey, issuer string, ttl time.Duration) *Signer {
	if issuer == "" {
		issuer = principal.DefaultGatewayIssuer
	}
	s := &Signer{issuer: issuer, ttl: ttl, now: time.Now}
	s.cache.init(ttl / 2)
	if ttl < time.Second {
		s.err = fmt.Errorf("identity token signer: lifetime %s is under a second", ttl)
		return s
	}
	if len(key) != ed25519.PrivateKeySize {
		s.err = errors.New("identity token signer: not an Ed25519 private key")
		return s
	}
	pub := jose.JSONWebKey{Key: key.Public(), Algorithm: string(jose.EdDSA), Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		s.err = fmt.Errorf("identity token signer: key thumbprint: %w", err)
		return s
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	s.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		s.err = fmt.Errorf("identity token signer: encode JWK set: %w", err)
		return s
	}
	s.signer, err = jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key, KeyID: pub.KeyID}},
		(&jose.SignerOptions{}).WithType(principal.IdentityTokenType),
	)
	if err != nil {
		s.err = fmt.Errorf("identity token signer: %w", err)
	}
	return s
}

// JWKS returns the JSON of the public JWK Set that verifies this Signer's
// tokens: one OKP Ed25519 key, alg EdDSA, use sig, whose kid is its RFC 7638
// thumbprint. It returns nil if the Signer has no usable key.
func (s *Signer) JWKS() []byte {
	if s.jwks == nil {
		return nil
	}
	return append([]byte(nil), s.jwks...)
}

// claims is the payload of an identity token (see sdk/principal).
type claims struct {
	Issuer    string           `json:"iss"`
	Audience  string           `json:"aud"`
	Subject   string           `json:"sub"`
	IssuedAt  int64            `json:"iat"`
	NotBefore int64            `json:"nbf"`
	Expiry    int64            `json:"exp"`
	ID        string           `json:"jti"`
	Kind      principal.Kind   `json:"kind"`
	PIssuer   string           `json:"issuer,omitempty"`
	Roles     []string         `json:"roles,omitempty"`
	Scopes    []string         `json:"scopes,omitempty"`
	Method    principal.Method `json:"method"`
}

// Sign returns an identity token stating p for the upstream audience. The
// token expires after the Signer's TTL, or when p does (p.Expires) if that is
// sooner: it never outlives the credential it was derived from.
//
// Tokens are cached per principal and audience and reused until half their
// lifetime has passed, so the gateway signs once per principal and upstream
// rather than once per request.
//
// Sign refuses a principal without a subject, with a Kind or Method that
// sdk/principal does not define (services would refuse the token), or whose
// credential has expired, and a token larger than
// principal.MaxIdentityTokenSize.
func (s *Signer) Sign(p *principal.Principal, audience string) (string, error) {
	if s.err != nil {
		return "", s.err
	}
	if p == nil {
		return "", errors.New("sign identity token: no principal")
	}
	now := s.now()
	h := s.cache.hash(p, audience)
	if tok, ok := s.cache.get(h, p, audience, now); ok {
		return tok, nil
	}
	switch {
	case audience == "":
		return "", errors.New("sign identity token: no audience")
	case p.Subject == "":
		return "", errors.New("sign identity token: principal has no subject")
	case !p.Kind.Valid():
		return "", fmt.Errorf("sign identity token: principal has unknown kind %q", p.Kind)
	case !p.Method.Valid():
		return "", fmt.Errorf("sign identity token: principal has unknown method %q", p.Method)
	}
	exp := now.Add(s.ttl)
	if !p.Expires.IsZero() && p.Expires.Before(exp) {
		if !p.Expires.After(now) {
			return "", fmt.Errorf("sign identity token: the principal's credential expired at %s", p.Expires.UTC().Format(time.RFC3339))
		}
		exp = p.Expires
	}
	// JWT dates are whole seconds: round exp down, never past p.Expires.
	exp = time.Unix(exp.Unix(), 0)
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", fmt.Errorf("sign identity token: random jti: %w", err)
	}
	payload, err := json.Marshal(&claims{
		Issuer:    s.issuer,
		Audience:  audience,
		Subject:   p.Subject,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expiry:    exp.Unix(),
		ID:        base64.RawURLEncoding.EncodeToString(jti[:]),
		Kind:      p.Kind,
		PIssuer:   p.Issuer,
		Roles:     p.Roles,
		Scopes:    p.Scopes,
		Method:    p.Method,
	})
	if err != nil {
		return "", fmt.Errorf("sign identity token: encode claims: %w", err)
	}
	jws, err := s.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign identity token: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("sign identity token: serialize: %w", err)
	}
	if len(tok) > principal.MaxIdentityTokenSize {
		return "", fmt.Errorf("sign identity token: %d bytes, more than services accept (%d): too many roles or scopes", len(tok), principal.MaxIdentityTokenSize)
	}
	if life := exp.Sub(now); life > 0 {
		s.cache.put(h, newEntry(p, audience, tok, now.Add(life/2)), now)
	}
	return tok, nil
}
