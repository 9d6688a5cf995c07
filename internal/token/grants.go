package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/token/store"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// tokenResponse is the token endpoint's success body (RFC 6749 section 5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if e := parseForm(w, r); e != nil {
		writeError(w, e)
		return
	}
	grant := r.PostForm.Get("grant_type")
	if grant == "" {
		writeError(w, errInvalidRequest("grant_type is required"))
		return
	}
	if grant != GrantClientCredentials && grant != GrantAuthorizationCode && grant != GrantRefreshToken {
		writeError(w, &oauthError{Code: "unsupported_grant_type", Description: "the grant type is not supported", status: http.StatusBadRequest})
		return
	}
	c, e := s.authenticateClient(r, grant != GrantClientCredentials)
	if e != nil {
		writeError(w, e)
		return
	}
	if !slices.Contains(c.GrantTypes, grant) {
		writeError(w, errUnauthorizedClient("the client may not use this grant type"))
		return
	}
	var body []byte
	switch grant {
	case GrantClientCredentials:
		body, e = s.clientCredentials(r, c)
	case GrantAuthorizationCode:
		body, e = s.authorizationCode(r, c)
	case GrantRefreshToken:
		body, e = s.refresh(r, c)
	}
	if e != nil {
		if e.status != http.StatusInternalServerError {
			s.emit(r, event.Event{Type: GrantRefused, Severity: event.Low, ClientIP: clientIP(r), Principal: c.ID, Reason: e.Code, Detail: e.Description, Route: r.URL.Path})
		}
		writeError(w, e)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.Write(body)
}

// grantedScopes checks the requested scope (space-separated) against the
// client's allow-list; no request grants the whole list.
func grantedScopes(requested string, allowed []string) ([]string, bool) {
	if requested == "" {
		return slices.Clone(allowed), true
	}
	var out []string
	for _, sc := range strings.Fields(requested) {
		if !slices.Contains(allowed, sc) {
			return nil, false
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, true
}

// audiences resolves the "audience" (or RFC 8707 "resource") parameter
// against the client's allowed audiences.
func audiences(r *http.Request, allowed []string) ([]string, bool) {
	req := r.PostForm.Get("audience")
	if res := r.PostForm.Get("resource"); res != "" {
		if req != "" && req != res {
			return nil, false
		}
		req = res
	}
	return grantedScopes(req, allowed)
}

func audClaim(aud []string) any {
	if len(aud) == 1 {
		return aud[0]
	}
	return aud
}

// accessClaims are an RFC 9068 access token's claims.
func (s *Server) accessClaims(now time.Time, jti, sub, clientID string, aud, scope []string) map[string]any {
	claims := map[string]any{
		"iss":       s.cfg.Issuer,
		"sub":       sub,
		"client_id": clientID,
		"iat":       now.Unix(),
		"exp":       now.Add(s.cfg.AccessTokenLifetime).Unix(),
		"jti":       jti,
	}
	if len(aud) > 0 {
		claims["aud"] = audClaim(aud)
	} else {
		claims["aud"] = clientID
	}
	if len(scope) > 0 {
		claims["scope"] = strings.Join(scope, " ")
	}
	return claims
}

func (s *Server) clientCredentials(r *http.Request, c store.Client) ([]byte, *oauthError) {
	scope, ok := grantedScopes(r.PostForm.Get("scope"), c.Scopes)
	if !ok {
		return nil, errInvalidScope()
	}
	aud, ok := audiences(r, c.Audiences)
	if !ok {
		return nil, errInvalidScope()
	}
	now := s.now()
	// A client_credentials token is self-contained and is not written to
	// the store: it is revoked by jti (a revocation record) or with its
	// client, so issuing one costs no fsync.
	at, err := s.sign(s.accessClaims(now, randomToken(16), c.ID, c.ID, aud, scope), true)
	if err != nil {
		s.log.Error("sign access token", "client_id", c.ID, "err", err)
		return nil, errServer()
	}
	b, _ := json.Marshal(tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(s.cfg.AccessTokenLifetime / time.Second), Scope: strings.Join(scope, " ")})
	return b, nil
}

// userTokens builds the tokens of a user session: access token, ID token
// when openid was granted, and a new refresh token when the client may refresh.
type userGrant struct {
	client   store.Client
	user     store.User
	scope    []string
	aud      []string
	nonce    string
	authTime time.Time
	family   string
}

type issued struct {
	reply   []byte
	access  store.AccessToken
	refresh *store.RefreshToken
}

func (s *Server) issueUserTokens(g userGrant, now time.Time, withIDToken bool) (issued, error) {
	// One key set for both tokens: at_hash depends on the signing algorithm.
	ks := s.keys.p.Load()
	jti := randomToken(16)
	claims := s.accessClaims(now, jti, g.user.ID, g.client.ID, g.aud, g.scope)
	claims["auth_time"] = g.authTime.Unix()
	if len(g.user.Roles) > 0 {
		claims["roles"] = g.user.Roles
	}
	at, err := ks.sign(claims, true)
	if err != nil {
		return issued{}, err
	}
	resp := tokenResponse{AccessToken: at, TokenType: "Bearer", ExpiresIn: int64(s.cfg.AccessTokenLifetime / time.Second), Scope: strings.Join(g.scope, " ")}
	out := issued{access: store.AccessToken{JTI: jti, Family: g.family, ClientID: g.client.ID, Subject: g.user.ID, Issued: now, Expires: now.Add(s.cfg.AccessTokenLifetime)}}
	if withIDToken && slices.Contains(g.scope, "openid") {
		id := map[string]any{
			"iss":                s.cfg.Issuer,
			"sub":                g.user.ID,
			"aud":                g.client.ID,
			"azp":                g.client.ID,
			"iat":                now.Unix(),
			"exp":                now.Add(s.cfg.IDTokenLifetime).Unix(),
			"auth_time":          g.authTime.Unix(),
			"at_hash":            atHash(ks.alg, at),
			"preferred_username": g.user.Username,
		}
		if g.nonce != "" {
			id["nonce"] = g.nonce
		}
		if resp.IDToken, err = ks.sign(id, false); err != nil {
			return issued{}, err
		}
	}
	if slices.Contains(g.client.GrantTypes, GrantRefreshToken) {
		rt := randomToken(32)
		resp.RefreshToken = rt
		out.refresh = &store.RefreshToken{Hash: store.TokenHash(rt), Family: g.family, ClientID: g.client.ID, Subject: g.user.ID,
			Scope: strings.Join(g.scope, " "), Audience: strings.Join(g.aud, " "), AuthTime: g.authTime, Issued: now, Expires: now.Add(s.cfg.RefreshTokenLifetime)}
	}
	out.reply, err = json.Marshal(resp)
	return out, err
}

// activeUser loads a user who may still get tokens.
func (s *Server) activeUser(ctx context.Context, id string) (store.User, bool) {
	u, err := s.store.GetUser(ctx, id)
	if err != nil || !u.Disabled.IsZero() || u.ID != id {
		return store.User{}, false
	}
	return u, true
}

// pkceVerifier checks an RFC 7636 code_verifier: 43-128 unreserved characters.
func pkceVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (s *Server) authorizationCode(r *http.Request, c store.Client) ([]byte, *oauthError) {
	ctx := r.Context()
	code, verifier := r.PostForm.Get("code"), r.PostForm.Get("code_verifier")
	if code == "" || len(code) > 256 {
		return nil, errInvalidRequest("code is required")
	}
	now := s.now()
	var reply []byte
	// The checks run inside the redemption: a code that fails one is
	// burned, and the tokens are stored in the same transaction that
	// marks the code used.
	ac, err := s.store.RedeemAuthCode(ctx, store.TokenHash(code), now, func(ac store.AuthCode, u store.User) (*store.RefreshToken, store.AccessToken, error) {
		if e := checkCode(ac, c, u, r.PostForm.Get("redirect_uri"), verifier); e != nil {
			return nil, store.AccessToken{}, e
		}
		g := userGrant{client: c, user: u, scope: strings.Fields(ac.Scope), aud: c.Audiences, nonce: ac.Nonce, authTime: ac.AuthTime, family: ac.Family}
		out, err := s.issueUserTokens(g, now, true)
		if err != nil {
			return nil, store.AccessToken{}, err
		}
		reply = out.reply
		return out.refresh, out.access, nil
	})
	var oe *oauthError
	switch {
	case errors.Is(err, store.ErrUsed):
		// RFC 6749 section 4.1.2: a code used twice revokes what it issued.
		if ac.ClientID == c.ID {
			s.revokeFamily(ctx, ac.Family, CodeReused, r)
		}
		return nil, errInvalidGrant("the authorization code is invalid")
	case errors.Is(err, store.ErrNotFound):
		return nil, errInvalidGrant("the authorization code is invalid")
	case errors.As(err, &oe):
		return nil, oe
	case err != nil:
		s.log.Error("redeem authorization code", "client_id", c.ID, "err", err)
		return nil, errServer()
	}
	return reply, nil
}

// checkCode checks a token request against the code it redeems: same
// client, same redirect_uri, PKCE, and a user who may still sign in.
func checkCode(ac store.AuthCode, c store.Client, u store.User, redirectURI, verifier string) *oauthError {
	if ac.ClientID != c.ID {
		return errInvalidGrant("the authorization code is invalid")
	}
	if redirectURI != ac.RedirectURI {
		return errInvalidGrant("redirect_uri does not match the authorization request")
	}
	switch {
	case ac.Challenge == "" && verifier != "":
		// A verifier without a challenge: someone stripped the challenge
		// from the authorization request (PKCE downgrade).
		return errInvalidGrant("code_verifier sent but no code_challenge was")
	case ac.Challenge != "" && (!pkceVerifier(verifier) || subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(ac.Challenge)) != 1):
		return errInvalidGrant("the code_verifier does not match the code_challenge")
	}
	if u.ID != ac.Subject || !u.Disabled.IsZero() {
		return errInvalidGrant("the user may not sign in")
	}
	return nil
}

func (s *Server) refresh(r *http.Request, c store.Client) ([]byte, *oauthError) {
	ctx := r.Context()
	rt := r.PostForm.Get("refresh_token")
	if rt == "" || len(rt) > 256 {
		return nil, errInvalidRequest("refresh_token is required")
	}
	hash := store.TokenHash(rt)
	prev, err := s.store.GetRefreshToken(ctx, hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errInvalidGrant("the refresh token is invalid")
	case err != nil && !errors.Is(err, store.ErrInactive):
		s.log.Error("load refresh token", "client_id", c.ID, "err", err)
		return nil, errServer()
	}
	// Another client's token: refuse without touching it, so a thief
	// cannot burn the owner's family by presenting it elsewhere.
	if prev.ClientID != c.ID {
		return nil, errInvalidGrant("the refresh token is invalid")
	}
	scope := strings.Fields(prev.Scope)
	if req := r.PostForm.Get("scope"); req != "" {
		narrowed, ok := grantedScopes(req, scope)
		if !ok {
			return nil, errInvalidScope()
		}
		scope = narrowed
	}
	u, ok := s.activeUser(ctx, prev.Subject)
	if !ok {
		return nil, errInvalidGrant("the user may not sign in")
	}
	now := s.now()
	g := userGrant{client: c, user: u, scope: scope, aud: strings.Fields(prev.Audience), authTime: prev.AuthTime, family: prev.Family}
	out, err := s.issueUserTokens(g, now, true)
	if err != nil || out.refresh == nil {
		s.log.Error("issue tokens", "client_id", c.ID, "err", err)
		return nil, errServer()
	}
	res, fam, err := s.store.Rotate(ctx, store.Rotation{Old: hash, New: *out.refresh, Access: out.access, Reply: out.reply, Now: now, Grace: s.cfg.RefreshGrace})
	switch {
	case errors.Is(err, store.ErrReused):
		s.publishFamily(ctx, fam, RefreshReused, r)
		return nil, errInvalidGrant("the refresh token is invalid")
	case errors.Is(err, store.ErrInactive), errors.Is(err, store.ErrNotFound):
		return nil, errInvalidGrant("the refresh token is invalid")
	case err != nil:
		s.log.Error("rotate refresh token", "client_id", c.ID, "err", err)
		return nil, errServer()
	case res.Replay != nil:
		return res.Replay, nil
	}
	return out.reply, nil
}

// revokeFamily revokes a refresh family and publishes its access tokens,
// and reports whether all of that was recorded.
func (s *Server) revokeFamily(ctx context.Context, family string, why event.Type, r *http.Request) bool {
	fam, err := s.store.RevokeFamily(ctx, family, s.now())
	if err != nil {
		s.log.Error("revoke refresh family", "err", err)
		return false
	}
	return s.publishFamily(ctx, fam, why, r)
}

func (s *Server) publishFamily(ctx context.Context, fam store.FamilyRevoked, why event.Type, r *http.Request) bool {
	sev := event.Low
	if why != TokenRevoked {
		sev = event.High
	}
	s.emit(r, event.Event{Type: why, Severity: sev, ClientIP: clientIP(r), Principal: fam.Subject, Reason: "family_revoked",
		Detail: "client " + fam.ClientID})
	ok := true
	for _, at := range fam.AccessTokens {
		if err := s.revs.Publish(ctx, store.Revocation{TokenID: at.JTI, Subject: at.Subject, ClientID: at.ClientID, Until: at.Expires}); err != nil {
			s.log.Error("publish revocation", "err", err)
			ok = false
		}
	}
	return ok
}
