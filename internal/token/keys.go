package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/rampart-sec/rampart/internal/token/store"
)

// signingAlgs are the algorithms our own tokens may carry.
var signingAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}

// keyring is the loaded key set, swapped whole on reload.
type keyring struct{ p atomic.Pointer[keyset] }

type keyset struct {
	kid, alg string
	// at signs access tokens (typ at+jwt), id signs ID tokens (typ JWT).
	at, id jose.Signer
	// public has every published key by kid: next, current and retired.
	public map[string]jose.JSONWebKey
	jwks   []byte
}

// NewSigningKey generates a key for alg (EdDSA or ES256).
func NewSigningKey(alg string, now time.Time) (store.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return store.SigningKey{}, fmt.Errorf("generate signing key: unsupported algorithm %q", alg)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode signing key: %w", err)
	}
	kidBytes := make([]byte, 12)
	rand.Read(kidBytes)
	kid := base64.RawURLEncoding.EncodeToString(kidBytes)
	pub, err := json.Marshal(jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode public key: %w", err)
	}
	return store.SigningKey{KID: kid, Alg: alg, Private: der, PublicJWK: string(pub), Created: now}, nil
}

// EnsureKeys creates the first current key and its successor (next) when
// the store has none, so a fresh store publishes the key it will rotate
// to before that key signs anything.
func EnsureKeys(ctx context.Context, st store.Store, cfg Config, now time.Time) error {
	cfg.setDefaults()
	keys, err := st.SigningKeys(ctx, now)
	if err != nil {
		return err
	}
	var cur, next bool
	for _, k := range keys {
		cur = cur || k.State == store.KeyCurrent
		next = next || k.State == store.KeyNext
	}
	for range 2 {
		if cur && next {
			return nil
		}
		k, err := NewSigningKey(cfg.SigningAlg, now)
		if err != nil {
			return err
		}
		if err := st.RotateKeys(ctx, k, now, cfg.maxLifetime()); err != nil {
			return err
		}
		cur, next = true, cur
	}
	return nil
}

// RotateKeys makes the published next key current, retires the current
// one (published until every token it signed has expired) and publishes a
// new next key. Running servers switch within ReloadInterval.
func RotateKeys(ctx context.Context, st store.Store, cfg Config, now time.Time) error {
	cfg.setDefaults()
	if err := EnsureKeys(ctx, st, cfg, now); err != nil {
		return err
	}
	k, err := NewSigningKey(cfg.SigningAlg, now)
	if err != nil {
		return err
	}
	return st.RotateKeys(ctx, k, now, cfg.maxLifetime())
}

// RotateKeys rotates the signing keys and reloads them at once.
func (s *Server) RotateKeys(ctx context.Context) error {
	if err := RotateKeys(ctx, s.store, s.cfg, s.now()); err != nil {
		return err
	}
	return s.reloadKeys(ctx)
}

func (s *Server) reloadKeys(ctx context.Context) error {
	keys, err := s.store.SigningKeys(ctx, s.now())
	if err != nil {
		return err
	}
	ks := &keyset{public: make(map[string]jose.JSONWebKey, len(keys))}
	var set jose.JSONWebKeySet
	for _, k := range keys {
		var pub jose.JSONWebKey
		if err := pub.UnmarshalJSON([]byte(k.PublicJWK)); err != nil {
			return fmt.Errorf("load public key %s: %w", k.KID, err)
		}
		ks.public[k.KID] = pub
		set.Keys = append(set.Keys, pub)
		if k.State != store.KeyCurrent {
			continue
		}
		priv, err := x509.ParsePKCS8PrivateKey(k.Private)
		if err != nil {
			return fmt.Errorf("load signing key %s: %w", k.KID, err)
		}
		sk := jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Alg), Key: jose.JSONWebKey{Key: priv, KeyID: k.KID, Algorithm: k.Alg}}
		if ks.at, err = jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("at+jwt")); err != nil {
			return fmt.Errorf("load signing key %s: %w", k.KID, err)
		}
		if ks.id, err = jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT")); err != nil {
			return fmt.Errorf("load signing key %s: %w", k.KID, err)
		}
		ks.kid, ks.alg = k.KID, k.Alg
	}
	if ks.at == nil {
		return errors.New("load signing keys: the store has no current key")
	}
	if ks.jwks, err = json.Marshal(set); err != nil {
		return fmt.Errorf("encode JWKS: %w", err)
	}
	s.keys.p.Store(ks)
	return nil
}

// sign serializes claims as a compact JWS with the current key.
func (s *Server) sign(claims map[string]any, accessToken bool) (string, error) {
	return s.keys.p.Load().sign(claims, accessToken)
}

func (ks *keyset) sign(claims map[string]any, accessToken bool) (string, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode token claims: %w", err)
	}
	signer := ks.id
	if accessToken {
		signer = ks.at
	}
	jws, err := signer.Sign(b)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return jws.CompactSerialize()
}

// atHash is an ID token's at_hash: the left half of the access token's
// digest under the hash of the signing algorithm (SHA-512 for Ed25519, as
// OpenID Connect clients such as go-oidc compute it).
func atHash(alg, accessToken string) string {
	if alg == "EdDSA" {
		sum := sha512.Sum512([]byte(accessToken))
		return base64.RawURLEncoding.EncodeToString(sum[:32])
	}
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// maxTokenSize caps what verify parses.
const maxTokenSize = 8 << 10

// verify checks a token this server signed (any published key) and
// returns its claims. typ "at+jwt" requires an access token; "" an ID
// token. Expiry is the caller's to check.
func (s *Server) verify(tok, typ string) (map[string]any, error) {
	if len(tok) > maxTokenSize || strings.Count(tok, ".") != 2 {
		return nil, errors.New("not a compact JWS")
	}
	jws, err := jose.ParseSignedCompact(tok, signingAlgs)
	if err != nil {
		return nil, fmt.Errorf("parse token: %w", err)
	}
	h := jws.Signatures[0].Header
	gotTyp, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if (typ == "at+jwt") != strings.EqualFold(gotTyp, "at+jwt") {
		return nil, errors.New("wrong token type")
	}
	key, ok := s.keys.p.Load().public[h.KeyID]
	if !ok || key.Algorithm != h.Algorithm {
		return nil, errors.New("unknown key")
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("decode token claims: %w", err)
	}
	if iss, _ := claims["iss"].(string); iss != s.cfg.Issuer {
		return nil, errors.New("wrong issuer")
	}
	return claims, nil
}

func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	// Gateways refetch on an unknown kid; a short max-age bounds how long a
	// removed key is trusted.
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Write(s.keys.p.Load().jwks)
}

// RevocationWindow is how long a revocation must stay in force for cfg:
// until every token issued before it has expired.
func RevocationWindow(cfg Config) time.Duration {
	cfg.setDefaults()
	return cfg.maxLifetime()
}
