package authz

import (
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// Key is a compiled string-valued expression over the same principal,
// request and params as an allow expression: a rate-limit key such as
// `string(principal.claims.tenant)` or `request.headers["x-tenant"]`.
type Key struct {
	prg  cel.Program
	uses refs
}

// CompileKey checks and compiles a key expression; errors in it are *CompileError.
func CompileKey(src string) (*Key, error) {
	prg, uses, err := compileExpr(src, cel.StringType)
	if err != nil {
		return nil, err
	}
	return &Key{prg: prg, uses: uses}, nil
}

// NeedsRequest reports whether the expression reads `request` or `params`;
// when it does not, Eval ignores req.
func (k *Key) NeedsRequest() bool { return k.uses.request }

// NeedsPrincipal reports whether the expression reads `principal`: such a
// key can only be computed after authentication.
func (k *Key) NeedsPrincipal() bool { return k.uses.principal }

// Eval computes the key. pr may be nil on a public route (the anonymous
// principal). An evaluation error (a missing claim or header) is returned
// for the caller to decide; it never panics.
func (k *Key) Eval(pr *principal.Principal, req *Request) (string, error) {
	if pr == nil {
		pr = &principal.Principal{}
	}
	var vars interpreter.Activation = principalOnly{pr}
	if req != nil && k.uses.request {
		vars = &activation{principal: principalValue{pr}, request: req}
	}
	out, _, err := k.prg.Eval(vars)
	if err != nil {
		return "", fmt.Errorf("evaluate rate limit key: %w", err)
	}
	s, ok := out.(types.String)
	if !ok {
		return "", fmt.Errorf("evaluate rate limit key: result %v is not a string", out)
	}
	return string(s), nil
}
