package authz

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Limits on allow expressions.
const (
	// MaxExpressionLen bounds the source text, in bytes.
	MaxExpressionLen = 4096
	// CostLimit bounds one evaluation, in CEL cost units (roughly one per
	// operation, more for work proportional to a string's or list's size).
	// An evaluation that reaches it is stopped and the request denied. The
	// limit is about a millisecond of one CPU core (a few thousand
	// times what a typical rule costs): enough for a loop over every header or
	// a long claim list, not for a pathological expression over a big input.
	CostLimit = 10_000
	// MaxEstimatedCost bounds the worst case the type checker can prove for an
	// expression with inputs up to the sizes below. The estimate is
	// pessimistic (every list as long as the assumed maximum, every claim of
	// unknown shape), so a loop nested in a loop over claims already
	// estimates in the millions while costing a few hundred on real tokens.
	// The bound refuses, at load, what is hopeless: loops nested three deep
	// over headers or claims, which run into CostLimit on any sizeable input.
	// Compile also refuses an expression whose cheapest evaluation exceeds
	// CostLimit.
	MaxEstimatedCost = 1000 * CostLimit
)

// Input sizes assumed by the cost estimate. They are not enforced here (the
// gateway's header and token size limits are); CostLimit is what bounds an
// evaluation whatever the input.
const (
	estStringLen = 8 << 10 // a header value or claim
	estListLen   = 256     // roles, scopes, a claim's list, headers, query parameters
	estParams    = 16      // route template parameters
)

// The CEL types of the two object variables. Their fields are read straight
// from principal.Principal and Request by the provider below.
var (
	principalType = types.NewObjectType("rampart.Principal")
	requestType   = types.NewObjectType("rampart.Request")
)

// env is the CEL environment every allow expression is compiled in. It is
// built once because building it takes about a millisecond (the standard
// library's declarations are validated) and a configuration can have many
// routes. A *cel.Env is immutable and safe for concurrent use, so this is a
// cache of a constant, not mutable state.
var env = sync.OnceValues(newEnv)

// newEnv declares the variables documented in the package comment.
//
// Typed variables: principal and request are declared as object types whose
// fields come from a small types.Provider (objectProvider) with hand-written
// getters over *principal.Principal and *Request, rather than from
// ext.NativeTypes. Both give the checker real field names and types, so
// `principal.subjekt` is a compile error. But NativeTypes reads fields by
// reflection and wraps every map or slice it returns in a reflection-based
// value, and it exposes Go's shapes: Request.Headers would be
// map(string, list(string)) keyed by canonical names, so a lower-cased,
// joined map would have to be built per request. The getters instead return
// the Go values as they are, so `params.id` and `principal.claims.tenant` use
// cel-go's allocation-free lookups into Go maps, and request.headers is a
// read-only view over the http.Header (headerMap) that canonicalizes the name
// at lookup. The activation (activation, principalOnly) resolves the three
// variables lazily without copying anything.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		withObjects(principalObject(), requestObject()),
		cel.Variable("principal", principalType),
		cel.Variable("request", requestType),
		cel.Variable("params", cel.MapType(cel.StringType, cel.StringType)),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxExpressionLen),
		cel.ParserRecursionLimit(64),
		cel.EagerlyValidateDeclarations(true),
	)
}

// compileExpr parses, checks and plans an expression whose result must be
// of type want (bool for allow, string for a rate-limit key), and reports
// whether it references the request.
func compileExpr(src string, want *cel.Type) (cel.Program, refs, error) {
	prg, uses, err := compileChecked(src, want)
	var ce *CompileError
	if errors.As(err, &ce) && want != cel.BoolType {
		ce.What = "rate limit key"
	}
	return prg, uses, err
}

// refs says which variables an expression reads. A comprehension variable
// named like one is counted too; a false positive only costs building the
// Request (or, for a key, waiting for authentication).
type refs struct{ request, principal bool }

func compileChecked(src string, want *cel.Type) (cel.Program, refs, error) {
	if len(src) > MaxExpressionLen {
		return nil, refs{}, &CompileError{Msg: fmt.Sprintf("longer than %d bytes", MaxExpressionLen)}
	}
	e, err := env()
	if err != nil {
		return nil, refs{}, fmt.Errorf("build CEL environment: %w", err)
	}
	ast, iss := e.Compile(src)
	if iss.Err() != nil {
		return nil, refs{}, issueError(iss)
	}
	if t := ast.OutputType(); !t.IsExactType(want) {
		msg := fmt.Sprintf("must be %s, is %s", want, t)
		if t.IsExactType(cel.DynType) {
			// Typically a claim: its type is only known at run time.
			if want == cel.BoolType {
				msg += " (compare the value, e.g. principal.claims.admin == true)"
			} else {
				msg += " (convert the value, e.g. string(principal.claims.tenant))"
			}
		}
		return nil, refs{}, &CompileError{Msg: msg}
	}
	if ce := refuseStructLiterals(ast); ce != nil {
		return nil, refs{}, ce
	}
	est, err := e.EstimateCost(ast, estimator{})
	if err != nil {
		return nil, refs{}, fmt.Errorf("estimate cost: %w", err)
	}
	switch {
	case est.Min > CostLimit:
		return nil, refs{}, &CompileError{Msg: fmt.Sprintf("too expensive: even its cheapest evaluation (cost %d) exceeds the limit %d", est.Min, CostLimit)}
	case est.Max > MaxEstimatedCost:
		return nil, refs{}, &CompileError{Msg: fmt.Sprintf("too expensive: its estimated worst-case cost %d exceeds %d (avoid loops nested in loops over headers, claims or lists)", est.Max, uint64(MaxEstimatedCost))}
	}
	// Folds constants and compiles constant regular expressions once.
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if hasLoop(ast) || est.Max > CostLimit {
		// Runtime cost tracking is most of the price of a simple rule (about
		// 500 ns and 4 allocations of 1.3 µs), so it is armed only where it
		// can matter: an expression without loops (all, exists, map,
		// filter...) whose worst case, with every input as large as assumed
		// above, is within CostLimit does a fixed number of operations, each
		// at most linear in one size-limited input.
		opts = append(opts, cel.CostLimit(CostLimit))
	}
	prg, err := e.Program(ast, opts...)
	if err != nil {
		return nil, refs{}, fmt.Errorf("plan: %w", err)
	}
	var uses refs
	for _, r := range ast.NativeRep().ReferenceMap() {
		switch r.Name {
		case "request", "params":
			uses.request = true
		case "principal":
			uses.principal = true
		}
	}
	return prg, uses, nil
}

// hasLoop reports whether the expression has a comprehension (a macro such
// as all, exists, map or filter).
func hasLoop(a *cel.Ast) bool {
	found := false
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		found = found || e.Kind() == celast.ComprehensionKind
	}))
	return found
}

// refuseStructLiterals reports the first struct literal in the expression,
// e.g. rampart.Principal{subject: "admin"}: nothing in a policy needs one, and
// our object types cannot be constructed.
func refuseStructLiterals(a *cel.Ast) *CompileError {
	var found celast.Expr
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if found == nil && e.Kind() == celast.StructKind {
			found = e
		}
	}))
	if found == nil {
		return nil
	}
	ce := &CompileError{Msg: fmt.Sprintf("cannot construct %s", found.AsStruct().TypeName())}
	if l := a.NativeRep().SourceInfo().GetStartLocation(found.ID()); l.Line() > 0 {
		ce.Line, ce.Column = l.Line(), l.Column()+1
	}
	return ce
}

// issueError converts CEL's first issue into a CompileError: one line, no
// source excerpt, 1-based column.
func issueError(iss *cel.Issues) error {
	errs := iss.Errors()
	if len(errs) == 0 {
		return &CompileError{Msg: iss.Err().Error()}
	}
	first := errs[0]
	msg, _, _ := strings.Cut(first.Message, "\n")
	msg = strings.TrimSuffix(msg, " (in container '')")
	// The parser lists every token it would have accepted: noise in a one-line message.
	msg, _, _ = strings.Cut(msg, " expecting {")
	if n := len(errs) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	ce := &CompileError{Msg: msg}
	if l := first.Location; l != nil && l.Line() > 0 {
		ce.Line, ce.Column = l.Line(), l.Column()+1
	}
	return ce
}

// estimator gives the cost estimate the input sizes it cannot know. Sizes are
// by type: every string, list and map reachable from a variable gets the
// assumed maximum.
type estimator struct{}

func (estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return nil
	}
	limit := uint64(estListLen)
	switch {
	case path[0] == "params" && len(path) == 1, len(path) == 2 && path[0] == "request" && path[1] == "params":
		limit = estParams
	case n.Type() == nil:
		return nil
	case n.Type().Kind() == types.StructKind:
		// principal or request as a whole: compared by identity.
		limit = 1
	case n.Type().Kind() == types.StringKind, n.Type().Kind() == types.BytesKind:
		limit = estStringLen
	case n.Type().Kind() == types.DynKind:
		// A claim: a string, list or map from the token. Sized as a list, for
		// loops over it, which is what makes an expression expensive.
		limit = estListLen
	case n.Type().Kind() != types.ListKind && n.Type().Kind() != types.MapKind:
		return nil
	}
	sz := cost.RangedSizeEstimate(0, limit)
	return &sz
}

func (estimator) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// withObjects installs an objectProvider over the environment's provider.
func withObjects(objs ...*object) cel.EnvOption {
	return func(e *cel.Env) (*cel.Env, error) {
		p := &objectProvider{Provider: e.CELTypeProvider(), objects: make(map[string]*object, len(objs))}
		for _, o := range objs {
			p.objects[o.typ.TypeName()] = o
		}
		return cel.CustomTypeProvider(p)(e)
	}
}

// object describes one of our object types: its fields and how to read them.
type object struct {
	typ    *types.Type
	names  []string
	fields map[string]*types.FieldType
}

func newObject(typ *types.Type, fields ...field) *object {
	o := &object{typ: typ, fields: make(map[string]*types.FieldType, len(fields))}
	for _, f := range fields {
		o.names = append(o.names, f.name)
		o.fields[f.name] = &types.FieldType{Type: f.typ, GetFrom: f.get, IsSet: f.isSet}
	}
	return o
}

type field struct {
	name  string
	typ   *types.Type
	get   ref.FieldGetter
	isSet ref.FieldTester
}

// objectProvider adds our object types to a CEL type provider. It cannot
// create values of them (NewValue is the base provider's, which does not know
// them); compileExpr refuses struct literals so that this never matters.
type objectProvider struct {
	types.Provider
	objects map[string]*object
}

func (p *objectProvider) FindStructType(name string) (*types.Type, bool) {
	if o, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(o.typ), true
	}
	return p.Provider.FindStructType(name)
}

func (p *objectProvider) FindStructFieldNames(name string) ([]string, bool) {
	if o, ok := p.objects[name]; ok {
		return o.names, true
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p *objectProvider) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	if o, ok := p.objects[name]; ok {
		f, ok := o.fields[fieldName]
		return f, ok
	}
	return p.Provider.FindStructFieldType(name, fieldName)
}
