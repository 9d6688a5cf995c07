package mesh

import (
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/rampart-sec/rampart/internal/canonpath"
)

func TestTemplateMatch(t *testing.T) {
	for _, tc := range []struct {
		tmpl string
		yes  []string
		no   []string
	}{
		{"/", []string{"/"}, []string{"/a"}},
		{"/*", []string{"/", "/a", "/a/b/c", "/a/"}, nil},
		{"/status", []string{"/status", "/status/"}, []string{"/", "/statuses", "/status/x", "/Status", "/stat"}},
		{"/accounts/{id}", []string{"/accounts/7", "/accounts/7/", "/accounts/%3A"}, []string{"/accounts", "/accounts/", "/accounts/7/x", "/account/7"}},
		{"/accounts/{id}/keys/{kid}", []string{"/accounts/7/keys/k1"}, []string{"/accounts/7/keys", "/accounts/7/keys/k1/x"}},
		{"/static/*", []string{"/static", "/static/", "/static/a", "/static/a/b"}, []string{"/staticx", "/stati", "/", "/other/static"}},
		{"/a/{x}/*", []string{"/a/1", "/a/1/b/c"}, []string{"/a", "/b/1"}},
	} {
		tp, err := parseTemplate(tc.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tc.tmpl, err)
		}
		for _, p := range tc.yes {
			if !tp.match(p) {
				t.Errorf("%s does not match %s", tc.tmpl, p)
			}
		}
		for _, p := range tc.no {
			if tp.match(p) {
				t.Errorf("%s matches %s", tc.tmpl, p)
			}
		}
	}
}

// Rules are a union: a narrow rule for one method never hides a wider
// rule for another (the gateway's most-specific-route match would).
func TestPolicyUnionOfRules(t *testing.T) {
	a := spiffeid.RequireFromString("spiffe://mesh.test/a")
	b := spiffeid.RequireFromString("spiffe://mesh.test/b")
	p, err := compilePolicy([]Rule{
		{Caller: a.String(), Methods: []string{"GET", "POST"}, Paths: []string{"/docs/*"}},
		{Caller: a.String(), Methods: []string{"GET"}, Paths: []string{"/docs/secret"}},
		{Caller: b.String(), Methods: []string{"*"}, Paths: []string{"/public/*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		caller       spiffeid.ID
		method, path string
		want         string
	}{
		{a, "POST", "/docs/secret", ""},
		{a, "HEAD", "/docs/x", ""},
		{a, "DELETE", "/docs/x", ReasonMethod},
		{a, "GET", "/public/x", ReasonPath},
		{b, "PROPFIND", "/public/x", ""},
		{b, "GET", "/docs/x", ReasonPath},
		{spiffeid.RequireFromString("spiffe://mesh.test/c"), "GET", "/public/x", ReasonUnknownCaller},
	} {
		if got := p.allow(tc.caller, tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s %s: %q, want %q", tc.caller, tc.method, tc.path, got, tc.want)
		}
	}
}

func BenchmarkPolicyAllow(b *testing.B) {
	caller := spiffeid.RequireFromString("spiffe://mesh.test/orders")
	p, err := compilePolicy([]Rule{
		{Caller: caller.String(), Methods: []string{"POST"}, Paths: []string{"/orders", "/orders/{id}/items"}},
		{Caller: caller.String(), Methods: []string{"GET"}, Paths: []string{"/static/*", "/accounts/{id}"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if p.allow(caller, "GET", "/accounts/7") != "" {
			b.Fatal("denied")
		}
	}
}

// The policy sees only canonical paths; on any of them a template match
// does not panic and ignores exactly one trailing slash.
func FuzzTemplateMatch(f *testing.F) {
	for _, s := range []string{"/accounts/7", "/accounts/7/", "//a/../b", "/static/%2e%2e/x", "/a;b", "/%41/{x}"} {
		f.Add(s)
	}
	ts := []string{"/", "/*", "/accounts/{id}", "/static/*", "/a/{x}/*", "/status"}
	f.Fuzz(func(t *testing.T, raw string) {
		canon, _, err := canonpath.Canonical(raw)
		if err != nil {
			return
		}
		for _, s := range ts {
			tp, err := parseTemplate(s)
			if err != nil {
				t.Fatal(err)
			}
			m := tp.match(canon)
			if canon != "/" && canon[len(canon)-1] != '/' && tp.match(canon+"/") != m {
				t.Fatalf("%s: %q and %q disagree", s, canon, canon+"/")
			}
		}
	})
}
