package demo

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/rampart-sec/rampart/internal/apikey"
	"github.com/rampart-sec/rampart/internal/config"
)

// The demo's stand-in identity provider: a key pair, its JWKS file and a few
// signed access tokens written to the demo directory, so that the tour can
// show protected routes without any external service. (`rampart token`, the
// real issuer, replaces it once it exists.)
const (
	demoIssuer   = "https://issuer.demo.rampart.local"
	demoAudience = "demo-api"
	demoKeyID    = "demo-1"
)

// demoTokens are the tokens the tour uses, by file name.
type demoTokens struct {
	dir string
	// Alice is user 42 with accounts:read; Bob is user 7 with accounts:read
	// and pii:read (he sees personal data unmasked);
	// Carol is user 42 without any scope; Forged is Alice's token with the
	// payload changed to subject 7 and the signature kept.
	Alice, Bob, Carol, Forged string
	// APIKey is the demo's machine client key (orders:read).
	APIKey string
}

// demoAPIKeyName is the demo's API key in the gateway's key store.
const demoAPIKeyName = "demo-batch"

// demoAPIKey creates the demo's API key in the store the gateway reads
// (DATA_DIR/api-keys/keys.json), revoking the previous run's, and writes it
// next to the tokens.
func demoAPIKey(dataDir string, toks demoTokens) (string, error) {
	s, err := apikey.OpenStore(config.APIKeys{}.StorePath(dataDir), apikey.Options{})
	if err != nil {
		return "", err
	}
	for _, r := range s.List() {
		if r.Name == demoAPIKeyName && r.Revoked.IsZero() {
			if _, err := s.Revoke(r.ID); err != nil {
				return "", err
			}
		}
	}
	key, _, err := s.Create(demoAPIKeyName, []string{"batch"}, []string{"orders:read"}, 24*time.Hour)
	if err != nil {
		return "", err
	}
	return key, os.WriteFile(toks.apiKeyPath(), []byte(key), 0o600)
}

func (d demoTokens) path(name string) string { return filepath.Join(d.dir, name+".jwt") }

// apiKeyPath is the file holding the demo's API key.
func (d demoTokens) apiKeyPath() string { return filepath.Join(d.dir, "batch.apikey") }

// writeIssuer creates a fresh demo signing key (every run: nothing to keep),
// the JWKS file the gateway reads, and the tokens.
func writeIssuer(dir string) (jwksFile string, toks demoTokens, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", toks, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: demoKeyID, Algorithm: string(jose.EdDSA), Use: "sig"}}}
	b, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		return "", toks, err
	}
	jwksFile = filepath.Join(dir, "issuer-jwks.json")
	if err := os.WriteFile(jwksFile, b, 0o644); err != nil {
		return "", toks, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: demoKeyID}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return "", toks, err
	}
	now := time.Now()
	mint := func(sub, scope string, roles ...string) (string, error) {
		c := map[string]any{
			"iss": demoIssuer, "aud": demoAudience, "sub": sub, "iat": now.Unix(), "nbf": now.Unix(),
			"exp": now.Add(12 * time.Hour).Unix(), "jti": fmt.Sprintf("%s-%d", sub, now.UnixNano()),
		}
		if scope != "" {
			c["scope"] = scope
		}
		if len(roles) > 0 {
			c["roles"] = roles
		}
		return jwt.Signed(signer).Claims(c).Serialize()
	}
	toks.dir = filepath.Join(dir, "tokens")
	if err := os.MkdirAll(toks.dir, 0o700); err != nil {
		return "", toks, err
	}
	if toks.Alice, err = mint("42", "accounts:read orders:read"); err != nil {
		return "", toks, err
	}
	if toks.Bob, err = mint("7", "accounts:read pii:read"); err != nil {
		return "", toks, err
	}
	if toks.Carol, err = mint("42", ""); err != nil {
		return "", toks, err
	}
	toks.Forged = forge(toks.Alice, toks.Bob)
	for name, tok := range map[string]string{"alice": toks.Alice, "bob": toks.Bob, "carol": toks.Carol, "forged": toks.Forged} {
		if err := os.WriteFile(toks.path(name), []byte(tok), 0o600); err != nil {
			return "", toks, err
		}
	}
	return jwksFile, toks, nil
}

// forge makes the classic tampered token: one token's header and signature
// around another token's payload (here: Alice's signature, Bob's claims).
func forge(sigFrom, payloadFrom string) string {
	a := strings.SplitN(sigFrom, ".", 3)
	b := strings.SplitN(payloadFrom, ".", 3)
	return a[0] + "." + b[1] + "." + a[2]
}
