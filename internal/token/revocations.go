package token

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/token/store"
)

// Revocations publishes revocations: it records them in the store (the
// feed other processes poll), delivers them to in-process subscribers such
// as an authn.Verifier's Revoke, and keeps the index introspection checks.
type Revocations struct {
	st     store.Store
	issuer string
	now    func() time.Time

	mu     sync.Mutex
	subs   map[int]func(authn.Revocation)
	nextID int
	// cursor is the highest Seq read from the store; seen holds the Seqs
	// above it already delivered because this process published them.
	cursor int64
	seen   map[int64]bool
	// byJTI, bySubject and byClient index what is in force.
	byJTI               map[string]time.Time
	bySubject, byClient map[string][]store.Revocation
}

func newRevocations(st store.Store, issuer string, now func() time.Time) *Revocations {
	return &Revocations{st: st, issuer: issuer, now: now, subs: map[int]func(authn.Revocation){}, seen: map[int64]bool{},
		byJTI: map[string]time.Time{}, bySubject: map[string][]store.Revocation{}, byClient: map[string][]store.Revocation{}}
}

// Subscribe calls fn for every revocation published from now on (by this
// process or, within ReloadInterval, by others). fn runs on the
// publisher's goroutine and must not block. The returned func unsubscribes.
func (v *Revocations) Subscribe(fn func(authn.Revocation)) (cancel func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	id := v.nextID
	v.nextID++
	v.subs[id] = fn
	return func() {
		v.mu.Lock()
		delete(v.subs, id)
		v.mu.Unlock()
	}
}

// Publish records r durably, then applies and delivers it.
func (v *Revocations) Publish(ctx context.Context, r store.Revocation) error {
	seq, err := v.st.AddRevocation(ctx, r)
	if err != nil {
		return err
	}
	r.Seq = seq
	v.mu.Lock()
	defer v.mu.Unlock()
	if seq > v.cursor {
		v.seen[seq] = true
	}
	v.apply(r)
	return nil
}

// poll reads what other processes published.
func (v *Revocations) poll(ctx context.Context) error {
	for {
		rs, err := v.st.RevocationsSince(ctx, v.loadCursor(), v.now(), 1000)
		if err != nil {
			return err
		}
		v.mu.Lock()
		for _, r := range rs {
			v.cursor = max(v.cursor, r.Seq)
			if v.seen[r.Seq] {
				continue
			}
			v.apply(r)
		}
		for seq := range v.seen {
			if seq <= v.cursor {
				delete(v.seen, seq)
			}
		}
		v.mu.Unlock()
		if len(rs) < 1000 {
			return nil
		}
	}
}

func (v *Revocations) loadCursor() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cursor
}

// apply indexes r and delivers it; v.mu is held.
func (v *Revocations) apply(r store.Revocation) {
	now := v.now()
	switch {
	case r.TokenID != "":
		v.byJTI[r.TokenID] = r.Until
	case r.Subject != "":
		v.bySubject[r.Subject] = append(pruned(v.bySubject[r.Subject], now), r)
	case r.ClientID != "":
		v.byClient[r.ClientID] = append(pruned(v.byClient[r.ClientID], now), r)
	}
	if len(v.byJTI) > 1024 && len(v.byJTI)%1024 == 0 {
		for k, until := range v.byJTI {
			if !until.IsZero() && until.Before(now) {
				delete(v.byJTI, k)
			}
		}
	}
	ar := toAuthn(r, v.issuer)
	for _, fn := range v.subs {
		fn(ar)
	}
}

func pruned(rs []store.Revocation, now time.Time) []store.Revocation {
	return slices.DeleteFunc(rs, func(r store.Revocation) bool { return !r.Until.IsZero() && r.Until.Before(now) })
}

func toAuthn(r store.Revocation, issuer string) authn.Revocation {
	return authn.Revocation{Issuer: issuer, TokenID: r.TokenID, Subject: r.Subject, ClientID: r.ClientID, IssuedBefore: ceilSecond(r.IssuedBefore), Until: r.Until}
}

// ceilSecond rounds up to a whole second: "iat" has whole seconds, so a
// token issued earlier in the second of a revocation must count as before it.
func ceilSecond(t time.Time) time.Time {
	if t.IsZero() || t.Equal(t.Truncate(time.Second)) {
		return t
	}
	return t.Truncate(time.Second).Add(time.Second)
}

// revoked reports whether a token with these claims is covered.
func (v *Revocations) revoked(jti, sub, clientID string, iat time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.byJTI[jti]; ok {
		return true
	}
	covers := func(rs []store.Revocation) bool {
		for _, r := range rs {
			if r.IssuedBefore.IsZero() || iat.Before(ceilSecond(r.IssuedBefore)) {
				return true
			}
		}
		return false
	}
	return covers(v.bySubject[sub]) || covers(v.byClient[clientID])
}

// feedEntry is one record of GET /revocations.
type feedEntry struct {
	Seq          int64  `json:"seq"`
	Issuer       string `json:"issuer,omitempty"`
	TokenID      string `json:"jti,omitempty"`
	Subject      string `json:"sub,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	IssuedBefore int64  `json:"issued_before,omitempty"`
	Until        int64  `json:"until,omitempty"`
}

// RevocationsScope is the scope a client needs to read the revocation feed.
const RevocationsScope = "rampart:revocations"

// revocationFeed serves GET /revocations?since=N to clients (HTTP Basic)
// allowed RevocationsScope: the records after N still in force, and the
// "next" value to poll with.
func (s *Server) revocationFeed(w http.ResponseWriter, r *http.Request) {
	id, secret, ok, malformed := basicAuth(r)
	if !ok || malformed {
		writeError(w, errInvalidClient())
		return
	}
	c, reason := s.secretClient(r.Context(), id, secret, clientIP(r))
	if reason != "" {
		s.emit(r, event.Event{Type: ClientAuthFailed, Severity: event.Medium, ClientIP: clientIP(r), Principal: id, Reason: reason, Route: r.URL.Path})
		writeError(w, errInvalidClient())
		return
	}
	if !slices.Contains(c.Scopes, RevocationsScope) {
		writeError(w, &oauthError{Code: "insufficient_scope", Description: "the client may not read revocations", status: http.StatusForbidden})
		return
	}
	since, err := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	if r.URL.Query().Get("since") == "" {
		since, err = 0, nil
	}
	if err != nil || since < 0 {
		writeError(w, errInvalidRequest("since must be a non-negative integer"))
		return
	}
	rs, err := s.store.RevocationsSince(r.Context(), since, s.now(), 1000)
	if err != nil && r.Context().Err() != nil {
		return // the poller went away (a gateway shutting down)
	}
	if err != nil {
		s.log.Error("read revocations", "err", err)
		writeError(w, errServer())
		return
	}
	out := struct {
		Revocations []feedEntry `json:"revocations"`
		Next        int64       `json:"next"`
	}{Revocations: []feedEntry{}, Next: since}
	for _, v := range rs {
		e := feedEntry{Seq: v.Seq, Issuer: s.cfg.IssuerName, TokenID: v.TokenID, Subject: v.Subject, ClientID: v.ClientID}
		if !v.IssuedBefore.IsZero() {
			e.IssuedBefore = ceilSecond(v.IssuedBefore).Unix()
		}
		if !v.Until.IsZero() {
			e.Until = v.Until.Unix()
		}
		out.Revocations = append(out.Revocations, e)
		out.Next = v.Seq
	}
	writeJSON(w, http.StatusOK, out)
}
