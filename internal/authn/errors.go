package authn

import "errors"

// Error is why a credential was refused. Reason is a stable code for events
// and logs (never sent to the client); Code is the RFC 6750 error code the
// client may see: "invalid_request" (400) or "invalid_token" (401).
type Error struct {
	Reason string
	Code   string
}

func (e *Error) Error() string { return "credential refused: " + e.Reason }

// ErrNoCredentials is returned by BearerToken when the request carries no
// Authorization header at all (RFC 6750 §3.1: answer without an error code).
var ErrNoCredentials = errors.New("no credentials")

// Reasons a token is refused. They are stable: detection rules key on them.
const (
	ReasonMalformed       = "malformed"        // two Authorization headers, another scheme, characters outside b64token
	ReasonMalformedToken  = "malformed_token"  // not a compact JWS, bad base64 or JSON, duplicate keys
	ReasonTooLarge        = "too_large"        // longer than the issuer's max_token_size
	ReasonAlgNone         = "alg_none"         // "alg": "none"
	ReasonAlgNotAllowed   = "alg_not_allowed"  // an algorithm outside the issuer's list, or not matching the key
	ReasonEmbeddedKey     = "embedded_key"     // jwk, jku, x5u, x5c... in the header
	ReasonCrit            = "crit"             // a crit header (no extension is understood)
	ReasonUnknownIssuer   = "wrong_issuer"     // iss is not one of the route's issuers
	ReasonUnknownKey      = "unknown_key"      // no key with that kid, even after a refetch
	ReasonBadSignature    = "bad_signature"    // the signature does not verify
	ReasonExpired         = "expired"          // exp (plus leeway) has passed
	ReasonNotYetValid     = "not_yet_valid"    // nbf is in the future
	ReasonIssuedInFuture  = "issued_in_future" // iat is in the future
	ReasonNoExpiry        = "no_expiry"        // exp is missing: tokens that never expire are refused
	ReasonNoSubject       = "no_subject"       // sub is missing or empty
	ReasonWrongAudience   = "wrong_audience"   // aud holds none of the issuer's audiences
	ReasonWrongType       = "wrong_type"       // typ is not at+jwt where the issuer requires it
	ReasonRevoked         = "revoked"          // the token, its subject or its client was revoked
	ReasonKeysUnavailable = "keys_unavailable" // the issuer's key set has not been fetched yet (503, not the client's fault)
)

func refuse(reason string) *Error {
	code := "invalid_token"
	if reason == ReasonMalformed || reason == ReasonTooLarge {
		code = "invalid_request"
	}
	return &Error{Reason: reason, Code: code}
}
