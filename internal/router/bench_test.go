package router

import (
	"testing"

	"github.com/rampart-sec/rampart/internal/canonpath"
)

// table50 is a realistic gateway table: four hosts (one wildcard), exact
// paths, {param} templates, prefixes and method splits.
func table50() []Spec {
	get := []string{"GET"}
	post := []string{"POST"}
	rw := []string{"PUT", "PATCH", "DELETE"}
	specs := []Spec{
		{Path: "/status"},
		{Path: "/healthz", Methods: get},
		{Path: "/.well-known/*"},
		{Path: "/static/*", AllowSemicolon: true},
		{Path: "/*"},
	}
	for _, h := range []string{"api.example.com", "*.tenants.example.com", ""} {
		specs = append(specs,
			Spec{Host: h, Path: "/v1/accounts", Methods: get},
			Spec{Host: h, Path: "/v1/accounts", Methods: post},
			Spec{Host: h, Path: "/v1/accounts/{id}", Methods: get},
			Spec{Host: h, Path: "/v1/accounts/{id}", Methods: rw},
			Spec{Host: h, Path: "/v1/accounts/{id}/statements", Methods: get},
			Spec{Host: h, Path: "/v1/accounts/{id}/statements/{month}", Methods: get},
			Spec{Host: h, Path: "/v1/accounts/{id}/transfers/*"},
			Spec{Host: h, Path: "/v1/users/me", Methods: get},
			Spec{Host: h, Path: "/v1/users/{uid}", Methods: get},
			Spec{Host: h, Path: "/v1/orders/{oid}/items/{item}", Methods: get},
			Spec{Host: h, Path: "/v1/search", Methods: get},
			Spec{Host: h, Path: "/v2/*"},
		)
	}
	specs = append(specs,
		Spec{Host: "admin.example.com", Path: "/", Methods: get},
		Spec{Host: "admin.example.com", Path: "/users", Methods: get},
		Spec{Host: "admin.example.com", Path: "/users/{id}", Methods: []string{"GET", "DELETE"}},
		Spec{Host: "admin.example.com", Path: "/audit/*", Methods: get},
		Spec{Host: "admin.example.com", Path: "/*", Methods: get},
		Spec{Path: "/admin", Methods: get},
		Spec{Path: "/admin/*", Methods: get},
		Spec{Path: "/files/{name}", Methods: get, AllowSemicolon: true},
		Spec{Path: "/{tenant}/dashboard", Methods: get},
	)
	return specs
}

// requests50 are the requests the benchmarks replay, as sent by clients.
var requests50 = []struct{ host, path, method string }{
	{"api.example.com", "/v1/accounts/12345/statements/2024-06", "GET"},
	{"API.example.com:443", "/v1/accounts/12345", "DELETE"},
	{"acme.tenants.example.com", "/v1/orders/9/items/3", "GET"},
	{"www.example.com", "/v1/users/me", "GET"},
	{"admin.example.com", "/users/42", "DELETE"},
	{"www.example.com", "/static/css/site.css", "GET"},
	{"www.example.com", "/acme/dashboard", "GET"},
	{"api.example.com", "/nope/nothing/here", "GET"},
}

func TestTable50(t *testing.T) {
	specs := table50()
	if len(specs) != 50 {
		t.Fatalf("table has %d routes, want 50", len(specs))
	}
	r := mustNew(t, specs)
	for _, q := range requests50 {
		canon, _, err := canonpath.Canonical(q.path)
		if err != nil {
			t.Fatal(err)
		}
		if _, res, _ := r.Match(q.host, canon, q.method, false, nil); res != Found {
			t.Errorf("%s %s%s: %v", q.method, q.host, q.path, res)
		}
	}
}

func BenchmarkMatch50(b *testing.B) {
	r := mustNew(b, table50())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := &requests50[i%len(requests50)]
		var p Params
		r.Match(q.host, q.path, q.method, false, &p)
		i++
	}
}

func BenchmarkCanonicalAndMatch50(b *testing.B) {
	r := mustNew(b, table50())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := &requests50[i%len(requests50)]
		canon, semi, err := canonpath.Canonical(q.path)
		if err != nil {
			b.Fatal(err)
		}
		var p Params
		r.Match(q.host, canon, q.method, semi, &p)
		i++
	}
}
