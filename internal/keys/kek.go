package keys

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/rampart-sec/rampart/internal/securefile"
)

// KEKEnv is the environment variable that holds the key-encryption key.
const KEKEnv = "RAMPART_KEYS_KEK"

// ErrNoKEK: neither RAMPART_KEYS_KEK nor a KEK file was given. Its text is
// what an operator needs to fix it.
var ErrNoKEK = errors.New("no key-encryption key: set " + KEKEnv +
	" to 32 random bytes in base64 (rampart keys generate-kek, or openssl rand -base64 32), or give a KEK file;" +
	" keyrings are encrypted under it and cannot be read without it")

// LoadKEK returns the local key-encryption key: the base64 value of
// env (usually os.Getenv(KEKEnv)) or, when that is empty, the content of
// file (base64 text, readable by its owner only). Cloud KMS keys need no
// loader: any tink.AEAD (for example from a tink KMS client's GetAEAD) can
// be given to Open directly.
func LoadKEK(env, file string) (tink.AEAD, error) {
	src, enc := KEKEnv, strings.TrimSpace(env)
	if enc == "" {
		if file == "" {
			return nil, ErrNoKEK
		}
		b, err := securefile.ReadPrivate("key-encryption key", file, 1024)
		if err != nil {
			return nil, fmt.Errorf("load key-encryption key: %w", err)
		}
		src, enc = file, strings.TrimSpace(string(b))
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(key) != 32 {
		// Neither the value nor the decoder's error goes into the message:
		// both would show part of the secret.
		return nil, fmt.Errorf("load key-encryption key from %s: want 32 bytes in standard base64", src)
	}
	a, err := subtle.NewAESGCM(key)
	if err != nil {
		return nil, fmt.Errorf("load key-encryption key from %s: %w", src, err)
	}
	return a, nil
}
