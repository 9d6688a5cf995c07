// Package authz decides whether a verified principal may use a route: the
// route's required scopes (all of them), its roles (any one of them) and an
// optional CEL `allow` expression. Each route's Rule is compiled once, when the
// configuration loads; Decide is what runs per request, and it fails closed.
//
// # The allow expression
//
// `allow` is a CEL expression (https://cel.dev) that must have type bool. It is
// type-checked when the configuration loads: a misspelt field, an undeclared
// variable or a result that is not bool refuses the configuration. These
// variables are declared:
//
//	principal            the verified identity (anonymous on `auth: none` routes: every field empty)
//	  .subject   string  token `sub`, SPIFFE ID or API key owner
//	  .kind      string  "user" | "service" | "client" ("" when anonymous)
//	  .issuer    string  configured issuer name ("" for mTLS and API keys)
//	  .roles     list(string)
//	  .scopes    list(string)
//	  .method    string  "jwt" | "introspection" | "mtls" | "apikey" | "session"
//	  .claims    map(string, dyn)  the token's claims as decoded from JSON:
//	                     numbers are doubles, arrays lists, objects maps
//	request              the request, after path normalization
//	  .method    string  "GET", "POST", ...
//	  .path      string  the canonical path the route matched
//	  .client_ip string  the client address (X-Forwarded-For only from trusted proxies)
//	  .query     map(string, string)  the first value of each query parameter
//	  .headers   map(string, string)  lower-case names; several values are joined with ", ".
//	                     Lookups ignore case: request.headers["X-Tenant"] is request.headers["x-tenant"]
//	  .params    map(string, string)  the route template's parameters, decoded
//	params               the same map as request.params, e.g. `principal.subject == params.id`
//
// A field of principal and request always exists (has() tells whether it is
// non-empty). A map key that does not exist is an evaluation error, like any
// other error it denies the request with reason policy_error: test it first with
// has(principal.claims.tenant) or "x-tenant" in request.headers.
//
// The functions are CEL's standard library: comparisons and arithmetic, `in`,
// size, contains, startsWith, endsWith, matches (RE2; a constant pattern is
// compiled once, at load), conversions such as int() and string(), timestamp
// and duration, and the macros has, all, exists, exists_one, map and filter.
// Numbers of different types compare with each other (a claim decoded as 3.0
// equals 3). Nothing in the environment does I/O. (cel-go's strings extension
// is not included: it needs golang.org/x/text, which the module does not
// require yet.)
//
// Limits: an expression is at most MaxExpressionLen bytes and nests at most
// 64 deep. Its estimated worst-case cost, assuming up to 256 headers, query
// parameters, roles, scopes or items in a claim, and strings up to 8 KiB,
// must not exceed MaxEstimatedCost, and its cheapest evaluation must not
// exceed CostLimit. An expression with a loop (all, exists, map, filter...)
// or whose worst case may exceed CostLimit is evaluated with a cost tracker
// and stops, denying the request with policy_error, once its actual cost
// exceeds CostLimit; one without loops and within the limit does a fixed
// number of operations and runs untracked.
package authz

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// Reasons a Decision denies a request.
const (
	ReasonInsufficientScope = "insufficient_scope"
	ReasonMissingRole       = "missing_role"
	ReasonPolicyDenied      = "policy_denied"
	ReasonPolicyError       = "policy_error"
)

// Rule is one route's authorization config.
type Rule struct {
	Scopes []string // all required (principal.Scopes must contain each)
	Roles  []string // any one required
	Allow  string   // CEL expression, must be bool; "" = none
}

// Policy is a compiled Rule. It is immutable and safe for concurrent use.
type Policy struct {
	scopes       []string
	roles        []string
	allow        cel.Program // nil without an allow expression
	needsRequest bool
}

// Request is what the allow expression may read about the HTTP request. The
// gateway builds it only when Policy.NeedsRequest says the expression uses it.
// Decide reads it without copying and never modifies it.
type Request struct {
	Method, Path, ClientIP string
	Query                  url.Values
	Headers                http.Header
	Params                 map[string]string // route template params, already decoded
}

// Decision is the outcome of Decide.
type Decision struct {
	Allowed bool
	// Reason is "" when allowed; else one of the Reason constants.
	Reason string
	// Missing lists, with insufficient_scope, the missing required scopes,
	// space-separated (the form of the WWW-Authenticate scope parameter).
	Missing string
	// Err says, with policy_error, why the evaluation failed. It is for the
	// operator's log, not for the client: it may quote a map key.
	Err error
}

// CompileError is an allow expression that does not parse, type-check or fit
// the limits.
type CompileError struct {
	// What names the expression: "allow expression" (the default) or "rate limit key".
	What string
	// Msg is one short line, without CEL's source excerpt.
	Msg string
	// Line and Column locate the error inside the expression text, 1-based;
	// Column counts characters, not bytes. Both are 0 when the error is about
	// the whole expression (its length, type or cost).
	Line, Column int
}

// Error formats the error with its position, e.g. "allow expression: 2:12: undefined field 'rolez'".
func (e *CompileError) Error() string {
	what := e.What
	if what == "" {
		what = "allow expression"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s: %d:%d: %s", what, e.Line, e.Column, e.Msg)
	}
	return what + ": " + e.Msg
}

// Compile checks and compiles a rule. Errors in the allow expression are
// *CompileError; errors in the scope and role lists are not.
func Compile(r Rule) (*Policy, error) {
	p := &Policy{}
	for _, s := range r.Scopes {
		// Missing scopes go to the client in a WWW-Authenticate header, where
		// RFC 6750 §3 allows neither spaces, quotes nor backslashes.
		if s == "" || strings.ContainsFunc(s, func(c rune) bool { return c <= ' ' || c == '"' || c == '\\' || c >= 0x7f }) {
			return nil, fmt.Errorf("scope %q: a scope is non-empty printable ASCII without spaces, quotes or backslashes", s)
		}
		if !slices.Contains(p.scopes, s) {
			p.scopes = append(p.scopes, s)
		}
	}
	for _, role := range r.Roles {
		if role == "" {
			return nil, errors.New("empty role name")
		}
		if !slices.Contains(p.roles, role) {
			p.roles = append(p.roles, role)
		}
	}
	if r.Allow == "" {
		return p, nil
	}
	prg, uses, err := compileExpr(r.Allow, cel.BoolType)
	if err != nil {
		return nil, err
	}
	p.allow, p.needsRequest = prg, uses.request
	return p, nil
}

// NeedsRequest reports whether the allow expression reads `request` or
// `params`. When it does not, Decide ignores its req argument, so the caller
// can pass nil and skip building a Request.
func (p *Policy) NeedsRequest() bool { return p.needsRequest }

// Decide checks, in order, the required scopes, the roles and the allow
// expression. pr must not be nil (use &principal.Principal{} for anonymous);
// req may be nil when NeedsRequest is false. An expression that cannot be
// evaluated denies the request: Decide fails closed.
func (p *Policy) Decide(pr *principal.Principal, req *Request) Decision {
	if pr == nil {
		// A caller bug; treat it as the anonymous principal, never as a panic.
		pr = &principal.Principal{}
	}
	if d, ok := p.checkScopes(pr); !ok {
		return d
	}
	if len(p.roles) > 0 && !slices.ContainsFunc(p.roles, pr.HasRole) {
		return Decision{Reason: ReasonMissingRole}
	}
	if p.allow == nil {
		return Decision{Allowed: true}
	}
	var vars interpreter.Activation = principalOnly{pr}
	if req != nil && p.needsRequest {
		vars = &activation{principal: principalValue{pr}, request: req}
	}
	out, _, err := p.allow.Eval(vars)
	if err != nil {
		return Decision{Reason: ReasonPolicyError, Err: fmt.Errorf("evaluate allow expression: %w", err)}
	}
	switch out {
	case nil:
	case types.True:
		return Decision{Allowed: true}
	case types.False:
		return Decision{Reason: ReasonPolicyDenied}
	}
	// Unreachable for a checked bool expression, but a dyn value could in
	// theory leak through a custom type: deny.
	return Decision{Reason: ReasonPolicyError, Err: fmt.Errorf("evaluate allow expression: result %v is not bool", out)}
}

// checkScopes reports whether pr holds every required scope. It allocates
// only to describe a failure.
func (p *Policy) checkScopes(pr *principal.Principal) (Decision, bool) {
	first := -1
	for i, s := range p.scopes {
		if !pr.HasScope(s) {
			first = i
			break
		}
	}
	if first < 0 {
		return Decision{}, true
	}
	missing := p.scopes[first]
	for _, s := range p.scopes[first+1:] {
		if !pr.HasScope(s) {
			missing += " " + s
		}
	}
	return Decision{Reason: ReasonInsufficientScope, Missing: missing}, false
}
