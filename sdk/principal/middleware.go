package principal

import (
	"errors"
	"fmt"
	"net/http"
)

// Middleware returns a handler that admits only requests carrying exactly one
// valid identity token in the IdentityHeader, and serves them with next, the
// verified Principal in the request's context (see FromContext).
//
// Other requests get 401 and the body {"error":"unauthorized"}, or, while
// the gateway's keys have never been fetched, 503 with Retry-After and
// {"error":"unavailable"}. The reason is given only to OnReject.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p *Principal
		var err error
		switch vals := r.Header.Values(IdentityHeader); len(vals) {
		case 0:
			err = fmt.Errorf("%w: no %s header", ErrInvalidToken, IdentityHeader)
		case 1:
			p, err = v.Verify(r.Context(), vals[0])
		default:
			err = fmt.Errorf("%w: %d %s headers", ErrInvalidToken, len(vals), IdentityHeader)
		}
		if err != nil {
			if v.onReject != nil {
				v.onReject(r, err)
			}
			reject(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
	})
}

// reject writes the generic refusal for err.
func reject(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if errors.Is(err, ErrKeysUnavailable) {
		h.Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":"unavailable"}`))
		return
	}
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"error":"unauthorized"}`))
}
