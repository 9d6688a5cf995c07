package router

import (
	"errors"
	"strings"
	"testing"
)

// precedenceSpecs exercises every precedence rule. Order is deliberately
// scrambled: catch-alls first, specific routes last.
var precedenceSpecs = []Spec{
	0:  {Path: "/*"},
	1:  {Path: "/"},
	2:  {Path: "/admin/*"},
	3:  {Path: "/admin", Methods: []string{"GET"}},
	4:  {Path: "/admin/users/{id}", Methods: []string{"GET", "DELETE"}},
	5:  {Path: "/admin/users/me"},
	6:  {Path: "/accounts/{id}", Methods: []string{"GET"}},
	7:  {Path: "/accounts/{account}", Methods: []string{"POST"}},
	8:  {Path: "/accounts/{id}/statements/*"},
	9:  {Path: "/accounts/{id}/statements/latest"},
	10: {Path: "/accounts/export"},
	11: {Path: "/{tenant}/settings"},
	12: {Path: "/static/*", AllowSemicolon: true},
	13: {Path: "/static/js/*"},
	14: {Host: "api.example.com", Path: "/admin", Methods: []string{"GET"}},
	15: {Host: "*.example.com", Path: "/admin"},
	16: {Host: "*.eu.example.com", Path: "/admin"},
	17: {Host: "api.example.com", Path: "/v1/*"},
	18: {Path: "/files/{name}", AllowSemicolon: true},
	19: {Host: "[::1]", Path: "/local"},
	20: {Host: "127.0.0.1", Path: "/local"},
	21: {Path: "/status", Methods: []string{"GET"}},
	22: {Path: "/status", Methods: []string{"PROPFIND"}},
	23: {Path: "/a/{x}/c"},
	24: {Path: "/a/b/{y}"},
	25: {Path: "/caf%C3%A9/menu"},
	26: {Host: "Shop.Example.NET.", Path: "/cart"},
}

type matchCase struct {
	name   string
	host   string
	path   string // canonical
	method string
	semi   bool
	index  int
	res    Result
	allow  string
	params map[string]string
}

func TestPrecedence(t *testing.T) {
	r := mustNew(t, precedenceSpecs)
	tests := []matchCase{
		{name: "root exact", path: "/", index: 1},
		{name: "catch-all", path: "/anything/else", index: 0},
		{name: "exact beats prefix", path: "/admin", index: 3},
		{name: "exact beats prefix with trailing slash", path: "/admin/", index: 3},
		{name: "prefix below", path: "/admin/x", index: 2},
		{name: "param under prefix", path: "/admin/users/7", index: 4, params: map[string]string{"id": "7"}},
		{name: "literal beats param", path: "/admin/users/me", method: "POST", index: 5},
		{name: "deeper than param falls back to prefix", path: "/admin/users/7/x", index: 2},
		{name: "param", path: "/accounts/7", index: 6, params: map[string]string{"id": "7"}},
		{name: "same shape other method other name", path: "/accounts/7", method: "POST", index: 7, params: map[string]string{"account": "7"}},
		{name: "literal beats param at same depth", path: "/accounts/export", index: 10},
		{name: "literal dead end backtracks to param", path: "/accounts/export/statements/latest", index: 9, params: map[string]string{"id": "export"}},
		{name: "exact under param beats prefix", path: "/accounts/7/statements/latest", index: 9},
		{name: "prefix under param", path: "/accounts/7/statements/2024/06", index: 8},
		{name: "prefix matches its own root", path: "/accounts/7/statements", index: 8},
		{name: "unrouted parent", path: "/accounts", index: 0},
		{name: "param first segment", path: "/acme/settings", index: 11, params: map[string]string{"tenant": "acme"}},
		{name: "literal first segment beats param first segment", path: "/admin/settings", index: 2},
		{name: "prefix", path: "/static/app.css", index: 12},
		{name: "longer prefix", path: "/static/js/app.js", index: 13},
		{name: "prefix without trailing slash", path: "/static", index: 12},
		{name: "longer prefix without trailing slash", path: "/static/js", index: 13},
		{name: "prefix with trailing slash", path: "/static/js/", index: 13},
		{name: "literal second segment beats param second segment", path: "/a/b/c", index: 24, params: map[string]string{"y": "c"}},
		{name: "param second segment", path: "/a/z/c", index: 23, params: map[string]string{"x": "z"}},
		{name: "escaped literal", path: "/caf%C3%A9/menu", index: 25},
		{name: "escaped literal, other case", path: "/CAF%c3%a9/MENU", index: 25},
		{name: "exact host beats wildcard", host: "api.example.com", path: "/admin", index: 14},
		{name: "exact host beats wildcard for HEAD", host: "api.example.com", path: "/admin", method: "HEAD", index: 14},
		{name: "exact host no fall through on method", host: "api.example.com", path: "/admin", method: "POST", index: -1, res: MethodNotAllowed, allow: "GET, HEAD"},
		{name: "exact host prefix", host: "api.example.com", path: "/v1/x", index: 17},
		{name: "exact host falls through on missing path", host: "api.example.com", path: "/other", index: 0},
		{name: "wildcard host", host: "www.example.com", path: "/admin", method: "POST", index: 15},
		{name: "longer wildcard first", host: "a.eu.example.com", path: "/admin", index: 16},
		{name: "wildcard is not the apex", host: "eu.example.com", path: "/admin", index: 15},
		{name: "apex falls to any host", host: "example.com", path: "/admin", index: 3},
		{name: "multi-label wildcard", host: "a.b.c.example.com", path: "/admin", index: 15},
		{name: "lookalike suffix", host: "evilexample.com", path: "/admin", index: 3},
		{name: "normalized config host", host: "shop.example.net", path: "/cart", index: 26},
		{name: "other host", host: "shop.example.org", path: "/cart", index: 0},
		{name: "ipv6 host", host: "[::1]:8443", path: "/local", index: 19},
		{name: "ipv6 host other spelling", host: "[0:0::1]", path: "/local", index: 19},
		{name: "ipv4 host", host: "127.0.0.1:80", path: "/local", index: 20},
		{name: "name is not the address", host: "localhost", path: "/local", index: 0},
		{name: "extension method", path: "/status", method: "PROPFIND", index: 22},
		{name: "GET implies HEAD", path: "/status", method: "HEAD", index: 21},
		{name: "405 lists union", path: "/status", method: "DELETE", index: -1, res: MethodNotAllowed, allow: "GET, HEAD, PROPFIND"},
		{name: "methods are case-sensitive", path: "/status", method: "get", index: -1, res: MethodNotAllowed, allow: "GET, HEAD, PROPFIND"},
	}
	runMatchCases(t, r, tests)
}

// TestNoFallThrough: a method the most specific route does not take is
// refused, never handed to a less specific route with a weaker policy.
func TestNoFallThrough(t *testing.T) {
	r := mustNew(t, precedenceSpecs)
	runMatchCases(t, r, []matchCase{
		// Attacks.
		{name: "DELETE /admin does not reach /*", path: "/admin", method: "DELETE", index: -1, res: MethodNotAllowed, allow: "GET, HEAD"},
		{name: "DELETE /ADMIN/ does not reach /*", path: "/ADMIN/", method: "DELETE", index: -1, res: MethodNotAllowed, allow: "GET, HEAD"},
		{name: "POST user does not reach /admin/*", path: "/admin/users/7", method: "POST", index: -1, res: MethodNotAllowed, allow: "DELETE, GET, HEAD"},
		{name: "PUT account does not reach /*", path: "/accounts/7", method: "PUT", index: -1, res: MethodNotAllowed, allow: "GET, HEAD, POST"},
		// Honest requests.
		{name: "GET /admin", path: "/admin", index: 3},
		{name: "DELETE user", path: "/admin/users/7", method: "DELETE", index: 4, params: map[string]string{"id": "7"}},
		{name: "DELETE below /admin reaches /admin/*", path: "/admin/x", method: "DELETE", index: 2},
	})
}

// TestVariantsHitProtectedRoute: case and trailing-slash variants of a
// protected path reach the protected route, not a weaker one.
func TestVariantsHitProtectedRoute(t *testing.T) {
	r := mustNew(t, []Spec{
		{Path: "/*"}, // public
		{Path: "/admin", Methods: []string{"GET"}},           // protected
		{Path: "/admin/{section}", Methods: []string{"GET"}}, // protected
	})
	var cases []matchCase
	for _, p := range []string{"/admin", "/ADMIN", "/Admin", "/aDmIn/", "/admin/"} {
		cases = append(cases, matchCase{name: p, path: p, index: 1})
	}
	for _, p := range []string{"/admin/users", "/ADMIN/users/", "/Admin/Users"} {
		cases = append(cases, matchCase{name: p, path: p, index: 2})
	}
	cases = append(cases,
		matchCase{name: "honest public", path: "/public", index: 0},
		matchCase{name: "lookalike is public", path: "/admins", index: 0},
		matchCase{name: "deeper is public", path: "/admin/users/7", index: 0},
	)
	runMatchCases(t, r, cases)
}

func TestSemicolon(t *testing.T) {
	r := mustNew(t, precedenceSpecs)
	runMatchCases(t, r, []matchCase{
		// Attacks: a servlet upstream reads "/admin;x" as "/admin".
		{name: "matrix param on protected literal", path: "/admin;x", semi: true, index: 0, res: SemicolonNotAllowed},
		{name: "matrix param on param route", path: "/accounts/7;x", semi: true, index: 6, res: SemicolonNotAllowed},
		{name: "encoded semicolon", path: "/accounts/7%3Bx", semi: true, index: 6, res: SemicolonNotAllowed},
		// Honest requests.
		{name: "allowed under prefix", path: "/static/app.js;v=2", semi: true, index: 12},
		{name: "allowed under param", path: "/files/a;b", semi: true, index: 18, params: map[string]string{"name": "a;b"}},
		{name: "no semicolon", path: "/accounts/7", index: 6},
		{name: "405 wins over semicolon", path: "/admin", method: "DELETE", semi: true, index: -1, res: MethodNotAllowed, allow: "GET, HEAD"},
	})
}

func TestHostNormalization(t *testing.T) {
	r := mustNew(t, []Spec{
		{Host: "api.example.com", Path: "/x"},
		{Host: "*.example.com", Path: "/x"},
		{Host: "[2001:db8::1]", Path: "/x"},
		{Host: "192.0.2.1", Path: "/x"},
		{Path: "/x"},
	})
	tests := []struct {
		host  string
		index int
	}{
		{"api.example.com", 0},
		{"API.EXAMPLE.COM", 0},
		{"Api.Example.Com:8443", 0},
		{"api.example.com.", 0},
		{"api.example.com.:443", 0},
		{"api.example.com:", 0},
		{"api.example.com..", 4},   // only one trailing dot is ignored
		{"api.example.com:x", 4},   // malformed port: no host route
		{"api.example.com:1:2", 4}, // malformed
		{"www.EXAMPLE.com:80", 1},
		{"www.example.com.", 1},
		{"example.com", 4},
		{".example.com", 4}, // an empty label is not a subdomain
		{"[2001:db8::1]", 2},
		{"[2001:DB8:0::1]:443", 2},
		{"[2001:db8::1", 4},
		{"[2001:db8::1]x", 4},
		{"2001:db8::1", 4}, // unbracketed IPv6 is not a valid Host
		{"[]", 4},
		{"192.0.2.1:8080", 3},
		{"192.0.2.1.", 3},
		{"", 4},
		{":80", 4},
	}
	for _, tt := range tests {
		var p Params
		idx, res, _ := r.Match(tt.host, "/x", "GET", false, &p)
		if idx != tt.index || res != Found {
			t.Errorf("Match(host %q) = %d, %v; want %d, found", tt.host, idx, res, tt.index)
		}
	}
}

func TestParams(t *testing.T) {
	r := mustNew(t, []Spec{
		{Path: "/orgs/{org}/repos/{repo}/issues/{n}"},
		{Path: "/p/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}"},
	})
	var p Params
	idx, res, _ := r.Match("", "/orgs/acme/repos/caf%C3%A9/issues/7", "GET", false, &p)
	if idx != 0 || res != Found || p.Len() != 3 {
		t.Fatalf("got %d %v len %d", idx, res, p.Len())
	}
	if v, ok := p.Get("repo"); !ok || v != "caf%C3%A9" {
		t.Errorf("repo = %q, %v; want the escaped segment", v, ok)
	}
	if n, v := p.At(2); n != "n" || v != "7" {
		t.Errorf("At(2) = %q, %q", n, v)
	}
	if n, v := p.At(3); n != "" || v != "" {
		t.Errorf("At(3) out of range = %q, %q", n, v)
	}
	if _, ok := p.Get("missing"); ok {
		t.Error("Get(missing) found something")
	}
	if idx, res, _ := r.Match("", "/p/1/2/3/4/5/6/7/8", "GET", false, &p); idx != 1 || res != Found || p.Len() != 8 {
		t.Fatalf("eight params: %d %v %d", idx, res, p.Len())
	}
	if n, v := p.At(7); n != "h" || v != "8" {
		t.Errorf("At(7) = %q, %q", n, v)
	}
	// A miss leaves no stale parameters behind.
	if _, res, _ := r.Match("", "/nope", "GET", false, &p); res != NotFound || p.Len() != 0 {
		t.Errorf("after a miss: %v, Len %d", res, p.Len())
	}
	// Empty segments never bind a parameter.
	if _, res, _ := r.Match("", "/orgs//repos/x/issues/7", "GET", false, &p); res != NotFound {
		t.Errorf("empty param matched: %v", res)
	}
}

func TestNewRefusesDuplicates(t *testing.T) {
	tests := []struct {
		name  string
		specs []Spec
		index int // -1: accepted
	}{
		{"same path twice", []Spec{{Path: "/a"}, {Path: "/a"}}, 1},
		{"any vs GET", []Spec{{Path: "/a", Methods: []string{"GET"}}, {Path: "/a"}}, 1},
		{"literal case", []Spec{{Path: "/Admin"}, {Path: "/admin"}}, 1},
		{"param names differ", []Spec{{Path: "/a/{id}", Methods: []string{"GET"}}, {Path: "/A/{x}", Methods: []string{"GET", "POST"}}}, 1},
		{"GET implies HEAD", []Spec{{Path: "/a", Methods: []string{"GET"}}, {Path: "/a", Methods: []string{"HEAD"}}}, 1},
		{"same escape spelled differently", []Spec{{Path: "/caf%C3%A9"}, {Path: "/caf\xc3\xa9"}}, 1},
		{"unreserved escape", []Spec{{Path: "/a~b"}, {Path: "/a%7eb"}}, 1},
		{"same prefix", []Spec{{Path: "/s/*"}, {Path: "/S/*"}}, 1},
		{"host case and trailing dot", []Spec{{Host: "*.example.com", Path: "/a"}, {Host: "*.EXAMPLE.com.", Path: "/a"}}, 1},
		{"ipv6 spellings", []Spec{{Host: "[::1]", Path: "/a"}, {Host: "[0::1]", Path: "/a"}}, 1},
		{"extension method", []Spec{{Path: "/a", Methods: []string{"PROPFIND"}}, {Path: "/a", Methods: []string{"PROPFIND", "PUT"}}}, 1},
		{"third route", []Spec{{Path: "/x"}, {Path: "/a", Methods: []string{"GET"}}, {Path: "/a", Methods: []string{"PUT", "GET"}}}, 2},
		{"disjoint methods", []Spec{{Path: "/a", Methods: []string{"GET"}}, {Path: "/a", Methods: []string{"POST"}}}, -1},
		{"different hosts", []Spec{{Host: "a.example.com", Path: "/a"}, {Host: "b.example.com", Path: "/a"}, {Path: "/a"}}, -1},
		{"exact and wildcard host", []Spec{{Host: "a.example.com", Path: "/a"}, {Host: "*.example.com", Path: "/a"}}, -1},
		{"exact and prefix", []Spec{{Path: "/a"}, {Path: "/a/*"}}, -1},
		{"param and prefix", []Spec{{Path: "/a/{x}"}, {Path: "/a/*"}}, -1},
		{"literal and param", []Spec{{Path: "/a/b"}, {Path: "/a/{x}"}}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.specs)
			if tt.index < 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *SpecError
			if !errors.As(err, &se) || se.Index != tt.index || se.Field != "match.path" {
				t.Fatalf("err = %v; want a match.path SpecError for route %d", err, tt.index)
			}
			if !strings.Contains(se.Msg, "route ") {
				t.Errorf("message %q does not name the other route", se.Msg)
			}
		})
	}
}

func TestNewRefusesInvalid(t *testing.T) {
	tests := []struct {
		name  string
		spec  Spec
		field string
	}{
		{"empty path", Spec{Path: ""}, "match.path"},
		{"relative", Spec{Path: "admin"}, "match.path"},
		{"trailing slash", Spec{Path: "/a/"}, "match.path"},
		{"empty segment", Spec{Path: "/a//b"}, "match.path"},
		{"star not last", Spec{Path: "/a/*/b"}, "match.path"},
		{"star inside segment", Spec{Path: "/a*"}, "match.path"},
		{"double star", Spec{Path: "/a/**"}, "match.path"},
		{"empty param", Spec{Path: "/{}"}, "match.path"},
		{"param starts with digit", Spec{Path: "/{1x}"}, "match.path"},
		{"param with dash", Spec{Path: "/{a-b}"}, "match.path"},
		{"duplicate param", Spec{Path: "/{a}/{a}"}, "match.path"},
		{"unclosed brace", Spec{Path: "/{a"}, "match.path"},
		{"brace inside segment", Spec{Path: "/x{a}"}, "match.path"},
		{"nine params", Spec{Path: "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"}, "match.path"},
		{"dotdot", Spec{Path: "/a/.."}, "match.path"},
		{"dot", Spec{Path: "/a/./b"}, "match.path"},
		{"encoded dot", Spec{Path: "/a/%2E"}, "match.path"},
		{"encoded slash", Spec{Path: "/a%2Fb"}, "match.path"},
		{"backslash", Spec{Path: `/a\b`}, "match.path"},
		{"bad escape", Spec{Path: "/a%zz"}, "match.path"},
		{"space", Spec{Path: "/a b"}, "match.path"},
		{"semicolon without allow", Spec{Path: "/a;b"}, "match.path"},
		{"star host", Spec{Host: "*", Path: "/"}, "match.host"},
		{"inner wildcard", Spec{Host: "a.*.example.com", Path: "/"}, "match.host"},
		{"bare wildcard suffix", Spec{Host: "*.", Path: "/"}, "match.host"},
		{"host with port", Spec{Host: "example.com:8443", Path: "/"}, "match.host"},
		{"ipv6 with port", Spec{Host: "[::1]:80", Path: "/"}, "match.host"},
		{"unbracketed ipv6", Spec{Host: "::1", Path: "/"}, "match.host"},
		{"bracketed ipv4", Spec{Host: "[127.0.0.1]", Path: "/"}, "match.host"},
		{"empty label", Spec{Host: "a..example.com", Path: "/"}, "match.host"},
		{"leading dot", Spec{Host: ".example.com", Path: "/"}, "match.host"},
		{"space in host", Spec{Host: "exa mple.com", Path: "/"}, "match.host"},
		{"lowercase method", Spec{Path: "/", Methods: []string{"get"}}, "match.methods"},
		{"empty method", Spec{Path: "/", Methods: []string{""}}, "match.methods"},
		{"method with space", Spec{Path: "/", Methods: []string{"GE T"}}, "match.methods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]Spec{{Path: "/ok"}, tt.spec})
			var se *SpecError
			if !errors.As(err, &se) || se.Index != 1 || se.Field != tt.field {
				t.Fatalf("err = %v; want SpecError{Index: 1, Field: %q}", err, tt.field)
			}
			if se.Msg == "" {
				t.Error("empty message")
			}
		})
	}
	// The honest forms of the same things compile.
	if _, err := New([]Spec{
		{Path: "/"}, {Path: "/*"}, {Path: "/a/{b_1}/*"}, {Path: "/a;v", AllowSemicolon: true},
		{Host: "*.example.com", Path: "/"}, {Host: "[::1]", Path: "/"}, {Host: "EXAMPLE.com.", Path: "/"},
		{Path: "/m", Methods: []string{"PROPFIND", "M-SEARCH"}}, {Path: "/.well-known/x"},
	}); err != nil {
		t.Fatalf("honest specs refused: %v", err)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	r := mustNew(t, precedenceSpecs)
	for _, c := range []struct{ host, path, method string }{
		{"api.example.com:443", "/admin", "GET"},
		{"www.example.com", "/accounts/7/statements/latest", "GET"},
		{"[::1]:80", "/local", "GET"},
		{"", "/admin", "DELETE"},
	} {
		n := testing.AllocsPerRun(100, func() {
			var p Params
			r.Match(c.host, c.path, c.method, false, &p)
		})
		if n != 0 {
			t.Errorf("Match(%q, %q, %q): %v allocations, want 0", c.host, c.path, c.method, n)
		}
	}
}

func TestNilAndEmpty(t *testing.T) {
	var r *Router
	if idx, res, _ := r.Match("h", "/", "GET", false, nil); idx != -1 || res != NotFound {
		t.Errorf("nil router: %d %v", idx, res)
	}
	e := mustNew(t, nil)
	if idx, res, _ := e.Match("h", "/", "GET", false, nil); idx != -1 || res != NotFound {
		t.Errorf("empty router: %d %v", idx, res)
	}
	r = mustNew(t, []Spec{{Path: "/*"}})
	for _, p := range []string{"", "relative", "*"} {
		if _, res, _ := r.Match("", p, "GET", false, nil); res != NotFound {
			t.Errorf("path %q: %v, want not found", p, res)
		}
	}
}

func mustNew(t testing.TB, specs []Spec) *Router {
	t.Helper()
	r, err := New(specs)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runMatchCases(t *testing.T, r *Router, tests []matchCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			want := tt.res
			if want == NotFound && tt.index >= 0 {
				want = Found
			}
			var p Params
			idx, res, allow := r.Match(tt.host, tt.path, method, tt.semi, &p)
			if idx != tt.index || res != want || allow != tt.allow {
				t.Fatalf("Match(%q, %q, %s) = %d, %v, %q; want %d, %v, %q",
					tt.host, tt.path, method, idx, res, allow, tt.index, want, tt.allow)
			}
			if res != Found && p.Len() != 0 {
				t.Errorf("params set on %v", res)
			}
			for name, v := range tt.params {
				if got, ok := p.Get(name); !ok || got != v {
					t.Errorf("param %s = %q, %v; want %q", name, got, ok, v)
				}
			}
		})
	}
}
