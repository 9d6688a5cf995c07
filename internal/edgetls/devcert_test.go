package edgetls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDevCertificateFilesAndModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "dev")
	certFile, keyFile, caFile, err := DevCertificate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cert": filepath.Join(dir, "dev-edge.crt"),
		"key":  filepath.Join(dir, "dev-edge.key"),
		"ca":   filepath.Join(dir, "dev-ca.crt"),
	}
	for name, got := range map[string]string{"cert": certFile, "key": keyFile, "ca": caFile} {
		if got != want[name] {
			t.Errorf("%s path %s, want %s", name, got, want[name])
		}
	}
	assertMode(t, dir, 0o700)
	for _, f := range []string{"dev-ca.crt", "dev-ca.key", "dev-edge.crt", "dev-edge.key"} {
		assertMode(t, filepath.Join(dir, f), 0o600)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 {
		t.Errorf("dir holds %d entries, want 4 (no temporary files left)", len(entries))
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s mode %#o, want %#o", path, got, want)
	}
}

func TestDevCertificateContents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	now := time.Now().Truncate(time.Second)
	certFile, keyFile, caFile, err := devCertificate(dir, []string{"api.dev.test", "10.1.2.3", "API.dev.test."}, now)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := readCertificate(caFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := readCertificate(certFile)
	if err != nil {
		t.Fatal(err)
	}

	if !caCert.IsCA || caCert.MaxPathLen != 0 || !caCert.MaxPathLenZero {
		t.Errorf("CA constraints: IsCA %v MaxPathLen %d zero %v", caCert.IsCA, caCert.MaxPathLen, caCert.MaxPathLenZero)
	}
	if !strings.HasPrefix(caCert.Subject.CommonName, "Rampart Development CA ") ||
		len(caCert.Subject.CommonName) <= len("Rampart Development CA ") {
		t.Errorf("CA name %q", caCert.Subject.CommonName)
	}
	if want := now.AddDate(10, 0, 0); !caCert.NotAfter.Equal(want) {
		t.Errorf("CA NotAfter %v, want %v", caCert.NotAfter, want)
	}
	if want := now.Add(30 * 24 * time.Hour); !leaf.NotAfter.Equal(want) {
		t.Errorf("leaf NotAfter %v, want %v", leaf.NotAfter, want)
	}
	for _, c := range []*x509.Certificate{caCert, leaf} {
		if want := now.Add(-time.Minute); !c.NotBefore.Equal(want) {
			t.Errorf("%s NotBefore %v, want %v (backdated a minute)", c.Subject.CommonName, c.NotBefore, want)
		}
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			t.Errorf("%s key is %T, want ECDSA P-256", c.Subject.CommonName, c.PublicKey)
		}
		// 128 random bits: below 2^128, and above 2^64 except with
		// probability 2^-64.
		if n := c.SerialNumber.BitLen(); n > 128 || n <= 64 {
			t.Errorf("%s serial has %d bits", c.Subject.CommonName, n)
		}
	}
	if caCert.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("CA and leaf share a serial")
	}
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "api.dev.test"}) {
		t.Errorf("leaf DNS names %q", leaf.DNSNames)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, []string{"127.0.0.1", "::1", "10.1.2.3"}) {
		t.Errorf("leaf IPs %q", ips)
	}
	if leaf.IsCA || !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("leaf usage: IsCA %v ExtKeyUsage %v", leaf.IsCA, leaf.ExtKeyUsage)
	}
	if _, err := NewReloader(certFile, keyFile, nil); err != nil {
		t.Errorf("dev pair does not load: %v", err)
	}
}

func TestDevCertificateIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, _, _, err := DevCertificate(dir, []string{"a.test"}); err != nil {
		t.Fatal(err)
	}
	ca1, leaf1, key1 := read("dev-ca.crt"), read("dev-edge.crt"), read("dev-edge.key")

	if _, _, _, err := DevCertificate(dir, []string{"a.test"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read("dev-ca.crt"), ca1) || !bytes.Equal(read("dev-edge.crt"), leaf1) || !bytes.Equal(read("dev-edge.key"), key1) {
		t.Error("second call with the same hosts changed the files")
	}

	// A subset of the hosts is still covered: no reissue.
	if _, _, _, err := DevCertificate(dir, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read("dev-edge.crt"), leaf1) {
		t.Error("leaf reissued although it covers the requested hosts")
	}

	// A new host needs a new leaf from the same CA.
	if _, _, _, err := DevCertificate(dir, []string{"a.test", "b.test"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read("dev-ca.crt"), ca1) {
		t.Error("CA replaced when adding a host")
	}
	leaf, err := readCertificate(filepath.Join(dir, "dev-edge.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(leaf.DNSNames, "b.test") || !slices.Contains(leaf.DNSNames, "a.test") {
		t.Errorf("reissued leaf names %q", leaf.DNSNames)
	}
}

func TestDevCertificateReissuesLeaf(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{name: "near expiry", damage: func(t *testing.T, dir string) {
			writeLeafFromDevCA(t, dir, time.Now().Add(2*24*time.Hour))
		}},
		{name: "expired", damage: func(t *testing.T, dir string) {
			writeLeafFromDevCA(t, dir, time.Now().Add(-time.Hour))
		}},
		{name: "issued by another CA", damage: func(t *testing.T, dir string) {
			other := newTestCA(t)
			key := newECKey(t)
			cert, _ := other.issue(t, leafSpec{key: key})
			replaceFile(t, filepath.Join(dir, "dev-edge.key"), keyPEM(t, key))
			replaceFile(t, filepath.Join(dir, "dev-edge.crt"), cert)
		}},
		{name: "missing", damage: func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "dev-edge.crt")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "garbage", damage: func(t *testing.T, dir string) {
			replaceFile(t, filepath.Join(dir, "dev-edge.crt"), []byte("garbage"))
		}},
		{name: "key readable by others", damage: func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "dev-edge.key"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "dev")
			if _, _, _, err := DevCertificate(dir, nil); err != nil {
				t.Fatal(err)
			}
			caBefore, err := os.ReadFile(filepath.Join(dir, "dev-ca.crt"))
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(t, dir)
			before, _ := os.ReadFile(filepath.Join(dir, "dev-edge.crt"))

			certFile, keyFile, caFile, err := DevCertificate(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			after, err := os.ReadFile(certFile)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(before, after) {
				t.Fatal("leaf not reissued")
			}
			caAfter, err := os.ReadFile(caFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(caBefore, caAfter) {
				t.Error("CA replaced")
			}
			assertMode(t, keyFile, 0o600)
			leaf, err := readCertificate(certFile)
			if err != nil {
				t.Fatal(err)
			}
			if time.Until(leaf.NotAfter) < 29*24*time.Hour {
				t.Errorf("reissued leaf expires %v", leaf.NotAfter)
			}
			if _, err := NewReloader(certFile, keyFile, nil); err != nil {
				t.Errorf("reissued pair does not load: %v", err)
			}
		})
	}
}

// writeLeafFromDevCA replaces the dev leaf with one from the dev CA that
// expires at notAfter.
func writeLeafFromDevCA(t *testing.T, dir string, notAfter time.Time) {
	t.Helper()
	caCert, err := readCertificate(filepath.Join(dir, "dev-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := readECKey(filepath.Join(dir, "dev-ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	key := newECKey(t)
	serial, err := randomSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    notAfter.Add(-30 * 24 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, filepath.Join(dir, "dev-edge.key"), keyPEM(t, key))
	replaceFile(t, filepath.Join(dir, "dev-edge.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestDevCertificateVerifiesWithDevCAOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	certFile, keyFile, caFile, err := DevCertificate(dir, []string{"api.dev.test"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := startEdge(t, r, "")
	devRoots := poolFromFile(t, caFile)

	// Another machine's dev CA: its users must not trust this one's leaf.
	otherDir := filepath.Join(t.TempDir(), "other")
	_, _, otherCA, err := DevCertificate(otherDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	otherRoots := poolFromFile(t, otherCA)

	tests := []struct {
		name       string
		serverName string
		roots      *x509.CertPool
		wantErr    bool
	}{
		{name: "localhost", serverName: "localhost", roots: devRoots},
		{name: "127.0.0.1", serverName: "127.0.0.1", roots: devRoots},
		{name: "extra host", serverName: "api.dev.test", roots: devRoots},
		{name: "name not on the certificate", serverName: "bank.example", roots: devRoots, wantErr: true},
		{name: "client trusting another dev CA", serverName: "localhost", roots: otherRoots, wantErr: true},
		{name: "client trusting an empty pool", serverName: "localhost", roots: x509.NewCertPool(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := handshake(addr, &tls.Config{ServerName: tt.serverName, RootCAs: tt.roots}, nil)
			if tt.wantErr && err == nil {
				t.Fatal("client accepted the certificate")
			}
			if !tt.wantErr && err != nil {
				t.Fatalf("handshake: %v", err)
			}
		})
	}

	// ::1 where the machine has IPv6 loopback.
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Logf("no IPv6 loopback, ::1 not checked over the wire: %v", err)
		leaf, err := readCertificate(certFile)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: devRoots, DNSName: "::1"}); err != nil {
			t.Errorf("leaf not valid for ::1: %v", err)
		}
		return
	}
	cfg, err := ServerConfig(r, "")
	if err != nil {
		t.Fatal(err)
	}
	tln := tls.NewListener(ln, cfg)
	defer tln.Close()
	go func() {
		c, err := tln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.(*tls.Conn).Handshake()
	}()
	if _, err := handshake(ln.Addr().String(), &tls.Config{ServerName: "::1", RootCAs: devRoots}, nil); err != nil {
		t.Errorf("handshake on ::1: %v", err)
	}
}

func poolFromFile(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("no certificate in %s", path)
	}
	return pool
}

func TestDevCertificateRefusesUnsafeState(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T) string
		wantErr string
	}{
		{name: "world-writable dir", wantErr: "writable by other users", setup: func(t *testing.T) string {
			return dirWithMode(t, 0o777)
		}},
		{name: "world-writable sticky dir like /tmp", wantErr: "writable by other users", setup: func(t *testing.T) string {
			d := dirWithMode(t, 0o777)
			if err := os.Chmod(d, 0o777|os.ModeSticky); err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{name: "group-writable dir", wantErr: "writable by other users", setup: func(t *testing.T) string {
			return dirWithMode(t, 0o770)
		}},
		{name: "path is a file", wantErr: "not a directory", setup: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{name: "CA key world-readable", wantErr: "accessible by group or others", setup: func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "dev")
			if _, _, _, err := DevCertificate(d, nil); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(d, "dev-ca.key"), 0o644); err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{name: "CA key missing", wantErr: "development CA key", setup: func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "dev")
			if _, _, _, err := DevCertificate(d, nil); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(d, "dev-ca.key")); err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{name: "CA certificate damaged", wantErr: "no PEM certificate", setup: func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "dev")
			if _, _, _, err := DevCertificate(d, nil); err != nil {
				t.Fatal(err)
			}
			replaceFile(t, filepath.Join(d, "dev-ca.crt"), []byte("garbage"))
			return d
		}},
		{name: "CA key swapped", wantErr: "does not match", setup: func(t *testing.T) string {
			d := filepath.Join(t.TempDir(), "dev")
			if _, _, _, err := DevCertificate(d, nil); err != nil {
				t.Fatal(err)
			}
			replaceFile(t, filepath.Join(d, "dev-ca.key"), keyPEM(t, newECKey(t)))
			return d
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.setup(t)
			before := snapshot(t, dir)
			_, _, _, err := DevCertificate(dir, nil)
			if err == nil {
				t.Fatal("unsafe state accepted")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error leaks key material: %q", err)
			}
			if after := snapshot(t, dir); !maps.Equal(before, after) {
				t.Error("refused call changed the directory")
			}
		})
	}

	// The honest counterpart: a private existing dir is used.
	d := dirWithMode(t, 0o700)
	if _, _, _, err := DevCertificate(d, nil); err != nil {
		t.Fatalf("private dir refused: %v", err)
	}
}

func dirWithMode(t *testing.T, mode os.FileMode) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "dev")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	return d
}

// snapshot maps file names in dir (if it is one) to their contents and modes.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = fi.Mode().String() + string(b)
	}
	return out
}

func TestDevCertificateRejectsBadHosts(t *testing.T) {
	for _, h := range []string{"", "bad host", "a..b", "-x.test", "x-.test", "ex ample.com", "a/b", "*.*.test", "über.test", "127.0.0.1:443", strings.Repeat("a", 64) + ".test"} {
		if _, _, _, err := DevCertificate(filepath.Join(t.TempDir(), "dev"), []string{h}); err == nil {
			t.Errorf("extra host %q accepted", h)
		}
	}
	for _, h := range []string{"api.dev.test", "*.dev.test", "10.0.0.1", "fd00::1", "host-1"} {
		if _, _, _, err := DevCertificate(filepath.Join(t.TempDir(), "dev"), []string{h}); err != nil {
			t.Errorf("extra host %q refused: %v", h, err)
		}
	}
}
