package idtoken

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"

	"github.com/rampart-sec/rampart/internal/securefile"
)

// LoadOrCreateKey returns the Ed25519 private key in the PKCS#8 PEM file at
// path, creating the file with a new key if it does not exist. It refuses a
// key file that group or others may read, a key of another type and a file
// that holds no key; errors name the path.
//
// A new key is written to a temporary file in the same directory, synced and
// then linked into place without replacing an existing file (another process
// may have created one meanwhile: that key wins), so a crash never leaves a
// partial key at path. The directory is created with mode 0700, the file has
// mode 0600.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	key, err := loadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createKey(path); err != nil {
		return nil, err
	}
	return loadKey(path)
}

// maxKeyFileSize bounds the key file: a PEM Ed25519 key is 119 bytes.
const maxKeyFileSize = 4 << 10

// loadKey reads the key at path; an error wrapping fs.ErrNotExist means
// there is no file.
func loadKey(path string) (ed25519.PrivateKey, error) {
	data, err := securefile.ReadPrivate("identity key", path, maxKeyFileSize)
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("identity key %s: no PEM \"PRIVATE KEY\" block", path)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("identity key %s: unexpected data after the key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("identity key %s: parse PKCS#8: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("identity key %s: a %T, not an Ed25519 key", path, k)
	}
	return ek, nil
}

// createKey writes a new key to path unless a file already exists there.
func createKey(path string) error {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate identity key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode identity key: %w", err)
	}
	// Create links the key into place: another process's key, created
	// meanwhile, wins and is what LoadOrCreateKey then reads.
	if _, err := securefile.Create(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return fmt.Errorf("create identity key: %w", err)
	}
	return nil
}
