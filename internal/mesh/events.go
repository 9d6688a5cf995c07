package mesh

import (
	"net"

	"github.com/rampart-sec/rampart/internal/event"
)

// Security events of the sidecar. Principal is the caller's SPIFFE ID
// (inbound) or the dependency's expected one (outbound); Route is "inbound"
// or "outbound/NAME"; Detail holds the method and path, never a credential.
const (
	HandshakeRefused event.Type = "mesh_handshake_refused" // a peer without a valid SVID of the trust domain: no client certificate, unknown CA, expired, not TLS 1.3
	Denied           event.Type = "mesh_denied"            // verified caller, but the policy (or its SVID's current validity) refused the request: 403
	BadRequest       event.Type = "mesh_bad_request"       // 400; Reason: a canonpath reason (encoded_slash, traversal, ...), semicolon, connect, upgrade or request_target_form
	SpoofedHeader    event.Type = "mesh_spoofed_header"    // a request carried X-Rampart-* headers only the sidecar may set; they were removed
	AppUnavailable   event.Type = "mesh_app_unavailable"   // the local app did not answer: 502
	PeerIdentity     event.Type = "mesh_peer_identity"     // outbound: the target did not prove the expected SPIFFE ID: 502
	OutboundFailure  event.Type = "mesh_outbound_failure"  // outbound: the target could not be reached or failed: 502
)

// Reasons of HandshakeRefused.
const (
	ReasonNoClientCert     = "no_client_cert"    // the peer presented no certificate
	ReasonUnknownAuthority = "unknown_authority" // the certificate does not chain to the trust bundle (another trust domain or CA)
	ReasonCertInvalid      = "cert_invalid"      // expired, not yet valid, wrong usage
	ReasonNotAuthorized    = "not_authorized"    // valid chain, but not an SVID of the trust domain
	ReasonNotTLS           = "not_tls"           // plaintext or garbage: never answered in plaintext
	ReasonTLSVersion       = "tls_version"       // TLS 1.2 or older: only TLS 1.3 is offered
	ReasonAborted          = "aborted"           // the peer closed or timed out mid-handshake (scanners, TCP probes)
	ReasonOverloaded       = "overloaded"        // too many handshakes in progress: dropped before any
	ReasonHandshake        = "handshake_failed"  // any other failure; Detail has the error
)

// Reasons of Denied besides the policy's (ReasonUnknownCaller, ReasonPath, ReasonMethod).
const (
	ReasonNoPeerID       = "no_peer_identity"    // no verified SVID on the connection
	ReasonPeerExpired    = "peer_svid_expired"   // the caller's SVID expired while its connection stayed open
	ReasonPeerRootPulled = "peer_root_untrusted" // the caller's root left the trust bundle since the handshake
)

func clientIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}
