package authn

import (
	"crypto/tls"
	"encoding/hex"
	"strings"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// ReasonNoIdentity: a verified client certificate names no usable identity
// (no SPIFFE ID and no common name, or several SPIFFE IDs).
const ReasonNoIdentity = "no_identity"

// CertificatePrincipal returns the principal a client certificate proves.
// Only a chain that crypto/tls verified against the configured client CAs
// counts (cs.VerifiedChains); a certificate that was merely presented proves
// nothing. A SPIFFE ID (the one URI SAN with scheme spiffe) makes a service
// principal named by that ID; otherwise the subject's common name names a
// client. It returns ErrNoCredentials when the connection has no verified
// certificate.
func CertificatePrincipal(cs *tls.ConnectionState) (*principal.Principal, error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return nil, ErrNoCredentials
	}
	leaf := cs.VerifiedChains[0][0]
	p := &principal.Principal{
		Method:  principal.MTLS,
		Expires: leaf.NotAfter,
		Claims: map[string]any{
			"subject": leaf.Subject.String(),
			"issuer":  leaf.Issuer.String(),
			"serial":  hex.EncodeToString(leaf.SerialNumber.Bytes()),
		},
	}
	var spiffe string
	for _, u := range leaf.URIs {
		if strings.EqualFold(u.Scheme, "spiffe") {
			if spiffe != "" {
				// RFC: an SVID has exactly one SPIFFE ID; two is ambiguous.
				return nil, refuse(ReasonNoIdentity)
			}
			spiffe = u.String()
		}
	}
	switch {
	case spiffe != "":
		p.Subject, p.Kind = spiffe, principal.Service
		p.Claims["spiffe_id"] = spiffe
	case leaf.Subject.CommonName != "":
		p.Subject, p.Kind = leaf.Subject.CommonName, principal.Client
	default:
		return nil, refuse(ReasonNoIdentity)
	}
	return p, nil
}
