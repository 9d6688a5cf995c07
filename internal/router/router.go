// Package router maps a request's host, canonical path and method to a route.
//
// The table is compiled once, by New, from the routes' match blocks; Match
// runs on every request and does not allocate. Paths given to Match are the
// output of canonpath.Canonical: the router never decodes or resolves
// anything itself, so it sees exactly the path the upstream will receive.
//
// Templates (Spec.Path):
//
//	/status          exact
//	/accounts/{id}   {name} matches one non-empty segment; Params gets it still escaped
//	/static/*        prefix: "/static", "/static/" and everything below
//	/*               every path
//
// Matching rules, and why:
//
//   - Literal segments match ASCII case-insensitively. An upstream that is
//     case-insensitive would otherwise serve "/ADMIN" through a weaker route
//     than the one protecting "/admin".
//   - One trailing slash is ignored: "/accounts/7/" matches "/accounts/{id}",
//     and a prefix "/static/*" also matches "/static", for the same reason.
//   - The most specific route wins, whatever the order of the config. Hosts
//     first: an exact host, then wildcard hosts (longest suffix first), then
//     routes without a host; a tier is only left when none of its paths
//     matches. Then paths, segment by segment from the left: literal beats
//     {param} beats "*"; an exact template beats a prefix template with the
//     same leading segments; a longer prefix beats a shorter one.
//   - The method is checked only against the most specific matching path
//     template. If no route with that template accepts the method, Match
//     reports MethodNotAllowed with its Allow list; it never falls back to a
//     less specific route, which would let DELETE /admin (configured for GET
//     only) reach a "/*" route with a weaker policy. GET implies HEAD.
//   - A path containing ';' or %3B matches only routes with AllowSemicolon;
//     otherwise Match reports SemicolonNotAllowed. ';' is part of the segment,
//     so "/a;v=1" does not match the literal "/a" (use a {param} or a prefix).
package router

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/rampart-sec/rampart/internal/canonpath"
)

// MaxParams is the number of {param} segments one template may have.
const MaxParams = 8

// Spec is one route's match block.
type Spec struct {
	// Host is "" for any host, "api.example.com" for that host, or
	// "*.example.com" for any subdomain of example.com (not example.com).
	Host string
	// Path is a template: "/status", "/accounts/{id}" or "/static/*".
	Path string
	// Methods are uppercase method names; empty means every method.
	Methods []string
	// AllowSemicolon lets the path contain ';' or %3B.
	AllowSemicolon bool
}

// SpecError locates a refused Spec: Index is its position in the slice given
// to New and Field its config key ("match.host", "match.path",
// "match.methods").
type SpecError struct {
	Index int
	Field string
	Msg   string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("route %d: %s: %s", e.Index, e.Field, e.Msg)
}

// Result is the outcome of Match. The zero value is NotFound.
type Result int

// Results of Match.
const (
	NotFound            Result = iota // no route for this host and path
	Found                             // index is the route
	MethodNotAllowed                  // the path matched; allow lists the accepted methods
	SemicolonNotAllowed               // index is the route, which does not allow ';'
)

func (r Result) String() string {
	switch r {
	case Found:
		return "found"
	case MethodNotAllowed:
		return "method_not_allowed"
	case SemicolonNotAllowed:
		return "semicolon_not_allowed"
	}
	return "not_found"
}

// Params holds the {param} values of a match. It is meant to live on the
// caller's stack; Match fills it without allocating.
type Params struct {
	n      int
	names  [MaxParams]string
	values [MaxParams]string
}

// Get returns the value of the named parameter, still percent-encoded as in
// the canonical path.
func (p *Params) Get(name string) (string, bool) {
	for i := 0; i < p.n; i++ {
		if p.names[i] == name {
			return p.values[i], true
		}
	}
	return "", false
}

// Len returns the number of parameters.
func (p *Params) Len() int { return p.n }

// At returns the i-th parameter in template order; out of range gives "", "".
func (p *Params) At(i int) (name, value string) {
	if i < 0 || i >= p.n {
		return "", ""
	}
	return p.names[i], p.values[i]
}

// Router is a compiled route table. It is immutable and safe for concurrent
// use.
type Router struct {
	exact     map[uint64][]*table // by hashHost of the host name
	ip6       []*table            // IPv6 literal hosts, compared as addresses
	wildcards []*table            // longest suffix first
	anyHost   *table
}

// table holds the routes of one host (or of one wildcard suffix, or of every
// host).
type table struct {
	host string     // lowercase host, or ".example.com" for "*.example.com"
	addr netip.Addr // for IPv6 literal hosts
	root *node
}

// node is a trie node; its depth is the number of segments consumed.
type node struct {
	lit    string  // lowercase literal leading here ("" for the param child)
	lits   []*node // literal children
	param  *node   // the {param} child, shared by every parameter name
	exact  *pattern
	prefix *pattern
}

// pattern is one path shape of one host; its routes have disjoint methods.
type pattern struct {
	routes []entry
	allow  string // Allow header value when no route takes the method
}

type entry struct {
	index          int
	methods        methodSet
	allowSemicolon bool
	params         []string // names in template order
}

// New compiles specs. It refuses invalid hosts, templates and methods, and
// two routes that no request could tell apart: same host, same path shape
// (literals compared case-insensitively, parameters regardless of name) and
// overlapping methods.
func New(specs []Spec) (*Router, error) {
	r := &Router{exact: make(map[uint64][]*table)}
	for i, s := range specs {
		host, msg := parseHost(s.Host)
		if msg != "" {
			return nil, &SpecError{Index: i, Field: "match.host", Msg: msg}
		}
		tpl, msg := parseTemplate(s.Path, s.AllowSemicolon)
		if msg != "" {
			return nil, &SpecError{Index: i, Field: "match.path", Msg: msg}
		}
		ms, msg := parseMethods(s.Methods)
		if msg != "" {
			return nil, &SpecError{Index: i, Field: "match.methods", Msg: msg}
		}
		t := r.tableFor(host)
		pat := t.insert(tpl)
		for _, other := range pat.routes {
			if common, ok := ms.overlap(other.methods); ok {
				return nil, &SpecError{Index: i, Field: "match.path", Msg: fmt.Sprintf(
					"same host and path shape as route %d, overlapping methods (%s): no request could tell them apart",
					other.index, common)}
			}
		}
		pat.routes = append(pat.routes, entry{
			index:          i,
			methods:        ms,
			allowSemicolon: s.AllowSemicolon,
			params:         tpl.params,
		})
	}
	sort.SliceStable(r.wildcards, func(a, b int) bool {
		return len(r.wildcards[a].host) > len(r.wildcards[b].host)
	})
	for _, ts := range r.exact {
		for _, t := range ts {
			t.root.finish()
		}
	}
	for _, t := range r.wildcards {
		t.root.finish()
	}
	for _, t := range r.ip6 {
		t.root.finish()
	}
	if r.anyHost != nil {
		r.anyHost.root.finish()
	}
	return r, nil
}

func (r *Router) tableFor(h hostSpec) *table {
	switch {
	case h.any:
		if r.anyHost == nil {
			r.anyHost = &table{root: &node{}}
		}
		return r.anyHost
	case h.addr.IsValid():
		for _, t := range r.ip6 {
			if t.addr == h.addr {
				return t
			}
		}
		t := &table{addr: h.addr, root: &node{}}
		r.ip6 = append(r.ip6, t)
		return t
	case h.wildcard:
		for _, t := range r.wildcards {
			if t.host == h.name {
				return t
			}
		}
		t := &table{host: h.name, root: &node{}}
		r.wildcards = append(r.wildcards, t)
		return t
	}
	key := hashHost(h.name)
	for _, t := range r.exact[key] {
		if t.host == h.name {
			return t
		}
	}
	t := &table{host: h.name, root: &node{}}
	r.exact[key] = append(r.exact[key], t)
	return t
}

// insert adds the template's shape to the trie and returns its pattern.
func (t *table) insert(tpl template) *pattern {
	n := t.root
	for _, seg := range tpl.segs {
		if seg.param {
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
			continue
		}
		var next *node
		for _, c := range n.lits {
			if c.lit == seg.lit {
				next = c
				break
			}
		}
		if next == nil {
			next = &node{lit: seg.lit}
			n.lits = append(n.lits, next)
		}
		n = next
	}
	p := &n.exact
	if tpl.prefix {
		p = &n.prefix
	}
	if *p == nil {
		*p = &pattern{}
	}
	return *p
}

// finish precomputes the Allow lists below n.
func (n *node) finish() {
	for _, p := range []*pattern{n.exact, n.prefix} {
		if p != nil {
			p.allow = allowList(p.routes)
		}
	}
	for _, c := range n.lits {
		c.finish()
	}
	if n.param != nil {
		n.param.finish()
	}
}

// Match finds the route for a request. host is the Host header as received;
// path is the canonical path from canonpath.Canonical and semicolon its
// semicolon report. index is the route's position in the specs given to New
// (-1 unless res is Found or SemicolonNotAllowed); allow is set for
// MethodNotAllowed. params is filled for Found and emptied otherwise.
func (r *Router) Match(host, path, method string, semicolon bool, params *Params) (index int, res Result, allow string) {
	var local Params
	if params == nil {
		params = &local
	}
	params.n = 0
	if r == nil || path == "" || path[0] != '/' {
		return -1, NotFound, ""
	}
	rest := path[1:]
	if rest != "" && rest[len(rest)-1] == '/' {
		rest = rest[:len(rest)-1]
	}
	var pat *pattern
	if h, ip6, ok := hostName(host); ip6 {
		if a, err := netip.ParseAddr(h); err == nil {
			for _, t := range r.ip6 {
				if t.addr == a {
					pat = t.root.match(rest, 0, &params.values)
					break
				}
			}
		}
	} else if ok {
		for _, t := range r.exact[hashHost(h)] {
			if equalFold(h, t.host) {
				pat = t.root.match(rest, 0, &params.values)
				break
			}
		}
		for i := 0; pat == nil && i < len(r.wildcards); i++ {
			if t := r.wildcards[i]; len(h) > len(t.host) && equalFold(h[len(h)-len(t.host):], t.host) {
				pat = t.root.match(rest, 0, &params.values)
			}
		}
	}
	if pat == nil && r.anyHost != nil {
		pat = r.anyHost.root.match(rest, 0, &params.values)
	}
	if pat == nil {
		return -1, NotFound, ""
	}
	for i := range pat.routes {
		e := &pat.routes[i]
		if !e.methods.has(method) {
			continue
		}
		if semicolon && !e.allowSemicolon {
			return e.index, SemicolonNotAllowed, ""
		}
		params.n = copy(params.names[:], e.params)
		return e.index, Found, ""
	}
	return -1, MethodNotAllowed, pat.allow
}

// match returns the most specific pattern under n for the segments in rest
// (no leading slash; "" when none are left), recording {param} values from
// index nv on. Each trie node is visited at most once, so the cost is bounded
// by the table, not by the request.
func (n *node) match(rest string, nv int, vals *[MaxParams]string) *pattern {
	if rest == "" {
		if n.exact != nil {
			return n.exact
		}
		return n.prefix
	}
	seg, tail := rest, ""
	for i := 0; i < len(rest); i++ { // segments are short: a loop beats IndexByte
		if rest[i] == '/' {
			seg, tail = rest[:i], rest[i+1:]
			break
		}
	}
	for _, c := range n.lits {
		if len(c.lit) == len(seg) && equalFold(seg, c.lit) {
			if p := c.match(tail, nv, vals); p != nil {
				return p
			}
			break // literals are unique up to case
		}
	}
	if n.param != nil && seg != "" && nv < MaxParams {
		vals[nv] = seg
		if p := n.param.match(tail, nv+1, vals); p != nil {
			return p
		}
	}
	return n.prefix
}

// hostName strips the port, IPv6 brackets and one trailing dot from a Host
// header; ip6 reports a bracketed literal. ok is false for a malformed value,
// which then matches only routes without a host.
func hostName(h string) (name string, ip6, ok bool) {
	if h == "" {
		return "", false, false
	}
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 || !isPort(h[end+1:]) {
			return "", false, false
		}
		return h[1:end], true, true
	}
	if i := strings.IndexByte(h, ':'); i >= 0 {
		if !isPort(h[i:]) {
			return "", false, false // a second colon: an unbracketed IPv6 literal
		}
		h = h[:i]
	}
	if h != "" && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	return h, false, h != ""
}

// isPort reports "" or ":" followed by digits.
func isPort(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ':' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hashHost is FNV-1a over the ASCII-lowercased name, so Match can look a host
// up without building a lowercase copy.
func hashHost(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(lower(s[i]))
		h *= 1099511628211
	}
	return h
}

// equalFold compares a with the lowercase b, folding ASCII only: canonical
// paths and host names are ASCII.
func equalFold(a, lowerB string) bool {
	if len(a) != len(lowerB) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lowerB[i] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// template is a parsed Spec.Path.
type template struct {
	segs   []tplSeg
	prefix bool
	params []string
}

type tplSeg struct {
	lit   string // lowercase canonical literal
	param bool
}

// parseTemplate returns the parsed template or a message saying what is
// wrong with it.
func parseTemplate(path string, allowSemicolon bool) (template, string) {
	var t template
	if path == "" || path[0] != '/' {
		return t, "must start with '/'"
	}
	if path == "/" {
		return t, ""
	}
	if path[len(path)-1] == '/' {
		return t, "must not end with '/' (a trailing slash is ignored when matching; use a /* prefix for a subtree)"
	}
	segs := strings.Split(path[1:], "/")
	for i, seg := range segs {
		switch {
		case seg == "":
			return t, "empty segment ('//')"
		case seg == "*":
			if i != len(segs)-1 {
				return t, "'*' must be the last segment, as in /static/*"
			}
			t.prefix = true
		case seg[0] == '{' && seg[len(seg)-1] == '}':
			name := seg[1 : len(seg)-1]
			if !isIdent(name) {
				return t, fmt.Sprintf("parameter %q: names are letters, digits and '_', not starting with a digit", seg)
			}
			for _, p := range t.params {
				if p == name {
					return t, fmt.Sprintf("parameter {%s} appears twice", name)
				}
			}
			if len(t.params) == MaxParams {
				return t, fmt.Sprintf("more than %d parameters", MaxParams)
			}
			t.params = append(t.params, name)
			t.segs = append(t.segs, tplSeg{param: true})
		case strings.ContainsAny(seg, "{}*"):
			return t, fmt.Sprintf("segment %q: '{param}' and '*' must be whole segments", seg)
		default:
			canon, semi, err := canonpath.Canonical("/" + seg)
			if err != nil {
				return t, fmt.Sprintf("segment %q: %v", seg, err)
			}
			if canon == "/" || strings.IndexByte(canon[1:], '/') >= 0 {
				return t, fmt.Sprintf("segment %q is a dot segment", seg)
			}
			if semi && !allowSemicolon {
				return t, fmt.Sprintf("segment %q contains ';' but allow_semicolon is false, so no request could match", seg)
			}
			t.segs = append(t.segs, tplSeg{lit: strings.ToLower(canon[1:])})
		}
	}
	return t, ""
}

func isIdent(s string) bool {
	if s == "" || ('0' <= s[0] && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// hostSpec is a parsed Spec.Host.
type hostSpec struct {
	any      bool
	wildcard bool       // name is ".example.com" for "*.example.com"
	name     string     // lowercase, without a trailing dot
	addr     netip.Addr // set for an IPv6 literal
}

// parseHost parses a Spec.Host, or returns a message saying what is wrong.
func parseHost(h string) (hostSpec, string) {
	if h == "" {
		return hostSpec{any: true}, ""
	}
	if strings.HasPrefix(h, "[") {
		a, err := netip.ParseAddr(strings.TrimSuffix(h[1:], "]"))
		if !strings.HasSuffix(h, "]") || err != nil || !a.Is6() {
			return hostSpec{}, fmt.Sprintf("%q is not an IPv6 address in brackets (and a port is not allowed)", h)
		}
		return hostSpec{addr: a}, ""
	}
	if strings.Count(h, ":") > 1 {
		return hostSpec{}, "an IPv6 address is written in brackets, as in [::1]"
	}
	if strings.Contains(h, ":") {
		return hostSpec{}, "must not include a port (the port is ignored when matching)"
	}
	hs := hostSpec{name: strings.TrimSuffix(strings.ToLower(h), ".")}
	labels := hs.name
	if strings.HasPrefix(labels, "*.") {
		labels = labels[2:]
		hs.name, hs.wildcard = hs.name[1:], true
	}
	for _, label := range strings.Split(labels, ".") {
		if label == "" || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return hostSpec{}, fmt.Sprintf("%q is not a host name, \"*.\" followed by one, or an IP address", h)
		}
	}
	return hs, ""
}
