package edgetls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// edgeCipherSuites are the TLS 1.2 suites the edge accepts: ECDHE for forward
// secrecy, AEAD only. ECDSA first because the dev and most ACME certificates
// are ECDSA; the RSA variants keep RSA certificates working.
var edgeCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig returns the edge TLS configuration serving certificates from r.
// minVersion is "1.2" (also the default when empty) or "1.3"; anything else is
// an error. Each call returns a new config that the caller may modify.
func ServerConfig(r *Reloader, minVersion string) (*tls.Config, error) {
	if r == nil {
		return nil, errors.New("edge tls config: no certificate reloader")
	}
	var minV uint16
	switch minVersion {
	case "", "1.2":
		minV = tls.VersionTLS12
	case "1.3":
		minV = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("edge tls config: min_version %q: want \"1.2\" or \"1.3\"", minVersion)
	}
	return &tls.Config{
		MinVersion:   minV,
		CipherSuites: append([]uint16(nil), edgeCipherSuites...),
		// Since Go 1.24 crypto/tls picks its own order among the allowed
		// groups (hybrid post-quantum first); the list is the allow-list.
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		NextProtos:       []string{"h2", "http/1.1"},
		GetCertificate:   r.GetCertificate,
	}, nil
}

// RequireClientCerts makes c ask every client for a certificate signed by one
// of the CAs in caFile (PEM): when required, a handshake without a valid one
// fails; otherwise a certificate is verified only when the client sends one.
// The system roots are never used for clients.
func RequireClientCerts(c *tls.Config, caFile string, required bool) error {
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("client certificate CAs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return fmt.Errorf("client certificate CAs: %s holds no PEM certificate", caFile)
	}
	c.ClientCAs = pool
	c.ClientAuth = tls.VerifyClientCertIfGiven
	if required {
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return nil
}
