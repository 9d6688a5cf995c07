package authz

import (
	"net/http"
	"testing"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// benchPrincipal looks like a user from a JWT issuer.
func benchPrincipal() *principal.Principal {
	return &principal.Principal{
		Subject: "user-42",
		Kind:    principal.User,
		Issuer:  "rampart",
		Roles:   []string{"reader", "writer"},
		Scopes:  []string{"openid", "accounts:read", "accounts:write"},
		Method:  principal.JWT,
		Claims:  map[string]any{"sub": "user-42", "tenant": "acme", "groups": []any{"eng", "ops"}, "exp": 1.7e9},
	}
}

// benchRequest has the headers of an ordinary browser or API client request.
func benchRequest() *Request {
	return &Request{
		Method:   http.MethodGet,
		Path:     "/accounts/user-42",
		ClientIP: "203.0.113.7",
		Headers: http.Header{
			"Accept":          {"application/json"},
			"Accept-Encoding": {"gzip, br"},
			"User-Agent":      {"bench/1.0"},
			"X-Tenant":        {"acme"},
			"X-Request-Id":    {"0f4c2b1e"},
		},
		Params: map[string]string{"id": "user-42"},
	}
}

func benchDecide(b *testing.B, r Rule, wantAllowed bool) {
	b.Helper()
	p, err := Compile(r)
	if err != nil {
		b.Fatal(err)
	}
	pr := benchPrincipal()
	var req *Request
	if p.NeedsRequest() {
		req = benchRequest()
	}
	if d := p.Decide(pr, req); d.Allowed != wantAllowed {
		b.Fatalf("Decide = %+v, want allowed=%v", d, wantAllowed)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Decide(pr, req)
	}
}

func BenchmarkDecideScopesOnly(b *testing.B) {
	b.Run("allowed", func(b *testing.B) {
		benchDecide(b, Rule{Scopes: []string{"accounts:read", "accounts:write"}, Roles: []string{"admin", "writer"}}, true)
	})
	b.Run("insufficient_scope", func(b *testing.B) {
		benchDecide(b, Rule{Scopes: []string{"accounts:read", "accounts:delete"}}, false)
	})
}

func BenchmarkDecideCEL(b *testing.B) {
	for _, bc := range []struct {
		name, allow string
		allowed     bool
	}{
		{"subject_or_role", `principal.subject == params.id || "admin" in principal.roles`, true},
		{"role_in_list", `"writer" in principal.roles`, true},
		{"claim", `principal.claims.tenant == "acme"`, true},
		{"header", `request.headers["x-tenant"] == principal.claims.tenant`, true},
		{"header_missing", `!("x-admin" in request.headers) && request.method == "GET"`, true},
		{"headers_loop", `request.headers.exists(k, k.startsWith("x-admin"))`, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			benchDecide(b, Rule{Scopes: []string{"accounts:read"}, Allow: bc.allow}, bc.allowed)
		})
	}
}

// BenchmarkCompile is the per-route cost at configuration load.
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(Rule{Scopes: []string{"accounts:read"}, Allow: `principal.subject == params.id || "admin" in principal.roles`}); err != nil {
			b.Fatal(err)
		}
	}
}
