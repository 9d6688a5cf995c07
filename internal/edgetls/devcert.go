package edgetls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rampart-sec/rampart/internal/securefile"
)

// File names of the development CA and leaf inside the DevCertificate dir.
const (
	devCACertName   = "dev-ca.crt"
	devCAKeyName    = "dev-ca.key"
	devLeafCertName = "dev-edge.crt"
	devLeafKeyName  = "dev-edge.key"
)

const (
	devCAYears = 10
	// devLeafLifetime is short on purpose: a leaked dev key is useful for a
	// month at most, and reissuing costs nothing.
	devLeafLifetime = 30 * 24 * time.Hour
	// devLeafRenewBefore reissues early so a long-running dev gateway does
	// not cross the expiry.
	devLeafRenewBefore = 7 * 24 * time.Hour
	// clockSkew backdates NotBefore so a client whose clock is slightly
	// behind still accepts a certificate issued a moment ago.
	clockSkew = time.Minute
)

// DevCertificate returns a certificate/key pair for local use, issued by a
// local development CA kept in dir: dir/dev-ca.crt, dir/dev-ca.key,
// dir/dev-edge.crt and dir/dev-edge.key, files 0600, dir 0700 when created.
//
// The CA (ECDSA P-256, 10 years, "Rampart Development CA <random suffix>",
// path length 0) is created once and reused; a CA whose files are damaged is
// an error rather than silently replaced, because users may already trust it.
// The leaf (ECDSA P-256, 30 days, SANs localhost, 127.0.0.1, ::1 and
// extraHosts) is reissued when missing, invalid, expiring within 7 days, or
// missing a requested SAN. caFile is what users pass to `curl --cacert`.
//
// DevCertificate refuses a dir that is group- or world-writable (whoever can
// write it can swap the CA) and a CA key readable by anyone but the owner.
func DevCertificate(dir string, extraHosts []string) (certFile, keyFile, caFile string, err error) {
	return devCertificate(dir, extraHosts, time.Now())
}

func devCertificate(dir string, extraHosts []string, now time.Time) (certFile, keyFile, caFile string, err error) {
	sans, err := devSANs(extraHosts)
	if err != nil {
		return "", "", "", fmt.Errorf("dev certificate: %w", err)
	}
	if err := prepareDevDir(dir); err != nil {
		return "", "", "", fmt.Errorf("dev certificate: %w", err)
	}
	ca, err := loadOrCreateDevCA(dir, now)
	if err != nil {
		return "", "", "", fmt.Errorf("dev certificate: %w", err)
	}
	certFile = filepath.Join(dir, devLeafCertName)
	keyFile = filepath.Join(dir, devLeafKeyName)
	caFile = filepath.Join(dir, devCACertName)
	if devLeafUsable(certFile, keyFile, ca, sans, now) {
		return certFile, keyFile, caFile, nil
	}
	if err := issueDevLeaf(certFile, keyFile, ca, sans, now); err != nil {
		return "", "", "", fmt.Errorf("dev certificate: %w", err)
	}
	return certFile, keyFile, caFile, nil
}

// hostSANs are the names a dev leaf must carry.
type hostSANs struct {
	dns []string
	ips []net.IP
}

func devSANs(extra []string) (hostSANs, error) {
	s := hostSANs{dns: []string{"localhost"}, ips: []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}}
	for _, h := range extra {
		h = strings.TrimSpace(h)
		if ip := net.ParseIP(h); ip != nil {
			if ip4 := ip.To4(); ip4 != nil {
				ip = ip4
			}
			if !slices.ContainsFunc(s.ips, ip.Equal) {
				s.ips = append(s.ips, ip)
			}
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(h, "."))
		if !validDNSName(name) {
			return hostSANs{}, fmt.Errorf("extra host %q is not an IP address or DNS name", h)
		}
		if !slices.Contains(s.dns, name) {
			s.dns = append(s.dns, name)
		}
	}
	return s, nil
}

// validDNSName accepts LDH names with an optional leading "*." wildcard.
func validDNSName(name string) bool {
	name = strings.TrimPrefix(name, "*.")
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// prepareDevDir creates dir 0700 or checks that an existing one is safe.
func prepareDevDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
		// MkdirAll honours the umask; make the mode exact.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("restrict %s: %w", dir, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("refusing %s: it is writable by other users (mode %#o); use a private directory (chmod 700)", dir, perm)
	}
	return nil
}

// devCA is the loaded development CA.
type devCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func loadOrCreateDevCA(dir string, now time.Time) (*devCA, error) {
	certPath := filepath.Join(dir, devCACertName)
	keyPath := filepath.Join(dir, devCAKeyName)
	_, certErr := os.Stat(certPath)
	_, keyErr := os.Stat(keyPath)
	if errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist) {
		return createDevCA(certPath, keyPath, now)
	}
	if err := checkPrivate(keyPath); err != nil {
		return nil, fmt.Errorf("development CA key: %w", err)
	}
	cert, err := readCertificate(certPath)
	if err != nil {
		return nil, fmt.Errorf("development CA: %w", err)
	}
	key, err := readECKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("development CA: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("development CA %s is not a CA certificate", certPath)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("development CA key %s does not match %s", keyPath, certPath)
	}
	// An expiring CA could not cover a fresh leaf; replacing it is the only
	// way forward, and after 10 years nobody should still trust the old one.
	if now.Add(devLeafLifetime).After(cert.NotAfter) {
		return createDevCA(certPath, keyPath, now)
	}
	return &devCA{cert: cert, key: key}, nil
}

func createDevCA(certPath, keyPath string, now time.Time) (*devCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate development CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	// The suffix tells apart the dev CAs of different machines in a trust
	// store.
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return nil, fmt.Errorf("generate development CA name: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   "Rampart Development CA " + hex.EncodeToString(suffix),
			Organization: []string{"Rampart development"},
		},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.AddDate(devCAYears, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// It signs leaves only, never intermediates.
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create development CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse new development CA: %w", err)
	}
	if err := writeKeyAndCert(certPath, keyPath, der, key); err != nil {
		return nil, fmt.Errorf("write development CA: %w", err)
	}
	return &devCA{cert: cert, key: key}, nil
}

// devLeafUsable reports whether the existing leaf can be served as is. Any
// problem (missing, unreadable, loose permissions, other CA, expiring, a
// missing SAN) means "reissue", which is always safe for the leaf.
func devLeafUsable(certPath, keyPath string, ca *devCA, sans hostSANs, now time.Time) bool {
	if checkPrivate(keyPath) != nil {
		return false
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return false
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return false
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return false
		}
	}
	if !now.Add(devLeafRenewBefore).Before(leaf.NotAfter) {
		return false
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return false
	}
	for _, name := range sans.dns {
		if !slices.Contains(leaf.DNSNames, name) {
			return false
		}
	}
	for _, ip := range sans.ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func issueDevLeaf(certPath, keyPath string, ca *devCA, sans hostSANs, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate development leaf key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return err
	}
	notAfter := now.Add(devLeafLifetime)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   sans.dns[0],
			Organization: []string{"Rampart development"},
		},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              sans.dns,
		IPAddresses:           sans.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return fmt.Errorf("issue development leaf: %w", err)
	}
	if err := writeKeyAndCert(certPath, keyPath, der, key); err != nil {
		return fmt.Errorf("write development leaf: %w", err)
	}
	return nil
}

// randomSerial returns a positive 128-bit serial from crypto/rand: unique
// without state, and unpredictable (RFC 5280 allows up to 20 octets).
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if s := new(big.Int).SetBytes(b); s.Sign() > 0 {
			return s, nil
		}
	}
}

// writeKeyAndCert writes the key before the certificate, each atomically, so
// that a watcher never sees a certificate whose key is not on disk yet.
func writeKeyAndCert(certPath, keyPath string, certDER []byte, key *ecdsa.PrivateKey) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	if _, err := securefile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		return err
	}
	_, err = securefile.Write(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}))
	return err
}

// checkPrivate fails if path is not a regular file private to its owner.
func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	return securefile.CheckPrivate("file", path, fi)
}

func readCertificate(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("read %s: no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return cert, nil
}

func readECKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("read %s: no PEM private key", path)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		// The parser's message describes the structure, not the key bytes.
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("read %s: not an ECDSA P-256 key", path)
	}
	return key, nil
}
