package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/event"
)

// testCA issues client certificates for the edge mTLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue makes a client certificate with a common name and SPIFFE IDs.
func (ca *testCA) issue(t *testing.T, cn string, notAfter time.Time, spiffe ...string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	for _, s := range spiffe {
		u, _ := url.Parse(s)
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Client certificates at the edge: a verified SPIFFE ID or common name is the
// principal; no certificate, another CA's, an expired one or an ambiguous one
// gets nowhere, and a route that does not accept mTLS ignores certificates.
func TestEdgeMTLS(t *testing.T) {
	ca := newTestCA(t, "clients")
	evil := newTestCA(t, "clients") // same name, other key
	dir := t.TempDir()
	caFile := filepath.Join(dir, "clients-ca.pem")
	os.WriteFile(caFile, ca.pem, 0o600)
	up := newUpstream(t, "svc", nil)
	g := startGateway(t, fmt.Sprintf(`
gateway:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  tls:
    client_certs: {mode: optional, ca_file: %q}
log: {access: stdout}
upstreams:
  svc: {targets: ["http://%s"]}
routes:
  - name: orders-only
    match: {path: /internal/orders}
    upstream: svc
    auth: {mtls: true}
    allow: 'principal.subject == "spiffe://test.local/orders" && principal.kind == "service"'
  - name: any-client
    match: {path: /internal/any}
    upstream: svc
    auth: {mtls: true}
  - name: public
    match: {path: /public}
    upstream: svc
    auth: none
`, caFile, up.addr))

	client := func(certs ...tls.Certificate) *http.Client {
		c := tlsClient(t, g.addrs.CAFile, false)
		c.Transport.(*http.Transport).TLSClientConfig.Certificates = certs
		return c
	}
	call := func(c *http.Client, path string) (int, string) {
		resp, err := c.Get("https://" + g.addrs.Gateway + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	orders := client(ca.issue(t, "orders", time.Now().Add(time.Hour), "spiffe://test.local/orders"))
	billing := client(ca.issue(t, "billing", time.Now().Add(time.Hour), "spiffe://test.local/billing"))
	cnOnly := client(ca.issue(t, "batch-job", time.Now().Add(time.Hour)))
	none := client()

	if code, body := call(orders, "/internal/orders"); code != 200 {
		t.Fatalf("orders with its SVID: %d %s", code, body)
	}
	seen := up.last(t)
	if seen.Header.Get("X-Rampart-Subject") != "spiffe://test.local/orders" || seen.Header.Get("X-Rampart-Identity") == "" {
		t.Fatalf("upstream identity headers: %v", seen.Header)
	}
	h2 := tlsClient(t, g.addrs.CAFile, true)
	h2.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{ca.issue(t, "orders", time.Now().Add(time.Hour), "spiffe://test.local/orders")}
	if resp, err := h2.Get("https://" + g.addrs.Gateway + "/internal/orders"); err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("orders over HTTP/2: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if code, _ := call(billing, "/internal/orders"); code != 403 {
		t.Fatalf("billing on an orders-only route: %d", code)
	}
	if code, _ := call(cnOnly, "/internal/any"); code != 200 {
		t.Fatalf("a client certificate with a common name: %d", code)
	}
	if up.last(t).Header.Get("X-Rampart-Subject") != "batch-job" {
		t.Fatal("common-name principal not sent upstream")
	}
	if code, _ := call(none, "/internal/any"); code != 401 {
		t.Fatalf("no certificate on an mTLS route: %d", code)
	}
	g.events.waitFor(t, event.AuthnFailed, "missing")
	if code, _ := call(none, "/public"); code != 200 {
		t.Fatalf("no certificate on a public route (optional mode): %d", code)
	}

	// Refused during the handshake: another CA's certificate, an expired one.
	for name, c := range map[string]*http.Client{
		"another CA": client(evil.issue(t, "orders", time.Now().Add(time.Hour), "spiffe://test.local/orders")),
		"expired":    client(ca.issue(t, "orders", time.Now().Add(-time.Minute), "spiffe://test.local/orders")),
	} {
		if code, body := call(c, "/internal/orders"); code != 0 || !strings.Contains(body, "tls") {
			t.Errorf("%s: got %d %s, want a failed handshake", name, code, body)
		}
	}
	// Two SPIFFE IDs in one certificate: ambiguous, refused.
	two := client(ca.issue(t, "x", time.Now().Add(time.Hour), "spiffe://test.local/orders", "spiffe://test.local/admin"))
	if code, _ := call(two, "/internal/orders"); code != 401 {
		t.Fatalf("certificate with two SPIFFE IDs: %d", code)
	}
	g.events.waitFor(t, event.AuthnFailed, "no_identity")
}
