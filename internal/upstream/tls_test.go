package upstream

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a throwaway certificate authority for https upstreams.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rampart test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) issue(t *testing.T, dns []string, ips []net.IP) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "upstream"},
		DNSNames:     dns,
		IPAddresses:  ips,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// rootsFromFile loads the CA the way an operator configures it: from a file.
func (ca *testCA) rootsFromFile(t *testing.T) *x509.CertPool {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatal("CA file holds no certificate")
	}
	return pool
}

// newTLSBackend serves https with cert on 127.0.0.1; maxVersion 0 means the
// library default.
func newTLSBackend(t *testing.T, cert tls.Certificate, maxVersion uint16) *backend {
	t.Helper()
	b := &backend{name: "tls"}
	b.Server = httptest.NewUnstartedServer(b.handler(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Proto))
	}))
	b.EnableHTTP2 = true
	// Refused handshakes are the point of several tests; keep the log quiet.
	b.Config.ErrorLog = log.New(io.Discard, "", 0)
	b.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MaxVersion: maxVersion}
	if maxVersion != 0 {
		b.TLS.MinVersion = tls.VersionTLS10 // Go servers refuse < 1.2 unless told
	}
	b.StartTLS()
	t.Cleanup(b.Close)
	b.url = mustURL(t, b.URL)
	return b
}

func TestHTTPSTargets(t *testing.T) {
	ca := newTestCA(t)
	roots := ca.rootsFromFile(t)
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	byIP := newTLSBackend(t, ca.issue(t, nil, loopback), 0)
	byName := newTLSBackend(t, ca.issue(t, []string{"accounts.internal"}, nil), 0)
	old := newTLSBackend(t, ca.issue(t, nil, loopback), tls.VersionTLS11)
	otherCA := newTestCA(t)

	// Control: the old upstream does speak TLS 1.1, so refusing it below is
	// the pool's minimum version at work.
	conn, err := tls.Dial("tcp", old.Listener.Addr().String(), &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10})
	if err != nil {
		t.Fatalf("control handshake with the TLS 1.1 upstream: %v", err)
	}
	if v := conn.ConnectionState().Version; v != tls.VersionTLS11 {
		t.Fatalf("control handshake negotiated %x", v)
	}
	conn.Close()

	cases := []struct {
		name       string
		target     *backend
		roots      *x509.CertPool
		serverName string
		wantOK     bool
	}{
		{"CA from file verifies the target", byIP, roots, "", true},
		{"ServerName override verifies a named certificate", byName, roots, "accounts.internal", true},
		{"system roots refuse a private CA", byIP, nil, "", false},
		{"another CA is refused", byIP, otherCA.rootsFromFile(t), "", false},
		{"certificate for another name is refused", byName, roots, "", false},
		{"wrong ServerName is refused", byName, roots, "payments.internal", false},
		{"TLS 1.1 upstream is refused", old, roots, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPool(t, Options{Targets: []*url.URL{c.target.url}, RootCAs: c.roots, ServerName: c.serverName})
			hits := c.target.hits.Load()
			code, proto, err := fetch(t, p, http.MethodGet, "/")
			if !c.wantOK {
				if err == nil {
					t.Fatalf("request succeeded with code %d", code)
				}
				if c.target.hits.Load() != hits {
					t.Fatal("the request reached an unverified upstream")
				}
				return
			}
			if err != nil || code != http.StatusOK {
				t.Fatalf("code %d, err %v", code, err)
			}
			if proto != "HTTP/2.0" {
				t.Fatalf("upstream saw %s, want HTTP/2.0 negotiated by ALPN", proto)
			}
		})
	}
}
