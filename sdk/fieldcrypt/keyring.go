package fieldcrypt

import (
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	dsubtle "github.com/tink-crypto/tink-go/v2/daead/subtle"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// Keyring seals and opens values under the versions of one named key.
// Encrypt uses the primary version and returns a "rampart:vN:BASE64"
// ciphertext; Decrypt reads the version from the ciphertext. A
// deterministic keyring returns the same ciphertext for the same plaintext,
// associated data and version; a randomized one never does.
//
// NewKeyring makes one from raw keys; Rampart's key manager
// (internal/keys, "rampart keys") provides one per managed keyring.
type Keyring interface {
	Encrypt(plaintext, associatedData []byte) (string, error)
	Decrypt(ciphertext string, associatedData []byte) ([]byte, error)
	// PrimaryVersion is the version Encrypt uses now; Rotate re-encrypts
	// values sealed under any other.
	PrimaryVersion() int
}

// Mode selects the algorithm of a keyring made by NewKeyring.
type Mode int

// Modes.
const (
	// Randomized is AES-256-GCM with a fresh random nonce per value (keys of 32 bytes).
	Randomized Mode = iota
	// Deterministic is AES-SIV (RFC 5297, keys of 64 bytes): equal values
	// give equal ciphertexts, so a column can be searched by equality, at
	// the price of revealing which rows are equal.
	Deterministic
)

// localKeyring holds every version's primitive; versions[i] is version i+1.
type localKeyring struct {
	aeads  []tink.AEAD
	daeads []tink.DeterministicAEAD
}

// NewKeyring returns a Keyring over raw keys: keys[0] is version 1, and
// the last key is the primary. The keys must come from crypto/rand and be
// kept secret (a secret manager, a file only the service reads); retire a
// version only once Rotate has re-encrypted every value sealed under it.
func NewKeyring(mode Mode, keys ...[]byte) (Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("fieldcrypt: new keyring: no keys")
	}
	k := &localKeyring{}
	for i, key := range keys {
		switch mode {
		case Randomized:
			if len(key) != 32 {
				return nil, fmt.Errorf("fieldcrypt: new keyring: key %d: AES-256-GCM needs 32 bytes, got %d", i+1, len(key))
			}
			a, err := subtle.NewAESGCM(key)
			if err != nil {
				return nil, fmt.Errorf("fieldcrypt: new keyring: key %d: %w", i+1, err)
			}
			k.aeads = append(k.aeads, a)
		case Deterministic:
			if len(key) != 64 {
				return nil, fmt.Errorf("fieldcrypt: new keyring: key %d: AES-SIV needs 64 bytes, got %d", i+1, len(key))
			}
			d, err := dsubtle.NewAESSIV(key)
			if err != nil {
				return nil, fmt.Errorf("fieldcrypt: new keyring: key %d: %w", i+1, err)
			}
			k.daeads = append(k.daeads, d)
		default:
			return nil, fmt.Errorf("fieldcrypt: new keyring: unknown mode %d", mode)
		}
	}
	return k, nil
}

func (k *localKeyring) PrimaryVersion() int { return len(k.aeads) + len(k.daeads) }

func (k *localKeyring) Encrypt(plaintext, ad []byte) (string, error) {
	v := k.PrimaryVersion()
	var body []byte
	var err error
	if k.aeads != nil {
		body, err = k.aeads[v-1].Encrypt(plaintext, ad)
	} else {
		body, err = k.daeads[v-1].EncryptDeterministically(plaintext, ad)
	}
	if err != nil {
		return "", fmt.Errorf("fieldcrypt: encrypt: %w", err)
	}
	return FormatCiphertext(v, body), nil
}

func (k *localKeyring) Decrypt(ciphertext string, ad []byte) ([]byte, error) {
	v, body, err := ParseCiphertext(ciphertext)
	if err != nil {
		return nil, err
	}
	if v > k.PrimaryVersion() {
		return nil, ErrUnknownVersion
	}
	var pt []byte
	if k.aeads != nil {
		pt, err = k.aeads[v-1].Decrypt(body, ad)
	} else {
		pt, err = k.daeads[v-1].DecryptDeterministically(body, ad)
	}
	if err != nil {
		// The primitive's error adds nothing a caller may act on.
		return nil, ErrDecrypt
	}
	return pt, nil
}
