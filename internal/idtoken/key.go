package idtoken

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open identity key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat identity key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("identity key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("identity key %s is accessible by group or others (mode %#o): chmod 600 it", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read identity key %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("identity key %s is too large to be an Ed25519 key", path)
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
func createKey(path string) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create identity key directory: %w", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate identity key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode identity key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".identity-key-*.tmp") // mode 0600
	if err != nil {
		return fmt.Errorf("create identity key %s: %w", path, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return fmt.Errorf("write identity key %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync identity key %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write identity key %s: %w", path, err)
	}
	// Link, unlike rename, never replaces a key another process wrote
	// meanwhile. Where hard links are not supported, rename.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("install identity key %s: %w", path, err)
		}
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync identity key directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync identity key directory %s: %w", dir, err)
	}
	return nil
}
