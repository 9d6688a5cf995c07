package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/rampart-sec/rampart/internal/keys"
)

// runKeys runs "rampart keys ARGS" with stdin and returns stdout.
func runKeys(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := keysCmd(&out, &errb)
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&errb)
	cmd.SetErr(&errb)
	err := cmd.Execute()
	return out.String(), err
}

func TestKeysCLIWithoutKEK(t *testing.T) {
	t.Setenv(keys.KEKEnv, "")
	_, err := runKeys(t, "", "list", "--dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), keys.KEKEnv) || !strings.Contains(err.Error(), "no key-encryption key") {
		t.Fatalf("want a clear KEK message, got %v", err)
	}
}

func TestKeysCLI(t *testing.T) {
	kek, err := runKeys(t, "", "generate-kek")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(kek)); err != nil || len(b) != 32 {
		t.Fatalf("generated KEK %q", kek)
	}
	t.Setenv(keys.KEKEnv, strings.TrimSpace(kek))
	dir := filepath.Join(t.TempDir(), "keys")

	if out, err := runKeys(t, "", "create", "users", "--dir", dir); err != nil || !strings.Contains(out, "users (aead): primary v1") {
		t.Fatalf("create: %q %v", out, err)
	}
	if _, err := runKeys(t, "", "create", "users", "--dir", dir); err == nil {
		t.Fatal("second create accepted")
	}

	// A ciphertext made before the rotation, by the running service's manager.
	m, err := keys.Open(dir, mustKEK(t, strings.TrimSpace(kek)))
	if err != nil {
		t.Fatal(err)
	}
	ad := []byte("row-1")
	old, _ := m.Encrypt("users", []byte("secret"), ad)

	if out, err := runKeys(t, "", "rotate", "users", "--dir", dir); err != nil || !strings.Contains(out, "primary v2") {
		t.Fatalf("rotate: %q %v", out, err)
	}
	out, err := runKeys(t, old+"\n", "rewrap", "users", "--context", base64.StdEncoding.EncodeToString(ad), "--dir", dir)
	if err != nil || !strings.HasPrefix(out, "rampart:v2:") || strings.Contains(out, "secret") {
		t.Fatalf("rewrap: %q %v", out, err)
	}
	if _, err := runKeys(t, old+"\n", "rewrap", "users", "--dir", dir); err == nil {
		t.Fatal("rewrap with the wrong context accepted")
	}
	if out, err := runKeys(t, "", "min-version", "users", "v2", "--dir", dir); err != nil || !strings.Contains(out, "below minimum") {
		t.Fatalf("min-version: %q %v", out, err)
	}
	if _, err := runKeys(t, "", "disable", "users", "2", "--dir", dir); err == nil {
		t.Fatal("disabling the primary accepted")
	}
	runKeys(t, "", "rotate", "users", "--dir", dir)
	if out, err := runKeys(t, "", "disable", "users", "2", "--dir", dir); err != nil || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %q %v", out, err)
	}
	if out, err := runKeys(t, "", "list", "--dir", dir); err != nil || !strings.Contains(out, "users  aead  v3       v2") {
		t.Fatalf("list: %q %v", out, err)
	}

	// The running manager sees the CLI's changes once it reloads.
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Decrypt("users", old, ad); !errors.Is(err, keys.ErrVersionTooOld) {
		t.Fatalf("v1 below the minimum: %v", err)
	}
	if _, err := runKeys(t, old+"\n", "rewrap", "users", "--context", base64.StdEncoding.EncodeToString(ad), "--dir", dir); !errors.Is(err, keys.ErrVersionTooOld) {
		t.Fatalf("rewrap below the minimum: %v", err)
	}
}

func mustKEK(t *testing.T, b64 string) tink.AEAD {
	t.Helper()
	k, err := keys.LoadKEK(b64, "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Every keyring change made with the CLI is a security event on stderr:
// what changed and who ran it, never key material.
func TestKeysCLIChangesAreEvents(t *testing.T) {
	kek, _ := runKeys(t, "", "generate-kek")
	t.Setenv(keys.KEKEnv, strings.TrimSpace(kek))
	dir := filepath.Join(t.TempDir(), "keys")
	for _, c := range []struct {
		args   []string
		reason string
	}{
		{[]string{"create", "users"}, "create"},
		{[]string{"rotate", "users"}, "rotate"},
		{[]string{"disable", "users", "1"}, "disable"},
		{[]string{"enable", "users", "1"}, "enable"},
		{[]string{"min-version", "users", "2"}, "min_version"},
	} {
		var out, errb bytes.Buffer
		cmd := keysCmd(&out, &errb)
		cmd.SetArgs(append(c.args, "--dir", dir))
		cmd.SetOut(&errb)
		cmd.SetErr(&errb)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		log := errb.String()
		for _, want := range []string{`"type":"keyring_changed"`, `"reason":"` + c.reason + `"`, `"principal":"os:`, `key=\"users\"`} {
			if !strings.Contains(log, want) {
				t.Fatalf("%v: no %s in %s", c.args, want, log)
			}
		}
	}
	// A refused change is an error, not an event.
	var out, errb bytes.Buffer
	cmd := keysCmd(&out, &errb)
	cmd.SetArgs([]string{"disable", "users", "2", "--dir", dir})
	cmd.SetOut(&errb)
	cmd.SetErr(&errb)
	if err := cmd.Execute(); err == nil || strings.Contains(errb.String(), "keyring_changed") {
		t.Fatalf("disabling the primary: %v %s", err, errb.String())
	}
}
