// Package principal is the identity the Rampart gateway verified for a
// request: who (Subject, Kind, Issuer), what they may do (Roles, Scopes) and
// how it was proven (Method). Services behind the gateway receive it in a
// short-lived signed internal token and use this package to verify it.
//
// The gateway sends the token in the X-Rampart-Identity header
// (IdentityHeader): a compact JWS signed with the gateway's Ed25519 key
// (alg EdDSA, typ rampart-id+jwt), whose audience is the name of the
// upstream the request is proxied to. A Verifier checks it against the
// gateway's public key set, served on the gateway's admin listener:
//
//	v, err := principal.NewVerifier(principal.VerifierOptions{
//		Audience: "accounts", // this service's upstream name in the gateway config
//		JWKSURL:  "http://127.0.0.1:9901/identity/jwks.json",
//		OnReject: func(r *http.Request, err error) {
//			slog.Warn("identity token refused", "path", r.URL.Path, "error", err)
//		},
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux := http.NewServeMux()
//	mux.HandleFunc("GET /accounts/{id}", func(w http.ResponseWriter, r *http.Request) {
//		p := principal.FromContext(r.Context()) // never nil behind the middleware
//		if p.Subject != r.PathValue("id") && !p.HasRole("admin") {
//			http.Error(w, "forbidden", http.StatusForbidden)
//			return
//		}
//		// ...
//	})
//	log.Fatal(http.ListenAndServe(addr, v.Middleware(mux)))
//
// Requests without a valid token never reach the handlers: the middleware
// answers 401 (503 while the gateway's keys cannot be fetched). Services that read the token elsewhere (a queue, a gRPC
// interceptor) call Verifier.Verify directly.
package principal

import (
	"context"
	"slices"
	"time"
)

// Kind says what sort of party a principal is.
type Kind string

// Kinds of principal.
const (
	User    Kind = "user"    // a person, e.g. from an OIDC login or a user's access token
	Service Kind = "service" // a workload, e.g. proven by a SPIFFE certificate
	Client  Kind = "client"  // an OAuth client acting for itself (client credentials) or an API key holder
)

// Method says how the gateway verified the principal.
type Method string

// Methods of proof.
const (
	JWT           Method = "jwt"
	Introspection Method = "introspection"
	MTLS          Method = "mtls"
	APIKey        Method = "apikey"
	Session       Method = "session" // a browser session from an OIDC login at the gateway
)

// Principal is a verified identity. The zero value is no identity.
type Principal struct {
	Subject string `json:"sub"`
	Kind    Kind   `json:"kind"`
	// Issuer is the configured name of the issuer that vouched for the
	// principal (not its URL), or "" for mTLS and API keys.
	Issuer string   `json:"issuer,omitempty"`
	Roles  []string `json:"roles,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
	Method Method   `json:"method"`
	// Claims are the verified token's claims (JWT and introspection only).
	Claims map[string]any `json:"claims,omitempty"`
	// Expires is when the proof stops being valid (zero: not bounded by a token).
	Expires time.Time `json:"-"`
}

// HasScope reports whether the principal was granted scope s.
func (p *Principal) HasScope(s string) bool { return p != nil && slices.Contains(p.Scopes, s) }

// HasRole reports whether the principal holds role r.
func (p *Principal) HasRole(r string) bool { return p != nil && slices.Contains(p.Roles, r) }

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
