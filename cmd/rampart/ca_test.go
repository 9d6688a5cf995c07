package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/identity"
)

// runCA runs `rampart ca ARGS...` and returns stdout, stderr and the error.
func runCA(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	cmd := caCmd(&out, &errOut)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage = true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestCACommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	t.Setenv(identity.KEKEnv, "")
	if _, _, err := runCA("init", "--dir", dir, "--trust-domain", "example.test"); !errors.Is(err, identity.ErrNoKEK) {
		t.Fatalf("init without KEK: %v", err)
	}
	t.Setenv(identity.KEKEnv, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	td := spiffeid.RequireTrustDomainFromString("example.test")

	out, _, err := runCA("init", "--dir", dir, "--trust-domain", "example.test", "--log-level", "error")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := x509bundle.Parse(td, []byte(out)); err != nil || len(b.X509Authorities()) != 1 {
		t.Fatalf("init printed no bundle: %v\n%s", err, out)
	}
	if _, _, err := runCA("init", "--dir", dir, "--trust-domain", "example.test"); !errors.Is(err, identity.ErrExists) {
		t.Fatalf("second init: %v", err)
	}

	out, _, err = runCA("token", "--dir", dir, "--spiffe-id", "spiffe://example.test/orders", "--ttl", "5m", "--log-level", "error")
	if err != nil || !strings.HasPrefix(out, "rjt_") {
		t.Fatalf("token: %q %v", out, err)
	}
	if _, _, err := runCA("token", "--dir", dir, "--spiffe-id", "spiffe://other.test/orders"); err == nil {
		t.Fatal("token for another trust domain")
	}

	certFile, keyFile := filepath.Join(t.TempDir(), "svid.pem"), filepath.Join(t.TempDir(), "svid.key")
	if _, _, err := runCA("issue", "--dir", dir, "--spiffe-id", "spiffe://example.test/orders", "--cert", certFile, "--key", keyFile, "--ttl", "10m", "--log-level", "error"); err != nil {
		t.Fatal(err)
	}
	svid, err := x509svid.Load(certFile, keyFile)
	if err != nil || svid.ID.String() != "spiffe://example.test/orders" {
		t.Fatalf("issued SVID: %v", err)
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}

	if _, _, err := runCA("rotate", "--dir", dir); err == nil {
		t.Fatal("rotate without --intermediate or --root")
	}
	if _, _, err := runCA("rotate", "--dir", dir, "--root", "--activate-after", "1m", "--log-level", "error"); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCA("bundle", "--dir", dir)
	if b, perr := x509bundle.Parse(td, []byte(out)); err != nil || perr != nil || len(b.X509Authorities()) != 2 {
		t.Fatalf("bundle after root rotation: %v %v", err, perr)
	}
	// The SVID issued before the rotation is still trusted.
	b, _ := x509bundle.Parse(td, []byte(out))
	if _, _, err := x509svid.Verify(svid.Certificates, b); err != nil {
		t.Fatalf("old SVID refused after rotation: %v", err)
	}
	if _, _, err := runCA("rotate", "--dir", dir, "--intermediate", "--log-level", "error"); err != nil {
		t.Fatal(err)
	}

	// --kek-file: the same key from a private file; a readable one is refused.
	t.Setenv(identity.KEKEnv, "")
	kekFile := filepath.Join(t.TempDir(), "kek")
	os.WriteFile(kekFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600)
	if _, _, err := runCA("bundle", "--dir", dir, "--kek-file", kekFile); err != nil {
		t.Fatalf("--kek-file: %v", err)
	}
	os.Chmod(kekFile, 0o644)
	if _, _, err := runCA("bundle", "--dir", dir, "--kek-file", kekFile); err == nil {
		t.Fatal("KEK file readable by others accepted")
	}
}
