package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxKeySetSize caps a JWKS document; real ones are a few KiB.
const maxKeySetSize = 1 << 20

// minRSABits: shorter RSA keys are skipped when a key set is loaded.
const minRSABits = 2048

// key is one verification key of an issuer.
type key struct {
	kid string
	// alg is the key's own "alg", or "" when the key set does not say.
	alg  string
	pub  crypto.PublicKey
	hmac []byte
}

// compatible reports whether k may verify a signature made with alg: the
// key's type must be the algorithm's (an RSA key never verifies HS256, an
// Ed25519 key never ES256), and a key that names its algorithm only that one.
func (k *key) compatible(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pub := k.pub.(type) {
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case *ecdsa.PublicKey:
		return alg == "ES256" && pub.Curve == elliptic.P256() || alg == "ES384" && pub.Curve == elliptic.P384()
	case *rsa.PublicKey:
		return alg == "RS256" || alg == "PS256"
	case nil:
		return alg == "HS256" && len(k.hmac) > 0
	}
	return false
}

// same reports whether two keys are the same key under the same name.
func (k *key) same(o *key) bool {
	if k.kid != o.kid || k.alg != o.alg {
		return false
	}
	eq, ok := k.pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(o.pub)
}

// keySet is an issuer's keys at one moment. It is never modified once built.
type keySet struct {
	keys    []*key
	fetched time.Time
	// maxAge is the issuer's Cache-Control max-age, 0 when it gave none.
	maxAge time.Duration
}

// find returns the keys that may verify a token with this kid and alg. A
// token without kid is matched against every compatible key; an issuer that
// has several keys should send kids, and we try at most a few.
func (s *keySet) find(kid, alg string) []*key {
	var out []*key
	for _, k := range s.keys {
		if (kid == "" || k.kid == kid) && k.compatible(alg) {
			out = append(out, k)
		}
	}
	if kid == "" && len(out) > 3 {
		return nil
	}
	return out
}

// parseKeySet reads a JWKS document and keeps the keys this issuer can use:
// public signature keys of an allowed algorithm. Symmetric keys are never
// taken from a key set (that is how a key set becomes an HMAC secret).
// skipped says what was left out and why, for the log.
func parseKeySet(b []byte, algs []string) (keys []*key, skipped []string, err error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	for i, rk := range raw.Keys {
		var jk jose.JSONWebKey
		if err := jk.UnmarshalJSON(rk); err != nil {
			skipped = append(skipped, fmt.Sprintf("keys[%d]: %v", i, err))
			continue
		}
		k := &key{kid: jk.KeyID, alg: jk.Algorithm}
		switch {
		case jk.Use != "" && jk.Use != "sig":
			skipped = append(skipped, fmt.Sprintf("keys[%d] (kid %q): use %q is not sig", i, jk.KeyID, jk.Use))
			continue
		case k.alg != "" && !slices.Contains(algs, k.alg):
			skipped = append(skipped, fmt.Sprintf("keys[%d] (kid %q): algorithm %s is not allowed for this issuer", i, jk.KeyID, k.alg))
			continue
		}
		switch pub := jk.Key.(type) {
		case ed25519.PublicKey:
			k.pub = pub
		case *ecdsa.PublicKey:
			k.pub = pub
		case *rsa.PublicKey:
			if pub.N.BitLen() < minRSABits {
				skipped = append(skipped, fmt.Sprintf("keys[%d] (kid %q): RSA key of %d bits (at least %d required)", i, jk.KeyID, pub.N.BitLen(), minRSABits))
				continue
			}
			k.pub = pub
		case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey:
			// A key set must be public; an issuer that publishes its private
			// key is compromised, and we do not help it along.
			skipped = append(skipped, fmt.Sprintf("keys[%d] (kid %q): private key material in a public key set", i, jk.KeyID))
			continue
		default:
			skipped = append(skipped, fmt.Sprintf("keys[%d] (kid %q): key type %T is not used for signatures here", i, jk.KeyID, jk.Key))
			continue
		}
		usable := false
		for _, a := range algs {
			usable = usable || k.compatible(a)
		}
		if !usable {
			skipped = append(skipped, fmt.Sprintf("keys[%d] (kid %q): fits none of the allowed algorithms %s", i, jk.KeyID, strings.Join(algs, ", ")))
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, errors.New("the key set has no usable signature key")
	}
	return keys, skipped, nil
}

// fetchKeySet reads the issuer's key set from its jwks_uri or jwks_file.
func fetchKeySet(ctx context.Context, cfg *IssuerConfig, client *http.Client) (b []byte, maxAge time.Duration, err error) {
	if cfg.JWKSFile != "" {
		b, err := os.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, 0, fmt.Errorf("read jwks_file: %w", err)
		}
		if len(b) > maxKeySetSize {
			return nil, 0, fmt.Errorf("jwks_file %s is larger than %d bytes", cfg.JWKSFile, maxKeySetSize)
		}
		return b, 0, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.JWKSURI, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, 0, fmt.Errorf("fetch jwks_uri: status %d", resp.StatusCode)
	}
	b, err = io.ReadAll(io.LimitReader(resp.Body, maxKeySetSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("fetch jwks_uri: read body: %w", err)
	}
	if len(b) > maxKeySetSize {
		return nil, 0, fmt.Errorf("fetch jwks_uri: key set larger than %d bytes", maxKeySetSize)
	}
	return b, cacheMaxAge(resp.Header.Get("Cache-Control")), nil
}

// cacheMaxAge reads max-age from a Cache-Control header; 0 when absent, or
// when the response says not to cache it.
func cacheMaxAge(cc string) time.Duration {
	var age time.Duration
	for _, d := range strings.Split(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return 0
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.Atoi(strings.Trim(d[len("max-age="):], `"`))
			if err == nil && n > 0 {
				age = time.Duration(n) * time.Second
			}
		}
	}
	return age
}

// newHTTPClient is the default client for key sets: timeouts, TLS 1.2+, no
// proxy from the environment, and no redirects (a redirect could take the
// fetch to a host, or a scheme, that the configuration never named).
func newHTTPClient(base *http.Client) *http.Client {
	c := &http.Client{Timeout: 10 * time.Second}
	if base != nil {
		*c = *base
		if c.Timeout == 0 {
			c.Timeout = 10 * time.Second
		}
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		t.TLSHandshakeTimeout = 5 * time.Second
		t.MaxIdleConnsPerHost = 2
		c.Transport = t
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error {
		return errors.New("redirects are not followed for key sets: configure the final jwks_uri")
	}
	return c
}
