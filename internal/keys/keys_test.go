package keys

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/rampart-sec/rampart/sdk/fieldcrypt"
)

func newKEK(t testing.TB) tink.AEAD {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	kek, err := LoadKEK(base64.StdEncoding.EncodeToString(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

func newManager(t testing.TB) (*Manager, string, tink.AEAD) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	kek := newKEK(t)
	m, err := Open(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	return m, dir, kek
}

func mustCreate(t testing.TB, m *Manager, name string, typ Type) {
	t.Helper()
	if _, err := m.Create(name, typ); err != nil {
		t.Fatal(err)
	}
}

// Without a KEK nothing starts, and the message says what to set.
func TestKEKMissing(t *testing.T) {
	_, err := LoadKEK("", "")
	if !errors.Is(err, ErrNoKEK) || !strings.Contains(err.Error(), KEKEnv) {
		t.Fatalf("no KEK: %v", err)
	}
	if _, err := Open(t.TempDir(), nil); !errors.Is(err, ErrNoKEK) {
		t.Fatalf("Open without KEK: %v", err)
	}
	// A wrong value is refused without echoing it.
	secretish := "c2VjcmV0LXZhbHVlLXNob3J0"
	if _, err := LoadKEK(secretish, ""); err == nil || strings.Contains(err.Error(), secretish) {
		t.Fatalf("short KEK: %v", err)
	}
	// A KEK file must be private; a good one loads.
	raw := make([]byte, 32)
	rand.Read(raw)
	file := filepath.Join(t.TempDir(), "kek")
	os.WriteFile(file, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o644)
	if _, err := LoadKEK("", file); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("0644 KEK file: %v", err)
	}
	os.Chmod(file, 0o600)
	if _, err := LoadKEK("", file); err != nil {
		t.Fatal(err)
	}
}

func TestEncryptDecrypt(t *testing.T) {
	m, _, _ := newManager(t)
	mustCreate(t, m, "users", AEAD)
	mustCreate(t, m, "emails", Deterministic)
	pt, ad := []byte("alice@example.com"), []byte("row 7")

	c1, err := m.Encrypt("users", pt, ad)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := m.Encrypt("users", pt, ad)
	if !strings.HasPrefix(c1, "rampart:v1:") || c1 == c2 {
		t.Fatalf("AEAD ciphertexts %q %q: want the v1 prefix and fresh nonces", c1, c2)
	}
	if got, err := m.Decrypt("users", c1, ad); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("decrypt: %q %v", got, err)
	}

	d1, _ := m.Encrypt("emails", pt, ad)
	d2, _ := m.Encrypt("emails", pt, ad)
	if d1 != d2 {
		t.Fatalf("deterministic ciphertexts differ: %q %q", d1, d2)
	}
	if got, err := m.Decrypt("emails", d1, ad); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("deterministic decrypt: %q %v", got, err)
	}
}

// Every way a ciphertext can be wrong gets its own error, and no error
// says anything about the plaintext or the key.
func TestDecryptRefusals(t *testing.T) {
	m, _, _ := newManager(t)
	mustCreate(t, m, "users", AEAD)
	mustCreate(t, m, "other", AEAD)
	pt, ad := []byte("4111111111111111"), []byte("row 7")
	ct, _ := m.Encrypt("users", pt, ad)
	_, body, _ := fieldcrypt.ParseCiphertext(ct)
	tampered := bytes.Clone(body)
	tampered[len(tampered)/2] ^= 1

	for _, tc := range []struct {
		name, key, ct string
		ad            []byte
		want          error
	}{
		{"tampered", "users", fieldcrypt.FormatCiphertext(1, tampered), ad, ErrDecrypt},
		{"truncated", "users", fieldcrypt.FormatCiphertext(1, body[:10]), ad, ErrDecrypt},
		{"wrong associated data", "users", ct, []byte("row 8"), ErrDecrypt},
		{"no associated data", "users", ct, nil, ErrDecrypt},
		{"other key", "other", ct, ad, ErrDecrypt},
		{"unknown key", "nope", ct, ad, ErrUnknownKey},
		{"unknown version", "users", fieldcrypt.FormatCiphertext(9, body), ad, ErrUnknownVersion},
		{"malformed", "users", "vault:v1:" + ct[len("rampart:v1:"):], ad, ErrMalformedCiphertext},
		{"bad base64", "users", "rampart:v1:!!!", ad, ErrMalformedCiphertext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Decrypt(tc.key, tc.ct, tc.ad)
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("got %q, %v; want %v", got, err, tc.want)
			}
			if strings.Contains(err.Error(), string(pt)) {
				t.Fatalf("error leaks plaintext: %v", err)
			}
		})
	}
	// The legitimate request still passes.
	if got, err := m.Decrypt("users", ct, ad); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("legit decrypt: %q %v", got, err)
	}
}

func TestRotateRewrapMinVersion(t *testing.T) {
	m, _, _ := newManager(t)
	mustCreate(t, m, "users", AEAD)
	ad := []byte("ctx")
	old, _ := m.Encrypt("users", []byte("v1 secret"), ad)
	info, err := m.Rotate("users")
	if err != nil || info.Primary != 2 || len(info.Versions) != 2 {
		t.Fatalf("rotate: %+v %v", info, err)
	}
	fresh, _ := m.Encrypt("users", []byte("v2 secret"), ad)
	if !strings.HasPrefix(fresh, "rampart:v2:") {
		t.Fatalf("after rotation: %q", fresh)
	}
	// The old version still decrypts until told otherwise.
	if _, err := m.Decrypt("users", old, ad); err != nil {
		t.Fatal(err)
	}
	rewrapped, err := m.Rewrap("users", old, ad)
	if err != nil || !strings.HasPrefix(rewrapped, "rampart:v2:") {
		t.Fatalf("rewrap: %q %v", rewrapped, err)
	}
	if _, err := m.Rewrap("users", old, []byte("other")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("rewrap with wrong associated data: %v", err)
	}
	if _, err := m.SetMinDecryptionVersion("users", 3); err == nil {
		t.Fatal("minimum above the primary accepted")
	}
	if _, err := m.SetMinDecryptionVersion("users", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Decrypt("users", old, ad); !errors.Is(err, ErrVersionTooOld) {
		t.Fatalf("v1 below minimum: %v", err)
	}
	if _, err := m.Rewrap("users", old, ad); !errors.Is(err, ErrVersionTooOld) {
		t.Fatalf("rewrap of v1 below minimum: %v", err)
	}
	if got, err := m.Decrypt("users", rewrapped, ad); err != nil || string(got) != "v1 secret" {
		t.Fatalf("rewrapped: %q %v", got, err)
	}
}

func TestDisableVersion(t *testing.T) {
	m, _, _ := newManager(t)
	mustCreate(t, m, "users", AEAD)
	old, _ := m.Encrypt("users", []byte("x"), nil)
	if _, err := m.SetVersionDisabled("users", 1, true); err == nil || !strings.Contains(err.Error(), "primary") {
		t.Fatalf("disabling the primary: %v", err)
	}
	m.Rotate("users")
	if _, err := m.SetVersionDisabled("users", 1, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Decrypt("users", old, nil); !errors.Is(err, ErrVersionDisabled) {
		t.Fatalf("disabled version: %v", err)
	}
	if _, err := m.SetVersionDisabled("users", 7, true); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("unknown version: %v", err)
	}
	if _, err := m.SetVersionDisabled("users", 1, false); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Decrypt("users", old, nil); err != nil {
		t.Fatalf("enabled again: %v", err)
	}
}

func TestCreateRefusals(t *testing.T) {
	m, _, _ := newManager(t)
	mustCreate(t, m, "users", AEAD)
	if _, err := m.Create("users", AEAD); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("second create: %v", err)
	}
	for _, name := range []string{"", "Users", "../x", "a/b", strings.Repeat("a", 65), "-a"} {
		if _, err := m.Create(name, AEAD); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if _, err := m.Create("x", "rot13"); err == nil {
		t.Error("unknown type accepted")
	}
	if _, err := m.Rotate("nope"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("rotate unknown: %v", err)
	}
}

// Keyrings survive a restart, load only with their KEK, and refuse files
// edited without it.
func TestPersistence(t *testing.T) {
	m, dir, kek := newManager(t)
	mustCreate(t, m, "users", AEAD)
	m.Rotate("users")
	m.SetVersionDisabled("users", 1, true)
	ct, _ := m.Encrypt("users", []byte("kept"), nil)

	m2, err := Open(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m2.Decrypt("users", ct, nil); err != nil || string(got) != "kept" {
		t.Fatalf("after reopen: %q %v", got, err)
	}
	if info, _ := m2.Get("users"); !info.Versions[0].Disabled || info.Primary != 2 {
		t.Fatalf("state lost: %+v", info)
	}
	fi, _ := os.Stat(filepath.Join(dir, "users.keyring"))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}

	if _, err := Open(dir, newKEK(t)); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("another KEK: %v", err)
	}

	// Re-enabling version 1 by editing the file breaks the seal.
	path := filepath.Join(dir, "users.keyring")
	data, _ := os.ReadFile(path)
	edited := bytes.Replace(data, []byte(`"disabled":true`), []byte(`"disabled":false`), 1)
	if bytes.Equal(edited, data) {
		t.Fatal("test cannot find the disabled flag")
	}
	os.WriteFile(path, edited, 0o600)
	if _, err := Open(dir, kek); err == nil || !strings.Contains(err.Error(), "does not open") {
		t.Fatalf("edited file: %v", err)
	}

	// A keyring file copied under another name does not load either.
	os.WriteFile(path, data, 0o600)
	os.WriteFile(filepath.Join(dir, "copy.keyring"), data, 0o600)
	if _, err := Open(dir, kek); err == nil || !strings.Contains(err.Error(), `names key "users"`) {
		t.Fatalf("renamed file: %v", err)
	}
}

// The key material in the file is encrypted: no version's keyset is
// readable without the KEK.
func TestFileHoldsNoCleartextKeys(t *testing.T) {
	m, dir, _ := newManager(t)
	mustCreate(t, m, "users", AEAD)
	data, _ := os.ReadFile(filepath.Join(dir, "users.keyring"))
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	var b fileBody
	json.Unmarshal(env.Body, &b)
	if len(b.Versions) != 1 || len(b.Versions[0].Keyset) == 0 {
		t.Fatalf("body %s", env.Body)
	}
	if bytes.Contains(b.Versions[0].Keyset, []byte("type.googleapis.com/google.crypto.tink.AesGcmKey")) {
		t.Fatal("the keyset is stored in cleartext")
	}
}

// A running manager picks up what the CLI (another Manager) changed.
func TestReload(t *testing.T) {
	server, dir, kek := newManager(t)
	mustCreate(t, server, "users", AEAD)
	cli, err := Open(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Rotate("users"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, cli, "orders", Deterministic)
	if err := server.Reload(); err != nil {
		t.Fatal(err)
	}
	if info, _ := server.Get("users"); info.Primary != 2 {
		t.Fatalf("rotation not seen: %+v", info)
	}
	if len(server.List()) != 2 {
		t.Fatalf("list %+v", server.List())
	}
	os.Remove(filepath.Join(dir, "orders.keyring"))
	server.Reload()
	if _, err := server.Get("orders"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("removed keyring still served: %v", err)
	}
}

// Concurrent writers (two processes' managers) never lose a version.
func TestConcurrentRotate(t *testing.T) {
	a, dir, kek := newManager(t)
	mustCreate(t, a, "users", AEAD)
	b, _ := Open(dir, kek)
	var wg sync.WaitGroup
	for _, m := range []*Manager{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := m.Rotate("users"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	c, _ := Open(dir, kek)
	if info, _ := c.Get("users"); info.Primary != 11 || len(info.Versions) != 11 {
		t.Fatalf("lost versions: primary %d, %d versions", info.Primary, len(info.Versions))
	}
}

func TestDataKey(t *testing.T) {
	m, _, _ := newManager(t)
	mustCreate(t, m, "users", AEAD)
	key, ct, err := m.DataKey("users", 256, []byte("svc"))
	if err != nil || len(key) != 32 {
		t.Fatalf("%d %v", len(key), err)
	}
	if got, err := m.Decrypt("users", ct, []byte("svc")); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap: %v", err)
	}
	if _, _, err := m.DataKey("users", 100, nil); err == nil {
		t.Fatal("100 bits accepted")
	}
}

// Info handed out is a copy: changing it changes nothing served.
func TestInfoIsACopy(t *testing.T) {
	m, _, _ := newManager(t)
	mustCreate(t, m, "users", AEAD)
	m.Rotate("users")
	m.SetVersionDisabled("users", 1, true)
	old := "rampart:v1:AAAA"
	info, _ := m.Get("users")
	info.Versions[0].Disabled = false
	m.List()[0].Versions[0].Disabled = false
	if _, err := m.Decrypt("users", old, nil); !errors.Is(err, ErrVersionDisabled) {
		t.Fatalf("mutating Info re-enabled a version: %v", err)
	}
}

// The adapter lets sdk/fieldcrypt seal with a managed keyring and follows rotations.
func TestFieldcryptKeyring(t *testing.T) {
	m, _, _ := newManager(t)
	mustCreate(t, m, "pii", AEAD)
	k, err := m.Keyring("pii")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Keyring("nope"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown: %v", err)
	}
	c, err := fieldcrypt.New(fieldcrypt.Options{Keyring: k})
	if err != nil {
		t.Fatal(err)
	}
	type user struct {
		ID    string
		Email string `fieldcrypt:"pii"`
	}
	u := user{ID: "u1", Email: "a@example.com"}
	if err := c.Seal(u.ID, &u); err != nil {
		t.Fatal(err)
	}
	m.Rotate("pii")
	if changed, err := c.Rotate(u.ID, &u); err != nil || !changed || !strings.HasPrefix(u.Email, "rampart:v2:") {
		t.Fatalf("rotate: %v %v %q", changed, err, u.Email)
	}
	if err := c.Open(u.ID, &u); err != nil || u.Email != "a@example.com" {
		t.Fatalf("open: %v %q", err, u.Email)
	}
}

// Watch applies a rotation made by another process without a restart.
func TestWatch(t *testing.T) {
	server, dir, kek := newManager(t)
	mustCreate(t, server, "users", AEAD)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { server.Watch(ctx, time.Millisecond, nil); close(done) }()
	defer func() { cancel(); <-done }()

	cli, _ := Open(dir, kek)
	if _, err := cli.Rotate("users"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if info, _ := server.Get("users"); info.Primary == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rotation not picked up within 5s")
		}
		runtime.Gosched()
	}
}

// Any tink.AEAD can be the KEK: here tink's KMS envelope AEAD over a
// keyset-backed AEAD standing in for a cloud KMS key.
func TestKMSKEK(t *testing.T) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	remote, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	kek := aead.NewKMSEnvelopeAEAD2(aead.AES256GCMKeyTemplate(), remote)
	dir := t.TempDir()
	m, err := Open(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, m, "users", AEAD)
	ct, _ := m.Encrypt("users", []byte("x"), nil)
	m2, err := Open(dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m2.Decrypt("users", ct, nil); err != nil || string(got) != "x" {
		t.Fatalf("%q %v", got, err)
	}
}
