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

// revocationIndex finds the revocations that may cover a token by its jti,
// subject or client id, so checking a token costs three map lookups however
// many revocations the token service has published.
type revocationIndex struct {
	byJTI, bySubject, byClient map[string][]Revocation
	n                          int
	// pruneAt is the size at which expired revocations are next swept out.
	pruneAt int
}

func (x *revocationIndex) add(r Revocation, now time.Time) {
	if x.byJTI == nil {
		x.byJTI = make(map[string][]Revocation)
		x.bySubject = make(map[string][]Revocation)
		x.byClient = make(map[string][]Revocation)
	}
	if x.n >= x.pruneAt {
		x.prune(now)
		x.pruneAt = max(64, 2*x.n)
	}
	switch {
	case r.TokenID != "":
		x.byJTI[r.TokenID] = append(x.byJTI[r.TokenID], r)
	case r.Subject != "":
		x.bySubject[r.Subject] = append(x.bySubject[r.Subject], r)
	default:
		x.byClient[r.ClientID] = append(x.byClient[r.ClientID], r)
	}
	x.n++
}

// prune drops the revocations whose Until has passed.
func (x *revocationIndex) prune(now time.Time) {
	x.n = 0
	for _, m := range []map[string][]Revocation{x.byJTI, x.bySubject, x.byClient} {
		for k, rs := range m {
			rs = slices.DeleteFunc(rs, func(o Revocation) bool { return !o.Until.IsZero() && o.Until.Before(now) })
			if len(rs) == 0 {
				delete(m, k)
				continue
			}
			m[k] = rs
			x.n += len(rs)
		}
	}
}

func (x *revocationIndex) covers(now time.Time, issuer, jti, sub, clientID string, iat time.Time) bool {
	check := func(rs []Revocation) bool {
		for i := range rs {
			r := &rs[i]
			if (r.Until.IsZero() || now.Before(r.Until)) && r.matches(issuer, jti, sub, clientID, iat) {
				return true
			}
		}
		return false
	}
	return (jti != "" && check(x.byJTI[jti])) ||
		(sub != "" && check(x.bySubject[sub])) ||
		(clientID != "" && check(x.byClient[clientID]))
}

// Revoke records r and drops the cached tokens it covers. It returns how
// many cached tokens were dropped.
func (v *Verifier) Revoke(r Revocation) int {
	if r.TokenID == "" && r.Subject == "" && r.ClientID == "" {
		return 0
	}
	v.revMu.Lock()
	v.revoked.add(r, v.now())
	v.nRevoke.Store(int32(v.revoked.n))
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
	v.revMu.RLock()
	defer v.revMu.RUnlock()
	return v.revoked.covers(v.now(), issuer, jti, sub, clientID, iat)
}
