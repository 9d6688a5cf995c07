package demo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// The demo's client certificates: a throwaway CA (made every run, its key
// never written) that the gateway trusts for client certificates, and one
// certificate for a "billing" service with its SPIFFE ID, as the workload
// identity issue's CA will issue them.
const demoBillingID = "spiffe://demo.rampart.local/billing"

// clientCerts is where the demo's client certificate files are.
type clientCerts struct {
	CAFile, CertFile, KeyFile string
}

// writeClientCerts creates the CA and the billing certificate in dir.
func writeClientCerts(dir string) (clientCerts, error) {
	cc := clientCerts{
		CAFile:   filepath.Join(dir, "clients-ca.pem"),
		CertFile: filepath.Join(dir, "tokens", "billing.crt"),
		KeyFile:  filepath.Join(dir, "tokens", "billing.key"),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return cc, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "Rampart demo client CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, MaxPathLenZero: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return cc, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return cc, err
	}
	id, _ := url.Parse(demoBillingID)
	leaf := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "billing"}, URIs: []*url.URL{id},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(12 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return cc, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return cc, err
	}
	for path, block := range map[string]*pem.Block{
		cc.CAFile:   {Type: "CERTIFICATE", Bytes: caDER},
		cc.CertFile: {Type: "CERTIFICATE", Bytes: der},
		cc.KeyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return cc, fmt.Errorf("write %s: %w", path, err)
		}
	}
	return cc, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
