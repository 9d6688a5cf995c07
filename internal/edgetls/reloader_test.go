package edgetls

import (
	"crypto/tls"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewReloader(t *testing.T) {
	ca := newTestCA(t)
	key := newECKey(t)
	goodCert, serial := ca.issue(t, leafSpec{key: key})
	otherCert, _ := ca.issue(t, leafSpec{key: newECKey(t)})
	expired, _ := ca.issue(t, leafSpec{key: key,
		notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
	future, _ := ca.issue(t, leafSpec{key: key,
		notBefore: time.Now().Add(time.Hour), notAfter: time.Now().Add(48 * time.Hour)})
	goodKey := keyPEM(t, key)

	tests := []struct {
		name       string
		cert, key  []byte
		noKeyFile  bool
		wantErrSub string
	}{
		{name: "valid pair", cert: goodCert, key: goodKey},
		{name: "key does not match", cert: otherCert, key: goodKey, wantErrSub: "does not match"},
		{name: "expired certificate", cert: expired, key: goodKey, wantErrSub: "expired"},
		{name: "not yet valid", cert: future, key: goodKey, wantErrSub: "not valid before"},
		{name: "garbage certificate", cert: []byte("not a certificate"), key: goodKey, wantErrSub: "load edge certificate"},
		{name: "garbage key", cert: goodCert, key: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), wantErrSub: "load edge certificate"},
		{name: "missing key file", cert: goodCert, noKeyFile: true, wantErrSub: "load edge key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
			replaceFile(t, certFile, tt.cert)
			if !tt.noKeyFile {
				replaceFile(t, keyFile, tt.key)
			}
			r, err := NewReloader(certFile, keyFile, nil)
			if tt.wantErrSub == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := r.Leaf().SerialNumber; got.Cmp(serial) != 0 {
					t.Errorf("leaf serial %x, want %x", got, serial)
				}
				c, err := r.GetCertificate(&tls.ClientHelloInfo{})
				if err != nil || c == nil {
					t.Fatalf("GetCertificate: %v, %v", c, err)
				}
				return
			}
			if err == nil {
				t.Fatal("bad pair accepted")
			}
			if !strings.Contains(err.Error(), tt.wantErrSub) {
				t.Errorf("error %q does not mention %q", err, tt.wantErrSub)
			}
			assertNoKeyMaterial(t, err.Error(), goodKey)
		})
	}
}

// assertNoKeyMaterial fails if s contains the key PEM or any long piece of
// its base64 body.
func assertNoKeyMaterial(t *testing.T, s string, keyPEMs ...[]byte) {
	t.Helper()
	if strings.Contains(s, "PRIVATE KEY") {
		t.Errorf("output contains a PEM key header: %q", s)
	}
	for _, k := range keyPEMs {
		for line := range strings.Lines(string(k)) {
			line = strings.TrimSpace(line)
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(s, line[:16]) {
				t.Errorf("output contains key material")
			}
		}
	}
}

func TestWatchRenameOver(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile, _, oldSerial := pairFiles(t, ca, dir)
	var logs lockedBuffer
	r, err := NewReloader(certFile, keyFile, testLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	addr := startEdge(t, r, "")
	events := watchEvents(t, r)
	if got := servedSerial(t, addr, ca.pool); got.Cmp(oldSerial) != 0 {
		t.Fatalf("serving %x, want %x", got, oldSerial)
	}

	// Renewals with a new key, as cert-manager or an ACME client does them.
	// The second round proves the watch survives the first replacement.
	for round := range 2 {
		newKey := newECKey(t)
		newCert, newSerial := ca.issue(t, leafSpec{key: newKey})
		newKeyPEM := keyPEM(t, newKey)
		replaceFile(t, keyFile, newKeyPEM)
		replaceFile(t, certFile, newCert)

		waitReloaded(t, events)
		if got := servedSerial(t, addr, ca.pool); got.Cmp(newSerial) != 0 {
			t.Fatalf("round %d: serving %x, want %x", round, got, newSerial)
		}
		if got := r.Leaf().SerialNumber; got.Cmp(newSerial) != 0 {
			t.Errorf("round %d: Leaf serial %x, want %x", round, got, newSerial)
		}
		out := logs.String()
		if !strings.Contains(out, newSerial.Text(16)) {
			t.Errorf("round %d: log does not name the new serial %x: %s", round, newSerial, out)
		}
		assertNoKeyMaterial(t, out, newKeyPEM)
	}
}

func TestWatchKubernetesSymlinkSwap(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	// The layout of a Kubernetes secret volume: the visible names are
	// symlinks through "..data", which points at a timestamped directory
	// and is swapped atomically on update.
	writeVersion := func(name string) *big.Int {
		vdir := filepath.Join(dir, name)
		if err := os.Mkdir(vdir, 0o700); err != nil {
			t.Fatal(err)
		}
		_, _, _, serial := pairFiles(t, ca, vdir)
		return serial
	}
	oldSerial := writeVersion("..2026_01_01_00_00_00.1")
	if err := os.Symlink("..2026_01_01_00_00_00.1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewReloader(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := startEdge(t, r, "")
	events := watchEvents(t, r)
	if got := servedSerial(t, addr, ca.pool); got.Cmp(oldSerial) != 0 {
		t.Fatalf("serving %x, want %x", got, oldSerial)
	}

	// Two updates: the second proves the watch survives the first swap.
	current := "..2026_01_01_00_00_00.1"
	for round, next := range []string{"..2026_02_01_00_00_00.2", "..2026_03_01_00_00_00.3"} {
		newSerial := writeVersion(next)
		if err := os.Symlink(next, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(dir, current)); err != nil {
			t.Fatal(err)
		}
		current = next

		// The swap is atomic, so the first report must be the new pair.
		if err := nextEvent(t, events); err != nil {
			t.Fatalf("round %d: swap reported %v", round, err)
		}
		if got := servedSerial(t, addr, ca.pool); got.Cmp(newSerial) != 0 {
			t.Fatalf("round %d: serving %x, want %x", round, got, newSerial)
		}
	}
}

func TestWatchRefusesBadUpdates(t *testing.T) {
	tests := []struct {
		name string
		// update replaces files in a way that must be refused.
		update func(t *testing.T, ca *testCA, certFile, keyFile string)
	}{
		{name: "broken key", update: func(t *testing.T, _ *testCA, _, keyFile string) {
			replaceFile(t, keyFile, []byte("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n-----END PRIVATE KEY-----\n"))
		}},
		{name: "mismatched pair", update: func(t *testing.T, ca *testCA, certFile, _ string) {
			other, _ := ca.issue(t, leafSpec{key: newECKey(t)})
			replaceFile(t, certFile, other)
		}},
		{name: "garbage certificate", update: func(t *testing.T, _ *testCA, certFile, _ string) {
			replaceFile(t, certFile, []byte("garbage\x00\xff"))
		}},
		{name: "truncated certificate", update: func(t *testing.T, ca *testCA, certFile, _ string) {
			old, err := os.ReadFile(certFile)
			if err != nil {
				t.Fatal(err)
			}
			replaceFile(t, certFile, old[:len(old)/2])
		}},
		{name: "deleted key", update: func(t *testing.T, _ *testCA, _, keyFile string) {
			if err := os.Remove(keyFile); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			dir := t.TempDir()
			certFile, keyFile, key, oldSerial := pairFiles(t, ca, dir)
			var logs lockedBuffer
			r, err := NewReloader(certFile, keyFile, testLogger(&logs))
			if err != nil {
				t.Fatal(err)
			}
			addr := startEdge(t, r, "")
			events := watchEvents(t, r)

			tt.update(t, ca, certFile, keyFile)
			err = nextEvent(t, events)
			if err == nil {
				t.Fatal("bad update reported as loaded")
			}
			if got := servedSerial(t, addr, ca.pool); got.Cmp(oldSerial) != 0 {
				t.Fatalf("serving %x after a refused update, want the old %x", got, oldSerial)
			}
			if !strings.Contains(logs.String(), "refused") {
				t.Errorf("no log line for the refused update: %s", logs.String())
			}
			assertNoKeyMaterial(t, err.Error()+logs.String(), keyPEM(t, key))

			// The honest fix that follows is picked up.
			newKey := newECKey(t)
			newCert, newSerial := ca.issue(t, leafSpec{key: newKey})
			replaceFile(t, keyFile, keyPEM(t, newKey))
			replaceFile(t, certFile, newCert)
			waitReloaded(t, events)
			if got := servedSerial(t, addr, ca.pool); got.Cmp(newSerial) != 0 {
				t.Fatalf("after the fix serving %x, want %x", got, newSerial)
			}
		})
	}
}

func TestWatchRefusesExpiredCertificate(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile, key, oldSerial := pairFiles(t, ca, dir)
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := startEdge(t, r, "")
	events := watchEvents(t, r)

	expired, _ := ca.issue(t, leafSpec{key: key,
		notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-time.Hour)})
	replaceFile(t, certFile, expired)
	if err := nextEvent(t, events); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired certificate reported as %v", err)
	}
	if got := servedSerial(t, addr, ca.pool); got.Cmp(oldSerial) != 0 {
		t.Fatalf("serving %x, want the old %x", got, oldSerial)
	}
}

func TestReload(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile, key, oldSerial := pairFiles(t, ca, dir)
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := startEdge(t, r, "")

	// Garbage: refused, old pair still served.
	replaceFile(t, certFile, []byte("garbage"))
	if err := r.Reload(); err == nil {
		t.Fatal("Reload accepted garbage")
	}
	if got := servedSerial(t, addr, ca.pool); got.Cmp(oldSerial) != 0 {
		t.Fatalf("serving %x, want the old %x", got, oldSerial)
	}

	// A valid renewal for the same key: served by the next handshake.
	newCert, newSerial := ca.issue(t, leafSpec{key: key})
	replaceFile(t, certFile, newCert)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, addr, ca.pool); got.Cmp(newSerial) != 0 {
		t.Fatalf("serving %x, want %x", got, newSerial)
	}
}

// TestGetCertificateDuringReloads exercises the lock-free read path against
// concurrent reloads; run with -race.
func TestGetCertificateDuringReloads(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile, key, _ := pairFiles(t, ca, dir)
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := r.GetCertificate(nil)
				if err != nil || c == nil || c.Leaf == nil {
					t.Errorf("GetCertificate: %v, %v", c, err)
					return
				}
			}
		})
	}
	for range 20 {
		cert, _ := ca.issue(t, leafSpec{key: key})
		replaceFile(t, certFile, cert)
		if err := r.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestWatchIgnoresUnrelatedFiles checks that activity next to the pair, or a
// rewrite with identical bytes, is not reported as a reload.
func TestWatchIgnoresUnrelatedFiles(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile, key, _ := pairFiles(t, ca, dir)
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	events := watchEvents(t, r)
	replaceFile(t, filepath.Join(dir, "unrelated.txt"), []byte("x"))
	same, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, certFile, same)

	// A renewal for the same key is a one-file change, so it must be the
	// very first report.
	newCert, newSerial := ca.issue(t, leafSpec{key: key})
	replaceFile(t, certFile, newCert)
	if err := nextEvent(t, events); err != nil {
		t.Fatalf("first report: %v", err)
	}
	if got := r.Leaf().SerialNumber; got.Cmp(newSerial) != 0 {
		t.Fatalf("first report was not the renewal: serving %x, want %x", got, newSerial)
	}
}
