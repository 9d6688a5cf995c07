package principal

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// maxKeySetSize bounds a fetched key set; the gateway's is about 200 bytes.
const maxKeySetSize = 256 << 10

// keySet is an immutable set of the gateway's public keys, by key id.
type keySet struct {
	keys    map[string]ed25519.PublicKey
	fetched time.Time
}

// jwk holds the members of a JWK that matter here.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	D   string `json:"d"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// parseKeySet reads a JWK Set and keeps its Ed25519 signing keys that have a
// key id. Keys of other types are skipped (they could not verify an identity
// token anyway); a set with no usable key, a duplicate key id or a private
// key is refused.
func parseKeySet(b []byte) (*keySet, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse JWK set: %w", err)
	}
	ks := &keySet{keys: make(map[string]ed25519.PublicKey, len(doc.Keys))}
	for i, k := range doc.Keys {
		if k.D != "" {
			return nil, fmt.Errorf("parse JWK set: key %d (kid %.64q) is a private key", i, k.Kid)
		}
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Kid == "" ||
			(k.Alg != "" && k.Alg != IdentityAlgorithm) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		x, err := b64.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("parse JWK set: key %.64q: x is not a base64url Ed25519 public key", k.Kid)
		}
		if _, dup := ks.keys[k.Kid]; dup {
			return nil, fmt.Errorf("parse JWK set: key id %.64q appears twice", k.Kid)
		}
		ks.keys[k.Kid] = ed25519.PublicKey(x)
	}
	if len(ks.keys) == 0 {
		return nil, errors.New("parse JWK set: no Ed25519 signing key with a key id")
	}
	return ks, nil
}

// key returns the public key named kid, fetching the key set when there is
// none yet, when it is due for refresh, or when kid is unknown; fetches are
// rate-limited by refetch.
func (v *Verifier) key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	ks := v.keys.Load()
	switch {
	case v.jwksURL == "":
		// A static key set: nothing to fetch.
	case ks == nil:
		var err error
		if ks, err = v.refetch(ctx, true); ks == nil {
			if err == nil {
				err = errors.New("no key set fetched yet")
			}
			return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
		}
	case v.now().Sub(ks.fetched) >= v.refresh:
		// Whoever notices first refreshes; the others go on with the
		// current set rather than wait.
		if nks, _ := v.refetch(ctx, false); nks != nil {
			ks = nks
		}
	}
	if k, ok := ks.keys[kid]; ok {
		return k, nil
	}
	if v.jwksURL != "" {
		// Perhaps the gateway rotated its key. Wait for a fetch in flight,
		// which may bring it.
		if nks, _ := v.refetch(ctx, true); nks != nil {
			if k, ok := nks.keys[kid]; ok {
				return k, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: unknown key id %.64q", ErrInvalidToken, kid)
}

// refetch fetches the key set unless a fetch happened less than
// minRefetch ago, and returns the current set (nil if there has never been
// one) with the error of the last attempt. With wait false it returns at
// once if another caller is fetching.
func (v *Verifier) refetch(ctx context.Context, wait bool) (*keySet, error) {
	if wait {
		select {
		case v.fetching <- struct{}{}:
		case <-ctx.Done():
			return v.keys.Load(), fmt.Errorf("wait for the key set: %w", ctx.Err())
		}
	} else {
		select {
		case v.fetching <- struct{}{}:
		default:
			return v.keys.Load(), nil
		}
	}
	defer func() { <-v.fetching }()
	now := v.now()
	if !v.lastAttempt.IsZero() && now.Sub(v.lastAttempt) < v.minRefetch {
		return v.keys.Load(), v.lastErr
	}
	ks, err := v.fetch(ctx)
	if err != nil {
		// A caller that gave up (its client went away) says nothing about
		// the gateway: let the next caller try at once.
		if ctx.Err() == nil {
			v.lastAttempt, v.lastErr = now, err
		}
		return v.keys.Load(), err
	}
	ks.fetched = now
	v.lastAttempt, v.lastErr = now, nil
	v.keys.Store(ks)
	return ks, nil
}

// fetch downloads and parses the key set at jwksURL.
func (v *Verifier) fetch(ctx context.Context) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch identity keys from %s: %w", v.jwksURL, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch identity keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch identity keys from %s: status %s", v.jwksURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySetSize+1))
	if err != nil {
		return nil, fmt.Errorf("fetch identity keys from %s: read body: %w", v.jwksURL, err)
	}
	if len(body) > maxKeySetSize {
		return nil, fmt.Errorf("fetch identity keys from %s: more than %d bytes", v.jwksURL, maxKeySetSize)
	}
	ks, err := parseKeySet(body)
	if err != nil {
		return nil, fmt.Errorf("fetch identity keys from %s: %w", v.jwksURL, err)
	}
	return ks, nil
}
