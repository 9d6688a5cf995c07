package authz

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-sec/rampart/sdk/principal"
)

func mustCompile(t testing.TB, r Rule) *Policy {
	t.Helper()
	p, err := Compile(r)
	if err != nil {
		t.Fatalf("Compile(%+v): %v", r, err)
	}
	return p
}

// checkDecision fails unless d has the wanted reason, and checks the
// invariants every Decision has: allowed exactly when there is no reason,
// an error exactly with policy_error.
func checkDecision(t *testing.T, d Decision, wantReason string) {
	t.Helper()
	if d.Reason != wantReason {
		t.Errorf("Reason = %q (Err %v), want %q", d.Reason, d.Err, wantReason)
	}
	if d.Allowed != (d.Reason == "") {
		t.Errorf("Allowed = %v with Reason %q", d.Allowed, d.Reason)
	}
	if (d.Err != nil) != (d.Reason == ReasonPolicyError) {
		t.Errorf("Err = %v with Reason %q", d.Err, d.Reason)
	}
}

func TestDecideScopesAndRoles(t *testing.T) {
	user := &principal.Principal{
		Subject: "u1",
		Scopes:  []string{"openid", "accounts:read", "accounts:write"},
		Roles:   []string{"reader", "auditor"},
	}
	tests := []struct {
		name        string
		rule        Rule
		pr          *principal.Principal
		wantReason  string
		wantMissing string
	}{
		{name: "no requirements", rule: Rule{}, pr: user},
		{name: "all scopes held", rule: Rule{Scopes: []string{"accounts:read", "accounts:write"}}, pr: user},
		{name: "one scope missing", rule: Rule{Scopes: []string{"accounts:read", "accounts:delete"}}, pr: user,
			wantReason: ReasonInsufficientScope, wantMissing: "accounts:delete"},
		{name: "several missing, in rule order", rule: Rule{Scopes: []string{"b:x", "accounts:read", "a:y"}}, pr: user,
			wantReason: ReasonInsufficientScope, wantMissing: "b:x a:y"},
		{name: "duplicate required scope listed once", rule: Rule{Scopes: []string{"a", "a", "b"}}, pr: user,
			wantReason: ReasonInsufficientScope, wantMissing: "a b"},
		{name: "scope match is exact", rule: Rule{Scopes: []string{"accounts"}}, pr: user,
			wantReason: ReasonInsufficientScope, wantMissing: "accounts"},
		{name: "anonymous lacks every scope", rule: Rule{Scopes: []string{"x", "y"}}, pr: &principal.Principal{},
			wantReason: ReasonInsufficientScope, wantMissing: "x y"},
		{name: "any one role", rule: Rule{Roles: []string{"admin", "auditor"}}, pr: user},
		{name: "no role held", rule: Rule{Roles: []string{"admin", "owner"}}, pr: user, wantReason: ReasonMissingRole},
		{name: "nil roles", rule: Rule{Roles: []string{"admin"}}, pr: &principal.Principal{Scopes: []string{"x"}}, wantReason: ReasonMissingRole},
		{name: "scopes before roles", rule: Rule{Scopes: []string{"x"}, Roles: []string{"admin"}}, pr: user,
			wantReason: ReasonInsufficientScope, wantMissing: "x"},
		{name: "roles before allow", rule: Rule{Roles: []string{"admin"}, Allow: "false"}, pr: user, wantReason: ReasonMissingRole},
		{name: "scopes and roles held, allow false", rule: Rule{Scopes: []string{"openid"}, Roles: []string{"reader"}, Allow: "false"}, pr: user,
			wantReason: ReasonPolicyDenied},
		{name: "scopes and roles held, allow true", rule: Rule{Scopes: []string{"openid"}, Roles: []string{"reader"}, Allow: "true"}, pr: user},
		{name: "nil principal is anonymous", rule: Rule{Scopes: []string{"x"}}, pr: nil,
			wantReason: ReasonInsufficientScope, wantMissing: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustCompile(t, tt.rule).Decide(tt.pr, nil)
			checkDecision(t, d, tt.wantReason)
			if d.Missing != tt.wantMissing {
				t.Errorf("Missing = %q, want %q", d.Missing, tt.wantMissing)
			}
		})
	}
}

func TestCompileRejectsBadScopesAndRoles(t *testing.T) {
	for _, r := range []Rule{
		{Scopes: []string{""}},
		{Scopes: []string{"a b"}},
		{Scopes: []string{`a"b`}},
		{Scopes: []string{`a\b`}},
		{Scopes: []string{"caf\u00e9"}},
		{Roles: []string{""}},
	} {
		_, err := Compile(r)
		if err == nil {
			t.Errorf("Compile(%+v) succeeded, want an error", r)
			continue
		}
		var ce *CompileError
		if errors.As(err, &ce) {
			t.Errorf("Compile(%+v) = %v, a CompileError; that is for the allow expression", r, err)
		}
	}
}

// jsonClaims decodes claims the way token verification does.
func jsonClaims(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDecideAllow(t *testing.T) {
	user := &principal.Principal{
		Subject: "u1",
		Kind:    principal.User,
		Issuer:  "rampart",
		Scopes:  []string{"accounts:read"},
		Roles:   []string{"reader"},
		Method:  principal.JWT,
		Claims: jsonClaims(t, `{"tenant": "acme", "level": 3, "admin": false,
			"groups": ["eng", "ops"], "org": {"id": 7, "name": "Acme"}, "empty": null}`),
	}
	admin := &principal.Principal{Subject: "root", Roles: []string{"admin"}}
	h := http.Header{}
	h.Set("X-Tenant", "acme")
	h.Add("Accept", "text/html")
	h.Add("Accept", "application/json")
	long := "X-" + strings.Repeat("Long", 20)
	h.Set(long, "yes")
	req := &Request{
		Method:   "GET",
		Path:     "/accounts/u1",
		ClientIP: "203.0.113.7",
		Query:    url.Values{"page": {"2", "3"}, "q": {""}},
		Headers:  h,
		Params:   map[string]string{"id": "u1"},
	}
	other := &Request{Method: "POST", Headers: http.Header{}, Params: map[string]string{"id": "u2"}}

	tests := []struct {
		name       string
		allow      string
		pr         *principal.Principal
		req        *Request
		wantReason string
	}{
		// The design document's example.
		{"owner", `principal.subject == params.id || "admin" in principal.roles`, user, req, ""},
		{"not owner", `principal.subject == params.id || "admin" in principal.roles`, user, other, ReasonPolicyDenied},
		{"admin", `principal.subject == params.id || "admin" in principal.roles`, admin, other, ""},
		{"request.params", `request.params.id == principal.subject`, user, req, ""},

		{"principal fields", `principal.kind == "user" && principal.issuer == "rampart" && principal.method == "jwt" &&
			"accounts:read" in principal.scopes && principal.roles == ["reader"]`, user, nil, ""},
		{"claim", `principal.claims.tenant == "acme"`, user, nil, ""},
		{"claim differs", `principal.claims.tenant == "globex"`, user, nil, ReasonPolicyDenied},
		{"claim number is a double, compares with int", `principal.claims.level == 3 && principal.claims.level >= 2`, user, nil, ""},
		{"claim bool", `principal.claims.admin == false`, user, nil, ""},
		{"claim list", `"ops" in principal.claims.groups && principal.claims.groups.exists(g, g == "eng")`, user, nil, ""},
		{"claim object", `principal.claims.org.id == 7 && principal.claims.org.name == "Acme"`, user, nil, ""},
		{"claim null", `principal.claims.empty == null`, user, nil, ""},
		{"has claim", `has(principal.claims.tenant)`, user, nil, ""},
		{"has no claim", `has(principal.claims.x)`, user, nil, ReasonPolicyDenied},
		{"has nested claim", `has(principal.claims.org.id) && !has(principal.claims.org.x)`, user, nil, ""},
		{"has on nil claims", `has(principal.claims.tenant)`, admin, nil, ReasonPolicyDenied},
		{"has fields", `has(principal.subject) && !has(principal.issuer) && !has(principal.claims)`, admin, nil, ""},
		{"anonymous", `principal.subject == "" && size(principal.roles) == 0 && size(principal.claims) == 0`, &principal.Principal{}, nil, ""},
		{"matches", `principal.subject.matches("^u[0-9]+$")`, user, nil, ""},

		{"header, lower-case name", `request.headers["x-tenant"] == "acme"`, user, req, ""},
		{"header, any case", `request.headers["X-TENANT"] == principal.claims.tenant`, user, req, ""},
		{"header as field", `request.headers.accept == "text/html, application/json"`, user, req, ""},
		{"header present", `"x-tenant" in request.headers && "X-Tenant" in request.headers`, user, req, ""},
		{"header absent", `"x-admin" in request.headers`, user, req, ReasonPolicyDenied},
		{"has header", `has(request.headers.accept) && !has(request.headers.cookie)`, user, req, ""},
		{"header names listed lower-case", `request.headers.exists(k, k == "x-tenant") && !request.headers.exists(k, k.matches("[A-Z]"))`, user, req, ""},
		{"header count", `size(request.headers) == 3`, user, req, ""},
		{"long header name", fmt.Sprintf(`request.headers[%q] == "yes"`, strings.ToLower(long)), user, req, ""},
		{"header name that is no token", `"x tenant" in request.headers || "x-ténant" in request.headers`, user, req, ReasonPolicyDenied},
		{"headers equal a map", `request.headers == {"x-tenant": "acme", "accept": "text/html, application/json", "` + strings.ToLower(long) + `": "yes"}`, user, req, ""},
		{"query, first value", `request.query.page == "2" && request.query.q == "" && !has(request.query.x)`, user, req, ""},
		{"request fields", `request.method == "GET" && request.path.startsWith("/accounts/") && request.client_ip == "203.0.113.7"`, user, req, ""},
		{"query keys", `request.query.exists(k, k == "page") && size(request.query) == 2 && "q" in request.query`, user, req, ""},
		{"query equals a map", `request.query == {"page": "2", "q": ""} && request.query != {"page": "3", "q": ""}`, user, req, ""},
		{"maps are maps", `type(request.headers) == map && type(request.query) == map && type(params) == map`, user, req, ""},
		{"principal in a list", `[principal].exists(p, p.subject == "u1") && principal == principal`, user, nil, ""},
		{"dyn header map", `dyn(request.headers)["x-tenant"] == "acme"`, user, req, ""},
		{"dynamic header key", `request.headers[params.id == "u1" ? "x-tenant" : "accept"] == "acme"`, user, req, ""},

		// Evaluation errors deny.
		{"missing claim", `principal.claims.nope == 1`, user, nil, ReasonPolicyError},
		{"missing claim on nil claims", `principal.claims.tenant == "acme"`, admin, nil, ReasonPolicyError},
		{"missing header", `request.headers["x-admin"] == "1"`, user, req, ReasonPolicyError},
		{"missing param", `params.nope == "x"`, user, req, ReasonPolicyError},
		{"missing param, nil params", `params.id == "x"`, user, &Request{}, ReasonPolicyError},
		{"missing query", `request.query.x == "1"`, user, req, ReasonPolicyError},
		{"wrong claim type", `principal.claims.tenant > 1`, user, nil, ReasonPolicyError},
		{"string function on a number", `principal.claims.level.startsWith("3")`, user, nil, ReasonPolicyError},
		{"error not hidden by or", `principal.claims.nope == 1 || false`, user, nil, ReasonPolicyError},
		{"error absorbed by a true or", `principal.claims.nope == 1 || true`, user, nil, ""},
		{"division by zero", `1 / (size(principal.roles) - 1) == 1`, user, nil, ReasonPolicyError},
		{"request needed but not given", `request.method == "GET"`, user, nil, ReasonPolicyError},
		{"params needed but not given", `params.id == "u1"`, user, nil, ReasonPolicyError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustCompile(t, Rule{Allow: tt.allow}).Decide(tt.pr, tt.req)
			checkDecision(t, d, tt.wantReason)
		})
	}
}

func TestNeedsRequest(t *testing.T) {
	tests := []struct {
		rule Rule
		want bool
	}{
		{Rule{}, false},
		{Rule{Scopes: []string{"a"}, Roles: []string{"b"}}, false},
		{Rule{Allow: `principal.subject == "x"`}, false},
		{Rule{Allow: `principal.claims.request == "x"`}, false},
		{Rule{Allow: `"request" in principal.roles`}, false},
		{Rule{Allow: `request.method == "GET"`}, true},
		{Rule{Allow: `params.id == principal.subject`}, true},
		{Rule{Allow: `has(request.headers.x) || true`}, true},
		{Rule{Allow: `principal.roles.exists(r, r == request.path)`}, true},
	}
	for _, tt := range tests {
		if got := mustCompile(t, tt.rule).NeedsRequest(); got != tt.want {
			t.Errorf("NeedsRequest(%q) = %v, want %v", tt.rule.Allow, got, tt.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name           string
		allow          string
		wantLine       int
		wantColumn     int
		wantMsgContain string
	}{
		{"syntax", `principal.subject ==`, 1, 21, "Syntax error"},
		{"unknown principal field", `principal.subjekt == "x"`, 1, 10, "undefined field 'subjekt'"},
		{"unknown request field", `request.methd == "GET"`, 1, 8, "undefined field 'methd'"},
		{"unknown variable", `user.id == "x"`, 1, 1, "undeclared reference to 'user'"},
		{"unknown function", `principal.subject.lowerAscii() == "x"`, 1, 29, "undeclared reference to 'lowerAscii'"},
		{"type mismatch", `principal.subject == 1`, 1, 19, "no matching overload"},
		{"multi-line", "principal.subject == params.id ||\n  principal.rolez.exists(r, r == \"admin\")", 2, 12, "undefined field 'rolez'"},
		{"third line", "true &&\ntrue &&\n  nope", 3, 3, "undeclared reference to 'nope'"},
		{"struct literal", `rampart.Principal{subject: "x"}.subject == "x"`, 1, 18, "cannot construct"},
		{"not bool", `principal.subject`, 0, 0, "must be bool, is string"},
		{"dyn is not bool", `principal.claims.admin`, 0, 0, "must be bool, is dyn"},
		{"int is not bool", `1 + 1`, 0, 0, "must be bool"},
		{"too long", `true || ` + strings.Repeat(`principal.subject == "x" || `, 200) + `false`, 0, 0, "longer than 4096 bytes"},
		{"nested loops", `request.headers.all(a, request.headers.all(b, request.headers.all(c, a == b)))`, 0, 0, "too expensive"},
		{"always over the limit", `size([` + strings.Repeat("1,", 300) + `1].map(x, [` + strings.Repeat("1,", 300) + `1].map(y, x + y))) > 0`, 0, 0, "cheapest evaluation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(Rule{Allow: tt.allow})
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile = %v (%T), want a *CompileError", err, err)
			}
			if ce.Line != tt.wantLine || ce.Column != tt.wantColumn {
				t.Errorf("at %d:%d, want %d:%d (%s)", ce.Line, ce.Column, tt.wantLine, tt.wantColumn, ce.Msg)
			}
			if !strings.Contains(ce.Msg, tt.wantMsgContain) {
				t.Errorf("Msg = %q, want it to contain %q", ce.Msg, tt.wantMsgContain)
			}
			if strings.ContainsAny(ce.Msg, "\n^") || len(ce.Msg) > 200 {
				t.Errorf("Msg = %q, want one short line without a caret excerpt", ce.Msg)
			}
			if !strings.HasPrefix(err.Error(), "allow expression: ") {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

// The cost limit stops an evaluation over a big input; the request is denied.
func TestCostLimitExceeded(t *testing.T) {
	big := make([]any, 50_000)
	for i := range big {
		big[i] = float64(i)
	}
	pr := &principal.Principal{Claims: map[string]any{"big": big, "small": big[:10]}}
	p := mustCompile(t, Rule{Allow: `principal.claims.big.all(x, x >= 0)`})
	checkDecision(t, p.Decide(pr, nil), ReasonPolicyError)
	if d := p.Decide(pr, nil); d.Err == nil || !strings.Contains(d.Err.Error(), "cost limit exceeded") {
		t.Errorf("Err = %v, want the cost limit", d.Err)
	}
	// The same expression over a small list is fine.
	checkDecision(t, mustCompile(t, Rule{Allow: `principal.claims.small.all(x, x >= 0)`}).Decide(pr, nil), "")

	// An attacker sends thousands of headers to a route whose policy loops over them.
	h := http.Header{}
	for i := range 5000 {
		h.Set(fmt.Sprintf("X-H%d", i), "v")
	}
	p = mustCompile(t, Rule{Allow: `!request.headers.exists(k, request.headers[k] == "evil")`})
	checkDecision(t, p.Decide(pr, &Request{Headers: h}), ReasonPolicyError)
	checkDecision(t, p.Decide(pr, &Request{Headers: http.Header{"X-A": {"v"}}}), "")
}

// Decide must not panic, nor allow by accident, whatever the principal holds.
func TestDecideOddPrincipals(t *testing.T) {
	principals := []*principal.Principal{
		nil,
		{},
		{Roles: []string{}, Scopes: []string{}, Claims: map[string]any{}},
		{Claims: map[string]any{"tenant": nil, "groups": nil, "org": nil}},
		{Claims: jsonClaims(t, `{"tenant": ["acme"], "groups": {"a": 1}, "org": "x", "level": "3", "deep": [[[{"a": [null]}]]]}`)},
		{Claims: jsonClaims(t, `{"tenant": 1e308, "groups": [1, "a", null, true, {"x": []}], "org": {"id": {"id": {}}}}`)},
		{Claims: map[string]any{"tenant": struct{ A int }{1}, "groups": make(chan int), "org": func() {}, "level": []int{1}}},
		{Claims: map[string]any{"tenant": map[string]any{"x": struct{}{}}, "groups": []any{struct{}{}}, "org": map[int]int{1: 1}}},
		{Subject: "\x00\xff", Roles: []string{"", "\xff"}, Scopes: []string{""}, Claims: map[string]any{"": ""}},
	}
	exprs := []string{
		`principal.claims.tenant == "acme"`,
		`has(principal.claims.tenant)`,
		`"eng" in principal.claims.groups`,
		`principal.claims.groups.exists(g, g == "eng")`,
		`principal.claims.org.id == 7`,
		`has(principal.claims.org.id)`,
		`principal.claims.level >= 3`,
		`size(principal.claims) > 0 && principal.claims.all(k, k != "")`,
		`principal.claims == {"a": 1}`,
		`principal.subject.matches("^u") || principal.roles.exists(r, r.startsWith("a"))`,
		`string(principal.claims.tenant) == "acme"`,
		`principal.claims.deep[0][0][0].a[0] == null`,
	}
	for _, src := range exprs {
		p := mustCompile(t, Rule{Allow: src})
		for i, pr := range principals {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s with principal %d: panic %v", src, i, r)
					}
				}()
				d := p.Decide(pr, nil)
				if d.Allowed != (d.Reason == "") || (d.Err != nil) != (d.Reason == ReasonPolicyError) {
					t.Errorf("%s with principal %d: inconsistent %+v", src, i, d)
				}
			}()
		}
	}
}

// Policies are shared by every request on a route. Run with -race.
func TestDecideConcurrent(t *testing.T) {
	p := mustCompile(t, Rule{
		Scopes: []string{"accounts:read"},
		Allow:  `principal.subject == params.id && request.headers["x-tenant"] == principal.claims.tenant`,
	})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 500 {
				id := fmt.Sprintf("u%d-%d", g, i)
				pr := &principal.Principal{Subject: id, Scopes: []string{"accounts:read"}, Claims: map[string]any{"tenant": "acme"}}
				h := http.Header{"X-Tenant": {"acme"}}
				owner := i%2 == 0
				params := map[string]string{"id": id}
				if !owner {
					params["id"] = "someone-else"
				}
				d := p.Decide(pr, &Request{Headers: h, Params: params})
				if d.Allowed != owner {
					errs <- fmt.Errorf("goroutine %d, request %d: %+v, want allowed=%v", g, i, d, owner)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Deciding on scopes and roles alone must not allocate: it runs on every
// request of a protected route.
func TestDecideScopesDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocation counts are not meaningful under -cover or -race")
	}
	p := mustCompile(t, Rule{Scopes: []string{"a", "b"}, Roles: []string{"x", "y"}})
	pr := &principal.Principal{Scopes: []string{"a", "b"}, Roles: []string{"y"}}
	missingOne := mustCompile(t, Rule{Scopes: []string{"a", "c"}})
	if n := testing.AllocsPerRun(100, func() {
		p.Decide(pr, nil)
		missingOne.Decide(pr, nil)
	}); n != 0 {
		t.Errorf("Decide allocates %v times, want 0", n)
	}
}
