package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

var authorizeID = tlsconfig.AuthorizeID

// defaultALPN is offered when the caller set no NextProtos.
var defaultALPN = []string{"h2", "http/1.1"}

// ServerConfig returns a TLS 1.3 server configuration that presents the
// current SVID and admits only clients whose SVID chains to the current
// bundle, is in the Source's trust domain and passes authorize (for example
// tlsconfig.AuthorizeMemberOf, AuthorizeOneOf or AuthorizeID). It is
// rebuilt per handshake from the Source, so rotations apply to new
// connections at once. The verified chain is in the connection state
// (PeerID reads it; so does internal/authn). ALPN is NextProtos of the
// returned config when set before serving, else h2 and http/1.1.
func (s *Source) ServerConfig(authorize tlsconfig.Authorizer) *tls.Config {
	verify := s.verifyClient(authorize)
	type cached struct {
		m    *material
		conf *tls.Config
	}
	var cache atomic.Pointer[cached]
	base := &tls.Config{
		MinVersion:       tls.VersionTLS13,
		ClientAuth:       tls.RequireAndVerifyClientCert,
		GetCertificate:   func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cur.Load().cert, nil },
		VerifyConnection: verify,
	}
	// The pool of client CAs is fixed in a tls.Config, so each bundle
	// generation gets its own config; a handshake uses the one current then.
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := s.cur.Load()
		if c := cache.Load(); c != nil && c.m == m {
			return c.conf, nil
		}
		alpn := base.NextProtos
		if len(alpn) == 0 {
			alpn = defaultALPN
		}
		conf := &tls.Config{
			MinVersion:       tls.VersionTLS13,
			Certificates:     []tls.Certificate{*m.cert},
			ClientAuth:       tls.RequireAndVerifyClientCert,
			ClientCAs:        m.pool,
			VerifyConnection: verify,
			NextProtos:       alpn,
		}
		cache.Store(&cached{m: m, conf: conf})
		return conf, nil
	}
	return base
}

// verifyClient completes crypto/tls's chain verification (run against the
// pool of the current bundle) with the SPIFFE rules and the authorizer. It
// also runs on resumed sessions, where it refuses a chain whose root has
// left the bundle since.
func (s *Source) verifyClient(authorize tlsconfig.Authorizer) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
			return errors.New("mtls: no verified client SVID")
		}
		chain := cs.VerifiedChains[0]
		id, err := svidID(chain[0])
		if err != nil {
			return err
		}
		m := s.cur.Load()
		if id.TrustDomain() != m.bundle.TrustDomain() {
			return fmt.Errorf("mtls: client %s is not in trust domain %s", id, m.bundle.TrustDomain())
		}
		if !m.bundle.HasX509Authority(chain[len(chain)-1]) {
			return fmt.Errorf("mtls: client %s chains to a root no longer trusted", id)
		}
		if err := authorize(id, cs.VerifiedChains); err != nil {
			return fmt.Errorf("mtls: client %s not authorized: %w", id, err)
		}
		return nil
	}
}

func svidID(leaf *x509.Certificate) (spiffeid.ID, error) {
	if leaf.IsCA || leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0 {
		return spiffeid.ID{}, errors.New("mtls: peer leaf certificate is a CA")
	}
	id, err := x509svid.IDFromCert(leaf)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("mtls: peer certificate: %w", err)
	}
	return id, nil
}

// ClientConfig returns a TLS 1.3 client configuration that presents the
// current SVID and accepts only a server whose SVID chains to the current
// bundle and passes authorize. Server names are not checked: the SPIFFE ID
// is the server's identity, and authorize is where it is pinned.
func (s *Source) ClientConfig(authorize tlsconfig.Authorizer) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// crypto/tls would check a DNS name; the SPIFFE verification below
		// replaces it (and still runs on resumed sessions).
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if c := s.cur.Load().cert; c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil // joining: no SVID yet
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, chains, err := x509svid.Verify(cs.PeerCertificates, s.cur.Load().bundle)
			if err != nil {
				return fmt.Errorf("mtls: server certificate: %w", err)
			}
			if err := authorize(id, chains); err != nil {
				return fmt.Errorf("mtls: server %s not authorized: %w", id, err)
			}
			return nil
		},
	}
}

// HTTPClient returns an HTTP client (HTTP/2 when the server offers it,
// keep-alive) whose connections use ClientConfig(authorize).
func (s *Source) HTTPClient(authorize tlsconfig.Authorizer) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     s.ClientConfig(authorize),
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
	}}
}

// PeerID returns the SPIFFE ID of the client of r, as verified during the
// handshake by a server configuration from ServerConfig (or any that makes
// crypto/tls verify client chains). It reports false when there is no
// verified client SVID.
func PeerID(r *http.Request) (spiffeid.ID, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return spiffeid.ID{}, false
	}
	id, err := svidID(r.TLS.VerifiedChains[0][0])
	if err != nil {
		return spiffeid.ID{}, false
	}
	return id, true
}
