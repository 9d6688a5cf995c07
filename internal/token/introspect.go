package token

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/token/store"
)

// accessToken is a verified access token's claims that matter here.
type accessToken struct {
	claims           map[string]any
	jti, sub, client string
	iat, exp         time.Time
}

// checkAccessToken verifies one of our access tokens: signature, issuer,
// expiry and revocation. A verified signature is remembered until the
// token expires (a key is published until its tokens expire, so the
// answer cannot change); expiry and revocation are checked every time.
func (s *Server) checkAccessToken(tok string) (accessToken, bool) {
	at, ok := s.verified.get(tok)
	if !ok {
		cl, err := s.verify(tok, "at+jwt")
		if err != nil {
			return accessToken{}, false
		}
		at = accessToken{claims: cl}
		at.jti, _ = cl["jti"].(string)
		at.sub, _ = cl["sub"].(string)
		at.client, _ = cl["client_id"].(string)
		iat, _ := cl["iat"].(float64)
		exp, _ := cl["exp"].(float64)
		at.iat, at.exp = time.Unix(int64(iat), 0), time.Unix(int64(exp), 0)
		s.verified.put(tok, at, s.now())
	}
	if !s.now().Before(at.exp) || s.revs.revoked(at.jti, at.sub, at.client, at.iat) {
		return accessToken{}, false
	}
	return at, true
}

// verifiedCache holds verified access tokens, at most max of them.
type verifiedCache struct {
	max int
	mu  sync.RWMutex
	m   map[string]accessToken
}

func (c *verifiedCache) get(tok string) (accessToken, bool) {
	c.mu.RLock()
	at, ok := c.m[tok]
	c.mu.RUnlock()
	return at, ok
}

func (c *verifiedCache) put(tok string, at accessToken, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]accessToken)
	}
	if len(c.m) >= c.max {
		for k, v := range c.m {
			if !now.Before(v.exp) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			// Full of live tokens: start over rather than grow.
			clear(c.m)
		}
	}
	c.m[tok] = at
}

var inactive = map[string]any{"active": false}

// introspect serves RFC 7662 to authenticated confidential clients: any
// of them may introspect access tokens (resource servers do), only the
// holder its own refresh tokens.
// tokenRequest reads the form of an introspection or revocation request
// (RFC 7662, RFC 7009): the authenticated client and the token it names.
// On failure it has answered and ok is false.
func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request, publicOK bool) (c store.Client, tok string, ok bool) {
	if e := parseForm(w, r); e != nil {
		writeError(w, e)
		return c, "", false
	}
	c, e := s.authenticateClient(r, publicOK)
	if e != nil {
		writeError(w, e)
		return c, "", false
	}
	if tok = r.PostForm.Get("token"); tok == "" {
		writeError(w, errInvalidRequest("token is required"))
		return c, "", false
	}
	return c, tok, true
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	c, tok, ok := s.tokenRequest(w, r, false)
	if !ok {
		return
	}
	if at, ok := s.checkAccessToken(tok); ok {
		out := make(map[string]any, len(at.claims)+2)
		for k, v := range at.claims {
			out[k] = v
		}
		out["active"] = true
		out["token_type"] = "Bearer"
		writeJSON(w, http.StatusOK, out)
		return
	}
	if strings.Count(tok, ".") == 0 && len(tok) <= 256 {
		rt, err := s.store.GetRefreshToken(r.Context(), store.TokenHash(tok))
		// A refresh token is only described to the client holding it.
		if err == nil && rt.ClientID == c.ID && s.now().Before(rt.Expires) {
			writeJSON(w, http.StatusOK, map[string]any{"active": true, "token_type": "refresh_token", "client_id": rt.ClientID,
				"sub": rt.Subject, "scope": rt.Scope, "exp": rt.Expires.Unix(), "iat": rt.Issued.Unix(), "iss": s.cfg.Issuer})
			return
		}
	}
	writeJSON(w, http.StatusOK, inactive)
}

// revoke serves RFC 7009. It answers 200 whether or not the token was
// known or belonged to the caller, so it cannot be used to probe tokens.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	c, tok, ok := s.tokenRequest(w, r, true)
	if !ok {
		return
	}
	ctx := r.Context()
	if at, ok := s.checkAccessToken(tok); ok {
		if at.client == c.ID {
			if err := s.revs.Publish(ctx, store.Revocation{TokenID: at.jti, Subject: at.sub, ClientID: at.client, Until: at.exp}); err != nil {
				s.log.Error("publish revocation", "err", err)
				writeError(w, errServer())
				return
			}
			s.emit(r, event.Event{Type: TokenRevoked, Severity: event.Info, ClientIP: clientIP(r), Principal: at.sub, Reason: "access_token"})
		}
	} else if len(tok) <= 256 {
		rt, err := s.store.GetRefreshToken(ctx, store.TokenHash(tok))
		switch {
		case (err == nil || errors.Is(err, store.ErrInactive)) && rt.ClientID == c.ID:
			if !s.revokeFamily(ctx, rt.Family, TokenRevoked, r) {
				writeError(w, errServer())
				return
			}
		case err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInactive):
			// The client must not believe a token revoked that is not.
			s.log.Error("revoke: load refresh token", "client_id", c.ID, "err", err)
			writeError(w, errServer())
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// userinfo returns the claims of the access token's user (OIDC Core 5.3).
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rampart-token"`)
		writeError(w, &oauthError{Code: "invalid_token", Description: "a bearer token is required", status: http.StatusUnauthorized})
		return
	}
	at, ok := s.checkAccessToken(tok)
	scope, _ := at.claims["scope"].(string)
	if !ok || at.sub == at.client || !slices.Contains(strings.Fields(scope), "openid") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rampart-token", error="invalid_token"`)
		writeError(w, &oauthError{Code: "invalid_token", Description: "the access token is invalid", status: http.StatusUnauthorized})
		return
	}
	u, ok := s.activeUser(r.Context(), at.sub)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rampart-token", error="invalid_token"`)
		writeError(w, &oauthError{Code: "invalid_token", Description: "the access token is invalid", status: http.StatusUnauthorized})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": u.ID, "preferred_username": u.Username, "roles": u.Roles})
}

// logout is OIDC RP-initiated logout. The server keeps no login session,
// so ending the session revokes the refresh tokens the ID token's client
// holds for the user, then returns to a registered redirect URI.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hint := q.Get("id_token_hint")
	post := q.Get("post_logout_redirect_uri")
	if hint == "" {
		s.renderMessage(w, http.StatusBadRequest, "Sign-out request refused", "The sign-out request did not say who is signing out.")
		return
	}
	cl, err := s.verify(hint, "")
	sub, _ := cl["sub"].(string)
	aud, _ := cl["aud"].(string)
	if err != nil || sub == "" || aud == "" {
		s.renderMessage(w, http.StatusBadRequest, "Sign-out request refused", "The sign-out request is not valid.")
		return
	}
	c, err := s.activeClient(r.Context(), aud)
	if err != nil {
		s.renderMessage(w, http.StatusBadRequest, "Sign-out request refused", "The sign-out request is not valid.")
		return
	}
	if err := s.store.RevokeGrants(r.Context(), sub, c.ID); err != nil {
		s.log.Error("end session", "client_id", c.ID, "err", err)
		s.renderMessage(w, http.StatusInternalServerError, "Sign-out failed", "Please try again.")
		return
	}
	if post != "" && slices.Contains(c.RedirectURIs, post) {
		u, _ := url.Parse(post)
		v := u.Query()
		if st := q.Get("state"); st != "" {
			v.Set("state", st)
		}
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	s.renderMessage(w, http.StatusOK, "Signed out", "You are signed out.")
}
