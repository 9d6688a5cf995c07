package idtoken

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKeyCreatesThenReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "identity")
	path := filepath.Join(dir, "identity-key.pem")

	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %#o, want 0600", perm)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("key directory mode = %#o, want 0700", perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key (no temporary file left)", len(entries))
	}

	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if !k1.Equal(k2) {
		t.Fatal("reloaded key differs from the created one")
	}
}

func TestLoadOrCreateKeyRefuses(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	valid := pkcs8(edKey)
	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
		want    string
	}{
		{"world readable", valid, 0o644, "group or others"},
		{"group readable", valid, 0o640, "group or others"},
		{"garbage", []byte("not a key at all\n"), 0o600, "no PEM"},
		{"empty", nil, 0o600, "no PEM"},
		{"rsa pkcs8", pkcs8(rsaKey), 0o600, "not an Ed25519 key"},
		{"ecdsa pkcs8", pkcs8(ecKey), 0o600, "not an Ed25519 key"},
		{"rsa pkcs1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), 0o600, "no PEM"},
		{"bad der", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nonsense")}), 0o600, "parse PKCS#8"},
		{"trailing data", append(append([]byte{}, valid...), "more"...), 0o600, "after the key"},
		{"huge", []byte(strings.Repeat("A", 1<<20)), 0o600, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity-key.pem")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // not subject to umask
				t.Fatal(err)
			}
			k, err := LoadOrCreateKey(path)
			if err == nil {
				t.Fatalf("loaded a key (%d bytes), want an error", len(k))
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q should name %s and say %q", err, path, tt.want)
			}
			// The refused file is left as it was, never replaced.
			got, err := os.ReadFile(path)
			if err != nil || string(got) != string(tt.content) {
				t.Fatalf("key file changed (err %v)", err)
			}
		})
	}
}

func TestLoadOrCreateKeyRefusesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity-key.pem")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v, want a refusal of the directory", err)
	}
}
