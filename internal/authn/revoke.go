package authn

import (
	"slices"
	"time"
)

// Revocation stops tokens before their exp: one token (TokenID), or every
// token of a subject or of a client issued before IssuedBefore. The token
// service publishes them; a verifier drops the matching cached tokens at
// once and refuses matching tokens until Until.
type Revocation struct {
	// Issuer is the configured issuer name; "" matches every issuer.
	Issuer string
	// TokenID is a jti. When set, Subject and ClientID are ignored.
	TokenID string
	// Subject or ClientID (one of them) with IssuedBefore: every token of
	// that subject, or of that client, issued before the instant (zero: all).
	Subject, ClientID string
	IssuedBefore      time.Time
	// Until is when the revocation can be forgotten: the longest lifetime a
	// token it covers can still have. Zero keeps it for the process's life.
	Until time.Time
}

// matches reports whether a token with these claims is revoked by r.
func (r *Revocation) matches(issuer, jti, sub, clientID string, iat time.Time) bool {
	if r.Issuer != "" && r.Issuer != issuer {
		return false
	}
	if r.TokenID != "" {
		return r.TokenID == jti
	}
	if (r.Subject == "" || r.Subject != sub) && (r.ClientID == "" || r.ClientID != clientID) {
		return false
	}
	// A token without iat cannot prove it came after the revocation.
	return r.IssuedBefore.IsZero() || iat.IsZero() || iat.Before(r.IssuedBefore)
}

// Revoke records r and drops the cached tokens it covers. It returns how
// many cached tokens were dropped.
func (v *Verifier) Revoke(r Revocation) int {
	if r.TokenID == "" && r.Subject == "" && r.ClientID == "" {
		return 0
	}
	now := v.now()
	v.revMu.Lock()
	v.revoked = slices.DeleteFunc(v.revoked, func(o Revocation) bool { return !o.Until.IsZero() && o.Until.Before(now) })
	v.revoked = append(v.revoked, r)
	v.nRevoke.Store(int32(len(v.revoked)))
	v.revMu.Unlock()
	return v.invalidate(func(e *entry) bool {
		clientID, _ := e.p.Claims["client_id"].(string)
		if clientID == "" {
			clientID, _ = e.p.Claims["azp"].(string)
		}
		return r.matches(e.issuer.cfg.Name, e.jti, e.p.Subject, clientID, e.iat)
	})
}

// isRevoked checks a verified token's claims against the revocations.
func (v *Verifier) isRevoked(issuer, jti, sub, clientID string, iat time.Time) bool {
	if v.nRevoke.Load() == 0 {
		return false
	}
	now := v.now()
	v.revMu.RLock()
	defer v.revMu.RUnlock()
	for i := range v.revoked {
		r := &v.revoked[i]
		if (r.Until.IsZero() || now.Before(r.Until)) && r.matches(issuer, jti, sub, clientID, iat) {
			return true
		}
	}
	return false
}
