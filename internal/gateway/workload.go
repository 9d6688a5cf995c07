package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/sdk/mtls"
)

// workloadTLS gives client TLS configurations that present the gateway's
// workload identity (sdk/mtls's Source).
type workloadTLS interface {
	ClientConfig(authorize tlsconfig.Authorizer) *tls.Config
}

// startWorkload joins Rampart's CA (or loads the kept certificate) for the
// identity section. ctx bounds the bootstrap; the Source renews until Close.
func startWorkload(ctx context.Context, id config.Identity, dataDir string, log *slog.Logger) (*mtls.Source, error) {
	td, err := spiffeid.TrustDomainFromString(id.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("identity.trust_domain: %w", err)
	}
	bundle, err := os.ReadFile(id.BundleFile)
	if err != nil {
		return nil, fmt.Errorf("identity.bundle_file: %w", err)
	}
	certFile, keyFile := id.CertFile, id.KeyFile
	if certFile == "" {
		certFile = filepath.Join(dataDir, "identity", "svid.pem")
		keyFile = filepath.Join(dataDir, "identity", "svid-key.pem")
	}
	src, err := mtls.New(ctx, mtls.Config{
		CA: id.CA, TrustDomain: td, Bundle: bundle, JoinToken: id.JoinToken,
		CertFile: certFile, KeyFile: keyFile, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("workload identity from %s: %w", id.CA, err)
	}
	return src, nil
}

// errNoWorkload fails every handshake of a pool built without the workload
// identity (only `rampart validate` compiles such tables): mTLS upstreams
// fail closed, never in plaintext.
var errNoWorkload = errors.New("no workload identity: the identity section was not started")

// upstreamMTLS is the client TLS configuration for an upstream that must
// prove spiffeID.
func upstreamMTLS(w workloadTLS, spiffeID string) (*tls.Config, error) {
	id, err := spiffeid.FromString(spiffeID)
	if err != nil {
		return nil, fmt.Errorf("mtls.spiffe_id: %w", err)
	}
	if w == nil {
		return &tls.Config{
			MinVersion:           tls.VersionTLS13,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return nil, errNoWorkload },
			VerifyConnection:     func(tls.ConnectionState) error { return errNoWorkload },
		}, nil
	}
	return w.ClientConfig(tlsconfig.AuthorizeID(id)), nil
}
