package identity

import (
	"errors"
	"net"
	"net/http"

	"github.com/rampart-sec/rampart/internal/event"
)

// Security events of the CA. Principal is the SPIFFE ID concerned; Reason is
// one of the reason codes below; Detail never holds a token or a key.
const (
	SVIDIssued       event.Type = "svid_issued"        // Reason: join, renew, direct (Go API or CLI)
	IssueRefused     event.Type = "svid_refused"       // a join, renewal or issuance was refused; Reason says why
	JoinTokenCreated event.Type = "join_token_created" // Principal is the ID the token is bound to
	CARotated        event.Type = "ca_rotated"         // Reason: init, root, intermediate
)

// Reason codes of IssueRefused.
const (
	ReasonTokenUnknown  = "token_unknown"  // never issued, swept, or malformed
	ReasonTokenReused   = "token_reused"   // already spent: a copy of it is being replayed
	ReasonTokenExpired  = "token_expired"  // past its TTL
	ReasonBadRequest    = "bad_request"    // body not a valid request
	ReasonBadCSR        = "bad_csr"        // CSR unparsable, badly signed or with a refused key
	ReasonNoClientCert  = "no_client_cert" // renewal without a verified client SVID
	ReasonTrustDomain   = "trust_domain"   // ID outside the CA's trust domain
	ReasonReservedID    = "reserved_id"    // ID under /rampart
	ReasonTTL           = "ttl"            // lifetime out of range
	ReasonInternalError = "internal_error" // the CA failed (the log says why)
	ReasonRateLimited   = "rate_limited"   // too many join calls from one address
)

func reasonOf(err error) string {
	switch {
	case errors.Is(err, errTokenUnknown):
		return ReasonTokenUnknown
	case errors.Is(err, errTokenReused):
		return ReasonTokenReused
	case errors.Is(err, errTokenExpired):
		return ReasonTokenExpired
	case errors.Is(err, ErrKeyType):
		return ReasonBadCSR
	case errors.Is(err, ErrTrustDomain):
		return ReasonTrustDomain
	case errors.Is(err, ErrReservedID):
		return ReasonReservedID
	case errors.Is(err, ErrTTL):
		return ReasonTTL
	}
	return ReasonInternalError
}

// severityOf rates a refusal: a replayed token is a stolen credential in use.
func severityOf(reason string) event.Severity {
	switch reason {
	case ReasonTokenReused:
		return event.High
	case ReasonInternalError:
		return event.Low
	}
	return event.Medium
}

func (ca *CA) emit(r *http.Request, t event.Type, sev event.Severity, principal, reason, detail string) {
	ca.emitEvent(r, event.Event{Type: t, Severity: sev, Principal: principal, Reason: reason, Detail: detail})
}

// emitEvent adds what the request tells (path, client address) to e and emits it.
func (ca *CA) emitEvent(r *http.Request, e event.Event) {
	if r != nil {
		e.Route = r.URL.Path
		e.ClientIP = peerHost(r)
	}
	ca.o.events.Emit(e)
}

// peerHost is the address of the client's end of the connection (the CA
// is not meant to sit behind a proxy: mTLS renewals need the direct peer).
func peerHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
