package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KEKEnv is the environment variable that holds the key-encryption key: 32
// random bytes, base64.
const KEKEnv = "RAMPART_CA_KEK"

// KEKSize is the length of a key-encryption key (AES-256).
const KEKSize = 32

// ErrNoKEK means no key-encryption key was given; the CA refuses to run
// rather than keep its signing keys in the clear.
var ErrNoKEK = errors.New("no key-encryption key: set " + KEKEnv + " to 32 random bytes in base64 " +
	"(for example the output of `head -c 32 /dev/urandom | base64`) or pass --kek-file")

// ParseKEK decodes a base64 (standard or URL alphabet, padded or not)
// key-encryption key of KEKSize bytes. The error never repeats the input.
func ParseKEK(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, ErrNoKEK
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KEKSize {
				return nil, fmt.Errorf("key-encryption key is %d bytes, want %d", len(k), KEKSize)
			}
			return k, nil
		}
	}
	return nil, errors.New("key-encryption key is not valid base64")
}

func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) == 0 {
		return nil, ErrNoKEK
	}
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("key-encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return cipher.NewGCM(block)
}

// keyAAD binds a sealed key to its role and certificate, so that a key
// cannot be moved to another entry of the state file.
func keyAAD(role string, certDER []byte) []byte {
	h := sha256.Sum256(certDER)
	return append([]byte("rampart-ca-key/v1\x00"+role+"\x00"), h[:]...)
}

// seal encrypts with a fresh random nonce, prepended to the ciphertext. The
// KEK encrypts a handful of keys in its life, far from GCM's random-nonce limit.
func seal(aead cipher.AEAD, plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, aad), nil
}

func unseal(aead cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("sealed key is truncated")
	}
	n := aead.NonceSize()
	p, err := aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, errors.New("wrong key-encryption key, or the state file was altered")
	}
	return p, nil
}
