package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-sec/rampart/internal/token/store"
)

var testKEK = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func runToken(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := tokenCmd(&out, &errOut)
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&errOut)
	cmd.SetErr(&errOut)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestTokenCLI(t *testing.T) {
	t.Setenv("RAMPART_TOKEN_KEK", testKEK)
	db := filepath.Join(t.TempDir(), "token.db")

	secret, _, err := runToken(t, "", "clients", "create", "svc", "--store", db, "--scopes", "a,b", "--audiences", "api")
	if err != nil {
		t.Fatal(err)
	}
	secret = strings.TrimSpace(secret)
	if len(secret) < 40 {
		t.Fatalf("printed secret %q", secret)
	}
	list, _, err := runToken(t, "", "clients", "list", "--store", db)
	if err != nil || !strings.Contains(list, "svc") || strings.Contains(list, secret) || strings.Contains(list, "argon2") {
		t.Fatalf("list: %q %v", list, err)
	}
	if _, _, err := runToken(t, "", "clients", "create", "spa", "--store", db, "--public", "--grant-types", "authorization_code",
		"--redirect-uris", "https://app/cb"); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runToken(t, "", "clients", "revoke", "svc", "--store", db); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %q %v", out, err)
	}

	if _, _, err := runToken(t, "short\n", "users", "add", "alice", "--store", db, "--password-stdin"); err == nil {
		t.Fatal("a short password was accepted")
	}
	if _, _, err := runToken(t, "a long enough password\n", "users", "add", "alice", "--store", db, "--password-stdin", "--roles", "admin"); err != nil {
		t.Fatal(err)
	}
	generated, _, err := runToken(t, "", "users", "passwd", "alice", "--store", db)
	if err != nil || len(strings.TrimSpace(generated)) < 40 {
		t.Fatalf("passwd: %q %v", generated, err)
	}
	if out, _, err := runToken(t, "", "users", "disable", "alice", "--store", db); err != nil || !strings.Contains(out, "disabled user alice") {
		t.Fatalf("disable: %q %v", out, err)
	}

	if _, _, err := runToken(t, "", "keys", "rotate", "--store", db); err != nil {
		t.Fatal(err)
	}
	keys, _, err := runToken(t, "", "keys", "list", "--store", db)
	if err != nil || strings.Count(keys, "EdDSA") != 3 || !strings.Contains(keys, "retired") || !strings.Contains(keys, "next") {
		t.Fatalf("keys after the first rotation: %q %v", keys, err)
	}

	st, err := store.Open(context.Background(), db, store.Options{KEK: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := st.GetClient(context.Background(), "svc")
	if err != nil || c.Revoked.IsZero() || !store.VerifySecret(c.SecretHash, secret) {
		t.Fatalf("stored client: %+v %v", c, err)
	}
	u, err := st.GetUser(context.Background(), "alice")
	if err != nil || u.Disabled.IsZero() || !store.VerifySecret(u.PasswordHash, strings.TrimSpace(generated)) || u.Roles[0] != "admin" {
		t.Fatalf("stored user: %+v %v", u, err)
	}
}

func TestTokenCLIKeyEncryptionKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "token.db")
	t.Setenv("RAMPART_TOKEN_KEK", "")
	if _, _, err := runToken(t, "", "keys", "list", "--store", db); err == nil || !strings.Contains(err.Error(), "RAMPART_TOKEN_KEK") {
		t.Fatalf("no KEK: %v", err)
	}
	t.Setenv("RAMPART_TOKEN_KEK", base64.StdEncoding.EncodeToString([]byte("too short")))
	if _, _, err := runToken(t, "", "keys", "list", "--store", db); err == nil {
		t.Fatal("a short KEK was accepted")
	}
	// A key file others can read is refused; a private one works.
	kf := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(kf, []byte(testKEK+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runToken(t, "", "keys", "list", "--store", db, "--key-file", kf); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
	if err := os.Chmod(kf, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runToken(t, "", "keys", "rotate", "--store", db, "--key-file", kf); err != nil {
		t.Fatalf("private key file: %v", err)
	}
	if _, _, err := runToken(t, "", "keys", "list", "--store", db); err == nil || strings.Contains(err.Error(), testKEK) {
		t.Fatalf("error leaks the key or opens without one: %v", err)
	}
}
