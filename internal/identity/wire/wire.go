// Package wire holds the HTTP API shared by the CA server (internal/identity)
// and its Go client (sdk/mtls): paths, bodies and the CA's own identity. It
// lives apart so that services embedding sdk/mtls do not link the CA.
package wire

import (
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Endpoints of `rampart ca serve`.
const (
	JoinPath   = "/v1/join"   // POST JoinRequest, no client certificate → SVIDResponse
	RenewPath  = "/v1/renew"  // POST RenewRequest over mTLS with the current SVID → SVIDResponse
	BundlePath = "/v1/bundle" // GET → BundleResponse (JSON) or PEM with ?format=pem or Accept: application/x-pem-file
)

// MaxBody caps every request body the CA reads: a CSR is well under 4 KiB.
const MaxBody = 64 << 10

// ReservedPath is the SPIFFE ID path prefix of Rampart's own components; the
// CA never issues an ID under it to a workload, so no workload can pose as
// the CA.
const ReservedPath = "/rampart"

// CAID is the SPIFFE ID the CA server presents; clients authorize it.
func CAID(td spiffeid.TrustDomain) (spiffeid.ID, error) {
	id, err := spiffeid.FromPath(td, ReservedPath+"/ca")
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("CA SPIFFE ID in trust domain %q: %w", td, err)
	}
	return id, nil
}

// Reserved reports whether id is in the path space of Rampart's own components.
func Reserved(id spiffeid.ID) bool {
	p := id.Path()
	return p == ReservedPath || strings.HasPrefix(p, ReservedPath+"/")
}

// JoinRequest trades a one-time join token for a first SVID.
type JoinRequest struct {
	Token string `json:"token"`
	CSR   string `json:"csr"` // PEM "CERTIFICATE REQUEST"; only its key and signature count
}

// RenewRequest asks for a new SVID for the identity of the client certificate.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// SVIDResponse carries an issued SVID and the trust bundle at issuance.
type SVIDResponse struct {
	SPIFFEID string `json:"spiffe_id"`
	Chain    string `json:"chain"`  // PEM, leaf first, then the intermediate
	Bundle   string `json:"bundle"` // PEM, every root currently trusted
}

// BundleResponse is the JSON form of the trust bundle.
type BundleResponse struct {
	TrustDomain string `json:"trust_domain"`
	Roots       string `json:"roots"` // PEM
	// RefreshHint says how often, in seconds, clients should fetch the bundle.
	RefreshHint int `json:"refresh_hint"`
}

// Error is the body of every refusal: a short stable code, never details,
// and the request ID under which the CA's security event has them.
type Error struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}
