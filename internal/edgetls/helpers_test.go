package edgetls

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testCA issues server certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "edgetls test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leafSpec describes a leaf to issue; zero times mean "valid now for a day".
type leafSpec struct {
	key       crypto.Signer
	notBefore time.Time
	notAfter  time.Time
}

// issue returns a PEM leaf for localhost/127.0.0.1 with a fresh serial.
func (ca *testCA) issue(t testing.TB, s leafSpec) (certPEM []byte, serial *big.Int) {
	t.Helper()
	if s.notBefore.IsZero() {
		s.notBefore = time.Now().Add(-time.Minute)
	}
	if s.notAfter.IsZero() {
		s.notAfter = time.Now().Add(24 * time.Hour)
	}
	serial, err := randomSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    s.notBefore,
		NotAfter:     s.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, s.key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), serial
}

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyPEM(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// replaceFile writes data next to path and renames it over path, the way
// editors and cert-manager replace files.
func replaceFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// pairFiles writes a fresh ECDSA pair into dir and returns the paths, the
// key (to issue more certificates for it) and the serial.
func pairFiles(t testing.TB, ca *testCA, dir string) (certFile, keyFile string, key *ecdsa.PrivateKey, serial *big.Int) {
	t.Helper()
	key = newECKey(t)
	certPEM, serial := ca.issue(t, leafSpec{key: key})
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	replaceFile(t, keyFile, keyPEM(t, key))
	replaceFile(t, certFile, certPEM)
	return certFile, keyFile, key, serial
}

// startEdge serves HTTPS on 127.0.0.1:0 with ServerConfig(r, minVersion); the
// handler answers with the request's protocol.
func startEdge(t testing.TB, r *Reloader, minVersion string) string {
	t.Helper()
	cfg, err := ServerConfig(r, minVersion)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			fmt.Fprint(w, req.Proto)
		}),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 5 * time.Second,
		// Refused handshakes are the point of several tests; keep them
		// out of the output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// handshake dials addr with cfg (RootCAs and ServerName filled in when
// empty) and returns the connection state.
func handshake(addr string, cfg *tls.Config, roots *x509.CertPool) (tls.ConnectionState, error) {
	cfg = cfg.Clone()
	if cfg.RootCAs == nil {
		cfg.RootCAs = roots
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "localhost"
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	return conn.ConnectionState(), nil
}

// servedSerial returns the serial of the leaf a new handshake sees.
func servedSerial(t testing.TB, addr string, roots *x509.CertPool) *big.Int {
	t.Helper()
	st, err := handshake(addr, &tls.Config{}, roots)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return st.PeerCertificates[0].SerialNumber
}

// waitReloaded reads Watch reports until one says a new pair is serving. A
// replacement of two files may first report the half-replaced pair.
func waitReloaded(t testing.TB, events <-chan error) {
	t.Helper()
	for {
		err := nextEvent(t, events)
		if err == nil {
			return
		}
		t.Logf("intermediate report: %v", err)
	}
}

// watchEvents runs r.Watch until the test ends and returns its events. The
// channel is read by the test; Watch blocks on it only until cancellation.
func watchEvents(t testing.TB, r *Reloader) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan error, 16)
	armed := make(chan struct{})
	r.armed = func() { close(armed) }
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Watch(ctx, func(err error) {
			select {
			case events <- err:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-armed:
	case <-time.After(15 * time.Second):
		t.Fatal("watch not armed")
	}
	return events
}

// nextEvent waits for the next Watch report.
func nextEvent(t testing.TB, events <-chan error) error {
	t.Helper()
	select {
	case err := <-events:
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("no watch event")
		return nil
	}
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(buf *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, nil))
}

func portOf(t testing.TB, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}
