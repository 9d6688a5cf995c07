package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// Spec is a loaded, validated OpenAPI 3 document with its operations
// compiled for matching. It is immutable and shared by the routes using it.
type Spec struct {
	file  string
	doc   *openapi3.T
	bases []string // server base paths, longest first; "" matches from the root
	paths []*pathTemplate
}

// LoadSpec reads, parses and validates the OpenAPI document at path. Errors
// name the file (and the line, when the parser reports one). References to
// other files or URLs are refused: a spec must not make the gateway read
// arbitrary files or fetch anything at load.
func LoadSpec(path string) (*Spec, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	// Origins give validation errors a line to point at.
	loader.IncludeOrigin = true
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("openapi spec %s: %w", path, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		if line := errorLine(doc, err); line > 0 {
			return nil, fmt.Errorf("openapi spec %s:%d: invalid: %w", path, line, err)
		}
		return nil, fmt.Errorf("openapi spec %s: invalid: %w", path, err)
	}
	s := &Spec{file: path, doc: doc}
	if s.bases, err = serverBases(doc.Servers); err != nil {
		return nil, fmt.Errorf("openapi spec %s: %w", path, err)
	}
	for tmpl, item := range doc.Paths.Map() {
		pt, err := compileTemplate(tmpl, item)
		if err != nil {
			return nil, fmt.Errorf("openapi spec %s: path %q: %w", path, tmpl, err)
		}
		pt.routes = make(map[string]*routers.Route)
		for method, op := range item.Operations() {
			pt.routes[method] = &routers.Route{Spec: doc, Path: tmpl, PathItem: item, Method: method, Operation: op}
		}
		if get := item.Get; get != nil && item.Head == nil {
			// HEAD is GET without the response body (RFC 9110 §9.3.2);
			// specs rarely list it.
			pt.routes[http.MethodHead] = &routers.Route{Spec: doc, Path: tmpl, PathItem: item, Method: http.MethodHead, Operation: get}
		}
		s.paths = append(s.paths, pt)
	}
	// Literal segments win over templated ones ("/users/me" before
	// "/users/{id}"), as OpenAPI requires; ties are broken by the template
	// text so matching does not depend on map order.
	slices.SortFunc(s.paths, func(a, b *pathTemplate) int {
		for i := range min(len(a.segs), len(b.segs)) {
			if c := a.segs[i].rank() - b.segs[i].rank(); c != 0 {
				return c
			}
		}
		return strings.Compare(a.text, b.text)
	})
	return s, nil
}

// errorLine guesses the line of a validation error: kin's messages name the
// path template at fault but carry no position, so the line is that of the
// longest template the message mentions; 0 when none is.
func errorLine(doc *openapi3.T, err error) int {
	msg, best, line := err.Error(), "", 0
	for tmpl, item := range doc.Paths.Map() {
		if len(tmpl) > len(best) && strings.Contains(msg, tmpl) && item.Origin != nil && item.Origin.Key != nil {
			best, line = tmpl, item.Origin.Key.Line
		}
	}
	return line
}

// serverBases returns the path parts of the servers' URLs: requests are
// matched on their path whatever host the spec names (the gateway, not the
// spec, decides which hosts reach a route). Variables in a server path take
// their default and each enum value.
func serverBases(servers openapi3.Servers) ([]string, error) {
	seen := map[string]bool{}
	var bases []string
	add := func(raw string) error {
		u, err := url.Parse(raw)
		if err != nil {
			return fmt.Errorf("server url %q: %w", raw, err)
		}
		p := strings.TrimRight(u.EscapedPath(), "/")
		if p != "" && p[0] != '/' {
			p = "/" + p
		}
		if !seen[p] {
			seen[p] = true
			bases = append(bases, p)
		}
		return nil
	}
	for _, srv := range servers {
		urls := []string{srv.URL}
		for name, v := range srv.Variables {
			vals := append([]string{v.Default}, v.Enum...)
			var next []string
			for _, u := range urls {
				for _, val := range vals {
					next = append(next, strings.ReplaceAll(u, "{"+name+"}", val))
				}
			}
			urls = next
		}
		for _, u := range urls {
			if strings.ContainsAny(u, "{}") {
				return nil, fmt.Errorf("server url %q: variable without a value", srv.URL)
			}
			if err := add(u); err != nil {
				return nil, err
			}
		}
	}
	if len(bases) == 0 {
		bases = []string{""}
	}
	slices.SortFunc(bases, func(a, b string) int { return len(b) - len(a) })
	return bases, nil
}

// pathTemplate is one compiled entry of the spec's paths.
type pathTemplate struct {
	text string
	item *openapi3.PathItem
	segs []segment
	// routes are kin's description of each method's operation, built once.
	routes map[string]*routers.Route
}

// segment is a literal segment (param == "") or one with a parameter
// between an optional literal prefix and suffix ("{name}.json").
type segment struct {
	lit, param, prefix, suffix string
}

func (s segment) rank() int {
	switch {
	case s.param == "":
		return 0
	case s.prefix != "" || s.suffix != "":
		return 1
	}
	return 2
}

func compileTemplate(tmpl string, item *openapi3.PathItem) (*pathTemplate, error) {
	if !strings.HasPrefix(tmpl, "/") {
		return nil, errors.New("does not start with /")
	}
	pt := &pathTemplate{text: tmpl, item: item}
	for seg := range strings.SplitSeq(tmpl[1:], "/") {
		open := strings.IndexByte(seg, '{')
		if open < 0 {
			if strings.IndexByte(seg, '}') >= 0 {
				return nil, errors.New("unbalanced braces")
			}
			pt.segs = append(pt.segs, segment{lit: seg})
			continue
		}
		close := strings.IndexByte(seg, '}')
		if close < open || strings.ContainsAny(seg[close+1:], "{}") || strings.IndexByte(seg[:open], '}') >= 0 {
			// Two parameters in one segment cannot be split unambiguously.
			return nil, errors.New("one parameter per segment is supported")
		}
		pt.segs = append(pt.segs, segment{param: seg[open+1 : close], prefix: seg[:open], suffix: seg[close+1:]})
	}
	return pt, nil
}

// match matches rest (a canonical path below a server base) and returns the
// decoded path parameters.
func (pt *pathTemplate) match(rest string) (map[string]string, bool) {
	var params map[string]string
	i := 0
	for _, sg := range pt.segs {
		if i >= len(rest) || rest[i] != '/' {
			return nil, false
		}
		i++
		end := strings.IndexByte(rest[i:], '/')
		if end < 0 {
			end = len(rest)
		} else {
			end += i
		}
		raw := rest[i:end]
		i = end
		val, err := url.PathUnescape(raw)
		if err != nil {
			return nil, false
		}
		if sg.param == "" {
			if val != sg.lit {
				return nil, false
			}
			continue
		}
		if len(val) < len(sg.prefix)+len(sg.suffix)+1 || !strings.HasPrefix(val, sg.prefix) || !strings.HasSuffix(val, sg.suffix) {
			return nil, false
		}
		if params == nil {
			params = make(map[string]string, 2)
		}
		params[sg.param] = val[len(sg.prefix) : len(val)-len(sg.suffix)]
	}
	return params, i == len(rest)
}

// find returns the path template and parameters for a canonical path.
func (s *Spec) find(canon string) (*pathTemplate, map[string]string) {
	for _, base := range s.bases {
		rest, ok := strings.CutPrefix(canon, base)
		if !ok || (rest != "" && rest[0] != '/') {
			continue
		}
		if rest == "" {
			rest = "/"
		}
		for _, pt := range s.paths {
			if params, ok := pt.match(rest); ok {
				return pt, params
			}
		}
	}
	return nil, nil
}

// OpenAPIOptions configure a route's OpenAPI validation.
type OpenAPIOptions struct {
	// Spec is the path of the OpenAPI document.
	Spec string
	// RejectUnknownFields refuses JSON body fields that the schema does not
	// declare, as if every object schema with properties said
	// additionalProperties: false (an explicit additionalProperties in the
	// spec wins; schemas without properties stay free-form).
	RejectUnknownFields bool
}

// OpenAPI validates requests of one route against a Spec.
type OpenAPI struct {
	spec   *Spec
	strict bool
	opts   *openapi3filter.Options
	// visit are the options of the body's schema validation.
	visit []openapi3.SchemaValidationOption
}

// NewOpenAPI returns a validator of requests against spec.
func NewOpenAPI(spec *Spec, rejectUnknownFields bool) *OpenAPI {
	visit := []openapi3.SchemaValidationOption{openapi3.VisitAsRequest()}
	if spec.doc.IsOpenAPI31OrLater() {
		visit = append(visit, openapi3.EnableJSONSchema2020())
	}
	return &OpenAPI{spec: spec, strict: rejectUnknownFields, visit: visit, opts: &openapi3filter.Options{
		// The gateway authenticates; the spec's security schemes are its
		// business, not the validator's.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// Defaults would rewrite the request: the upstream must get the
		// bytes that were validated.
		SkipSettingDefaults: true,
		// A body on an operation that declares none is refused.
		RejectWhenRequestBodyNotSpecified: true,
		// checkBody validates the body.
		ExcludeRequestBody: true,
	}}
}

// Check validates r, whose canonical path is canon and whose body was read
// by ReadBody. r is not modified. A JSON body is held to the default
// JSONLimits.
func (o *OpenAPI) Check(ctx context.Context, r *http.Request, canon string, body []byte) *Violation {
	return o.check(ctx, r, canon, body, false)
}

// check is Check; scannedJSON says that Limits already scanned body as JSON
// and accepted it.
func (o *OpenAPI) check(ctx context.Context, r *http.Request, canon string, body []byte, scannedJSON bool) *Violation {
	pt, params := o.spec.find(canon)
	if pt == nil {
		return violation(ReasonOperationNotFound, http.StatusNotFound, "no path of the spec matches")
	}
	route := pt.routes[r.Method]
	if route == nil {
		return violation(ReasonOperationNotFound, http.StatusMethodNotAllowed, "method "+quoteBounded(r.Method)+" not in the spec for "+pt.text)
	}
	// url.Values drops pairs it cannot parse; a query the validator reads
	// differently from the upstream is refused instead.
	query := url.Values{}
	if r.URL.RawQuery != "" {
		var err error
		if query, err = url.ParseQuery(r.URL.RawQuery); err != nil {
			return violation(ReasonSchemaQuery, http.StatusBadRequest, "malformed query string")
		}
	}
	in := &openapi3filter.RequestValidationInput{
		Request:     r,
		PathParams:  params,
		QueryParams: query,
		Route:       route,
		Options:     o.opts,
	}
	// Parameters here (the options exclude the body, so r is only read);
	// the body below.
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		return o.explain(err)
	}
	return o.checkBody(ctx, in, route.Operation, body, scannedJSON)
}

// checkBody validates the request body as openapi3filter.ValidateRequestBody
// does, but decodes a JSON body once for both the schema and the unknown
// field pass (the decode is most of the cost of validating a small body).
// Other media types go to kin's decoders.
func (o *OpenAPI) checkBody(ctx context.Context, in *openapi3filter.RequestValidationInput, op *openapi3.Operation, body []byte, scannedJSON bool) *Violation {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		if len(body) > 0 {
			return violation(ReasonSchemaBody, http.StatusBadRequest, "request body not allowed for this operation")
		}
		return nil
	}
	rb := op.RequestBody.Value
	if len(body) == 0 {
		if rb.Required {
			return violation(ReasonSchemaBody, http.StatusBadRequest, "body: required but missing")
		}
		return nil
	}
	if len(rb.Content) == 0 {
		return nil
	}
	ctype := in.Request.Header.Get("Content-Type")
	mt := rb.Content.Get(ctype)
	if mt == nil {
		return violation(ReasonContentType, http.StatusUnsupportedMediaType, "media type not in the spec for this operation")
	}
	if mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	name, _, _ := strings.Cut(ctype, ";")
	if name = strings.ToLower(strings.TrimSpace(name)); !isJSON(name) || mt.Schema.Value.Format == "binary" {
		return o.checkOtherBody(ctx, in, rb, body)
	}
	if !scannedJSON {
		if v := scanJSON(body, defaultJSONLimits); v != nil {
			return v
		}
	}
	value := buildJSON(body)
	if err := mt.Schema.Value.VisitJSON(value, o.visit...); err != nil {
		return o.explain(&openapi3filter.RequestError{Input: in, RequestBody: rb, Reason: "doesn't match schema", Err: err})
	}
	if o.strict {
		if field := unknownField(value, []*openapi3.Schema{mt.Schema.Value}); field != "" {
			return violation(ReasonUnknownField, http.StatusBadRequest, "unknown field "+field)
		}
	}
	return nil
}

// checkOtherBody hands a body that is not JSON to kin's decoders. kin reads
// and replaces the body of the request it is given: it gets a shallow copy
// with its own reader.
func (o *OpenAPI) checkOtherBody(ctx context.Context, in *openapi3filter.RequestValidationInput, rb *openapi3.RequestBody, body []byte) *Violation {
	rc := *in.Request
	rc.Body = io.NopCloser(bytes.NewReader(body))
	rc.GetBody = nil
	rc.ContentLength = int64(len(body))
	cp := *in
	cp.Request = &rc
	if err := openapi3filter.ValidateRequestBody(ctx, &cp, rb); err != nil {
		return o.explain(err)
	}
	return nil
}

// explain turns a validation error into a Violation without quoting values.
func (o *OpenAPI) explain(err error) *Violation {
	var me openapi3.MultiError
	if errors.As(err, &me) && len(me) > 0 {
		err = me[0]
	}
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return violation(ReasonSchemaBody, http.StatusBadRequest, "request does not match the spec")
	}
	if p := re.Parameter; p != nil {
		reason := ReasonSchemaQuery
		switch p.In {
		case openapi3.ParameterInPath:
			reason = ReasonSchemaPath
		case openapi3.ParameterInHeader:
			reason = ReasonSchemaHeader
		case openapi3.ParameterInCookie:
			reason = ReasonSchemaCookie
		}
		return violation(reason, http.StatusBadRequest, fmt.Sprintf("%s parameter %q: %s", p.In, p.Name, o.why(re)))
	}
	if strings.HasPrefix(re.Reason, "header Content-Type has unexpected value") {
		return violation(ReasonContentType, http.StatusUnsupportedMediaType, "media type not in the spec for this operation")
	}
	if re.RequestBody == nil {
		return violation(ReasonSchemaBody, http.StatusBadRequest, "request body not allowed for this operation")
	}
	return violation(ReasonSchemaBody, http.StatusBadRequest, "body: "+o.why(re))
}

// why says what failed, from the schema's side: the field and the keyword,
// and kin's reason, which by its contract does not include the value (except
// with the JSON Schema 2020 validator used for OpenAPI 3.1, whose reasons are
// left out).
func (o *OpenAPI) why(re *openapi3filter.RequestError) string {
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		at := "/" + strings.Join(se.JSONPointer(), "/")
		if o.spec.doc.IsOpenAPI31OrLater() {
			return at + ": violates " + se.SchemaField
		}
		return at + ": " + se.Reason
	}
	var pe *openapi3filter.ParseError
	switch {
	case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
		return "required but missing"
	case errors.Is(re.Err, openapi3filter.ErrInvalidEmptyValue):
		return "empty value not allowed"
	case errors.As(re.Err, &pe):
		return "cannot be parsed"
	}
	return "does not match the spec"
}

// pointerEscaper escapes a member name in a JSON pointer (RFC 6901). It is
// built once: a Replacer compiles its table on first use.
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// unknownField returns the JSON pointer of the first object member of v,
// in sorted key order, that none of schemas declares, or "". schemas are
// the schemas that all apply at this point of the document; composition
// (allOf, anyOf, oneOf) is flattened, so a member declared by any branch is
// known. The common case, no unknown member, is walked in map order without
// building pointers; only a document that has one is walked again, sorted,
// so the reported field does not depend on map order.
func unknownField(v any, schemas []*openapi3.Schema) string {
	if findUnknown(v, schemas, "", false) == "" {
		return ""
	}
	return findUnknown(v, schemas, "", true)
}

// findUnknown is unknownField's walk. Unless named, keys are visited in map
// order and the result is only empty or not.
func findUnknown(v any, schemas []*openapi3.Schema, at string, named bool) string {
	flat := flatten(schemas, nil, 0)
	child := func(k string) string {
		if !named {
			return "?"
		}
		return at + "/" + pointerEscaper.Replace(k)
	}
	switch v := v.(type) {
	case map[string]any:
		open, declared := true, false
		for _, s := range flat {
			if len(s.Properties) > 0 {
				declared = true
			}
		}
		if declared {
			open = false
			for _, s := range flat {
				if ap := s.AdditionalProperties; (ap.Has != nil && *ap.Has) || ap.Schema != nil {
					open = true
				}
			}
		}
		var sub []*openapi3.Schema
		visit := func(k string) string {
			sub = sub[:0]
			for _, s := range flat {
				if p := s.Properties[k]; p != nil && p.Value != nil {
					sub = append(sub, p.Value)
				} else if ap := s.AdditionalProperties.Schema; ap != nil && ap.Value != nil {
					sub = append(sub, ap.Value)
				}
			}
			if len(sub) == 0 && !open {
				return child(k)
			}
			switch v[k].(type) {
			case map[string]any, []any:
				return findUnknown(v[k], sub, child(k), named)
			}
			return ""
		}
		if !named {
			for k := range v {
				if f := visit(k); f != "" {
					return f
				}
			}
			return ""
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if f := visit(k); f != "" {
				return f
			}
		}
	case []any:
		var items []*openapi3.Schema
		for _, s := range flat {
			if s.Items != nil && s.Items.Value != nil {
				items = append(items, s.Items.Value)
			}
		}
		for i, e := range v {
			elem := "?"
			if named {
				elem = fmt.Sprintf("%s/%d", at, i)
			}
			if f := findUnknown(e, items, elem, named); f != "" {
				return f
			}
		}
	}
	return ""
}

// flatten adds schemas and the members of their allOf, anyOf and oneOf to
// out. depth stops recursive compositions.
func flatten(schemas []*openapi3.Schema, out []*openapi3.Schema, depth int) []*openapi3.Schema {
	if depth > 16 {
		return out
	}
	for _, s := range schemas {
		if s == nil || slices.Contains(out, s) {
			continue
		}
		out = append(out, s)
		for _, group := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, ref := range group {
				if ref != nil && ref.Value != nil {
					out = flatten([]*openapi3.Schema{ref.Value}, out, depth+1)
				}
			}
		}
	}
	return out
}
