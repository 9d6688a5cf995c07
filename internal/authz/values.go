package authz

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"reflect"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// activation resolves the variables of one evaluation lazily: it wraps the
// principal and the request as they are, and a field is read only when the
// expression selects it.
type activation struct {
	principal principalValue
	request   *Request
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "principal":
		return a.principal, true
	case "request":
		// Without a Request the variable is absent and evaluating it is an
		// error (policy_error): fail closed if a caller passes nil wrongly.
		if a.request != nil {
			return requestValue{a.request}, true
		}
	case "params":
		if a.request != nil {
			return a.request.Params, true
		}
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// principalOnly is the activation of an expression that does not read the
// request. Unlike activation it is pointer-shaped, so passing it as an
// interface does not allocate.
type principalOnly struct{ p *principal.Principal }

func (a principalOnly) ResolveName(name string) (any, bool) {
	if name == "principal" {
		return principalValue(a), true
	}
	return nil, false
}

func (a principalOnly) Parent() interpreter.Activation { return nil }

// principalObject declares rampart.Principal's fields. Getters return Go
// values (cel-go adapts them, and selects into maps without converting them).
func principalObject() *object {
	str := func(name string, get func(*principal.Principal) string) field {
		return field{
			name: name, typ: cel.StringType,
			get: func(t any) (any, error) {
				p, err := asPrincipal(t)
				if err != nil {
					return nil, err
				}
				return types.String(get(p)), nil
			},
			isSet: func(t any) bool { p, _ := asPrincipal(t); return get(p) != "" },
		}
	}
	list := func(name string, get func(*principal.Principal) []string) field {
		return field{
			name: name, typ: cel.ListType(cel.StringType),
			get: func(t any) (any, error) {
				p, err := asPrincipal(t)
				if err != nil {
					return nil, err
				}
				// A nil slice is an empty list to CEL.
				return get(p), nil
			},
			isSet: func(t any) bool { p, _ := asPrincipal(t); return len(get(p)) > 0 },
		}
	}
	return newObject(principalType,
		str("subject", func(p *principal.Principal) string { return p.Subject }),
		str("kind", func(p *principal.Principal) string { return string(p.Kind) }),
		str("issuer", func(p *principal.Principal) string { return p.Issuer }),
		list("roles", func(p *principal.Principal) []string { return p.Roles }),
		list("scopes", func(p *principal.Principal) []string { return p.Scopes }),
		str("method", func(p *principal.Principal) string { return string(p.Method) }),
		field{
			name: "claims", typ: cel.MapType(cel.StringType, cel.DynType),
			get: func(t any) (any, error) {
				p, err := asPrincipal(t)
				if err != nil {
					return nil, err
				}
				// A nil map is an empty map to CEL.
				return p.Claims, nil
			},
			isSet: func(t any) bool { p, _ := asPrincipal(t); return len(p.Claims) > 0 },
		},
	)
}

// asPrincipal returns the principal a getter was given; an empty one for nil
// so that getters never dereference nil.
func asPrincipal(t any) (*principal.Principal, error) {
	p, ok := t.(*principal.Principal)
	if !ok {
		return &principal.Principal{}, fmt.Errorf("rampart.Principal field read from %T", t)
	}
	if p == nil {
		return &principal.Principal{}, nil
	}
	return p, nil
}

// requestObject declares rampart.Request's fields.
func requestObject() *object {
	fld := func(name string, typ *types.Type, get func(*Request) any, isSet func(*Request) bool) field {
		return field{
			name: name, typ: typ,
			get: func(t any) (any, error) {
				r, ok := t.(*Request)
				if !ok || r == nil {
					return nil, fmt.Errorf("rampart.Request field read from %T", t)
				}
				return get(r), nil
			},
			isSet: func(t any) bool { r, ok := t.(*Request); return ok && r != nil && isSet(r) },
		}
	}
	str := func(name string, get func(*Request) string) field {
		return fld(name, cel.StringType,
			func(r *Request) any { return types.String(get(r)) },
			func(r *Request) bool { return get(r) != "" })
	}
	strMap := cel.MapType(cel.StringType, cel.StringType)
	return newObject(requestType,
		str("method", func(r *Request) string { return r.Method }),
		str("path", func(r *Request) string { return r.Path }),
		str("client_ip", func(r *Request) string { return r.ClientIP }),
		fld("query", strMap,
			func(r *Request) any { return queryMap(r.Query) },
			func(r *Request) bool { return len(r.Query) > 0 }),
		fld("headers", strMap,
			func(r *Request) any { return headerMap(r.Headers) },
			func(r *Request) bool { return len(r.Headers) > 0 }),
		fld("params", strMap,
			func(r *Request) any { return r.Params },
			func(r *Request) bool { return len(r.Params) > 0 }),
	)
}

// principalValue is the CEL value of the principal variable. Its fields are
// read through the provider (see principalObject), so besides being a
// ref.Val it only needs to hand out the principal.
type principalValue struct{ p *principal.Principal }

func (v principalValue) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeFor[*principal.Principal]() {
		return v.p, nil
	}
	return nil, fmt.Errorf("cannot convert rampart.Principal to %v", t)
}

func (v principalValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case principalType:
		return v
	case types.TypeType:
		return principalType
	}
	return types.NewErr("type conversion error from 'rampart.Principal' to '%s'", t)
}

func (v principalValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(principalValue)
	return types.Bool(ok && o.p == v.p)
}

func (v principalValue) Type() ref.Type { return principalType }

func (v principalValue) Value() any { return v.p }

// requestValue is the CEL value of the request variable.
type requestValue struct{ r *Request }

func (v requestValue) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeFor[*Request]() {
		return v.r, nil
	}
	return nil, fmt.Errorf("cannot convert rampart.Request to %v", t)
}

func (v requestValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case requestType:
		return v
	case types.TypeType:
		return requestType
	}
	return types.NewErr("type conversion error from 'rampart.Request' to '%s'", t)
}

func (v requestValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(requestValue)
	return types.Bool(ok && o.r == v.r)
}

func (v requestValue) Type() ref.Type { return requestType }

func (v requestValue) Value() any { return v.r }

// headerMap is request.headers: a read-only CEL map(string, string) view of
// an http.Header. Keys are presented lower-case, lookups ignore case, and
// several values are joined with ", " (RFC 9110 §5.3).
type headerMap http.Header

// lookup finds a header by any spelling of its name. http.Header keys are in
// canonical form (net/http canonicalizes what it parses), so the name is
// canonicalized the way textproto does, in a stack buffer to avoid allocating.
func (h headerMap) lookup(name string) ([]string, bool) {
	var buf [64]byte
	if len(name) > len(buf) {
		v, ok := h[textproto.CanonicalMIMEHeaderKey(name)]
		return v, ok
	}
	b := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isTokenByte(c) {
			// textproto leaves such a name as it is.
			v, ok := h[name]
			return v, ok
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	v, ok := h[string(b)]
	return v, ok
}

// isTokenByte reports whether c may appear in a header name (RFC 9110 §5.6.2).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func joinValues(v []string) types.String {
	if len(v) == 1 {
		return types.String(v[0])
	}
	return types.String(strings.Join(v, ", "))
}

// FindStringKey is the lookup cel-go's attribute resolution uses for a
// constant key, e.g. request.headers["x-tenant"] or request.headers.host.
func (h headerMap) FindStringKey(key string) (any, bool) {
	v, ok := h.lookup(key)
	if !ok {
		return nil, false
	}
	return joinValues(v), true
}

func (h headerMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return badKey(key)
	}
	v, found := h.lookup(string(k))
	if !found {
		return nil, false
	}
	return joinValues(v), true
}

func (h headerMap) Get(key ref.Val) ref.Val          { return mapGet(h, key) }
func (h headerMap) Contains(key ref.Val) ref.Val     { return mapContains(h, key) }
func (h headerMap) Size() ref.Val                    { return types.Int(len(h)) }
func (h headerMap) Type() ref.Type                   { return types.MapType }
func (h headerMap) Value() any                       { return h.native() }
func (h headerMap) Equal(other ref.Val) ref.Val      { return mapEqual(h, other) }
func (h headerMap) ConvertToType(t ref.Type) ref.Val { return mapConvertToType(h, t) }
func (h headerMap) ConvertToNative(t reflect.Type) (any, error) {
	return types.DefaultTypeAdapter.NativeToValue(h.native()).ConvertToNative(t)
}

func (h headerMap) Iterator() traits.Iterator {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, strings.ToLower(k))
	}
	return &keyIterator{keys: keys}
}

// native is a lower-cased copy, for the rare conversions of the whole map.
func (h headerMap) native() map[string]string {
	m := make(map[string]string, len(h))
	for k, v := range h {
		m[strings.ToLower(k)] = string(joinValues(v))
	}
	return m
}

// queryMap is request.query: a read-only CEL map(string, string) view of
// url.Values holding the first value of each parameter.
type queryMap url.Values

func firstValue(v []string) types.String {
	if len(v) == 0 {
		return ""
	}
	return types.String(v[0])
}

// FindStringKey: see headerMap.FindStringKey.
func (q queryMap) FindStringKey(key string) (any, bool) {
	v, ok := q[key]
	if !ok {
		return nil, false
	}
	return firstValue(v), true
}

func (q queryMap) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return badKey(key)
	}
	v, found := q[string(k)]
	if !found {
		return nil, false
	}
	return firstValue(v), true
}

func (q queryMap) Get(key ref.Val) ref.Val          { return mapGet(q, key) }
func (q queryMap) Contains(key ref.Val) ref.Val     { return mapContains(q, key) }
func (q queryMap) Size() ref.Val                    { return types.Int(len(q)) }
func (q queryMap) Type() ref.Type                   { return types.MapType }
func (q queryMap) Value() any                       { return q.native() }
func (q queryMap) Equal(other ref.Val) ref.Val      { return mapEqual(q, other) }
func (q queryMap) ConvertToType(t ref.Type) ref.Val { return mapConvertToType(q, t) }
func (q queryMap) ConvertToNative(t reflect.Type) (any, error) {
	return types.DefaultTypeAdapter.NativeToValue(q.native()).ConvertToNative(t)
}

func (q queryMap) Iterator() traits.Iterator {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	return &keyIterator{keys: keys}
}

func (q queryMap) native() map[string]string {
	m := make(map[string]string, len(q))
	for k, v := range q {
		m[k] = string(firstValue(v))
	}
	return m
}

// Shared behaviour of the two map views, as cel-go's own maps behave.

// badKey answers a lookup with a key that is not a string: unknowns and
// errors propagate, other keys are simply absent.
func badKey(key ref.Val) (ref.Val, bool) {
	if types.IsUnknownOrError(key) {
		return key, false
	}
	return nil, false
}

func mapGet(m traits.Mapper, key ref.Val) ref.Val {
	v, found := m.Find(key)
	if !found {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

func mapContains(m traits.Mapper, key ref.Val) ref.Val {
	v, found := m.Find(key)
	if !found && v != nil {
		return v
	}
	return types.Bool(found)
}

func mapConvertToType(m traits.Mapper, t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return m
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from 'map' to '%s'", t)
}

func mapEqual(m traits.Mapper, other ref.Val) ref.Val {
	o, ok := other.(traits.Mapper)
	if !ok || m.Size() != o.Size() {
		return types.False
	}
	it := m.Iterator()
	for it.HasNext() == types.True {
		k := it.Next()
		ov, found := o.Find(k)
		if !found {
			return types.False
		}
		if v, _ := m.Find(k); v.Equal(ov) != types.True {
			return types.False
		}
	}
	return types.True
}

// keyIterator iterates over a snapshot of a map's keys.
type keyIterator struct {
	keys []string
	next int
}

func (it *keyIterator) HasNext() ref.Val { return types.Bool(it.next < len(it.keys)) }

func (it *keyIterator) Next() ref.Val {
	if it.next >= len(it.keys) {
		return nil
	}
	it.next++
	return types.String(it.keys[it.next-1])
}

func (it *keyIterator) ConvertToNative(reflect.Type) (any, error) {
	return nil, errors.New("cannot convert an iterator")
}

func (it *keyIterator) ConvertToType(ref.Type) ref.Val {
	return types.NewErr("cannot convert an iterator")
}

func (it *keyIterator) Equal(ref.Val) ref.Val { return types.False }

func (it *keyIterator) Type() ref.Type { return types.IteratorType }

func (it *keyIterator) Value() any { return it }
