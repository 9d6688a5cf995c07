package mesh

import (
	"fmt"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/rampart-sec/rampart/internal/canonpath"
)

// Reasons of a policy denial (event Reason).
const (
	ReasonUnknownCaller = "caller_not_allowed" // no rule names the caller
	ReasonPath          = "path_not_allowed"   // no rule of the caller matches the path
	ReasonMethod        = "method_not_allowed" // a rule matches the path, none the method
)

// policy is the compiled Inbound: per caller, the union of its rules. A
// request is allowed when one rule matches both its method and its path;
// rules never deny, so their order does not matter and a narrower rule
// cannot hide a wider one (unlike the gateway's most-specific-route match,
// which picks one route to apply that route's auth).
type policy struct {
	byCaller map[string][]rule // key: SPIFFE ID string
}

type rule struct {
	methods methodSet
	paths   []template
}

func compilePolicy(rules []Rule) (*policy, error) {
	p := &policy{byCaller: map[string][]rule{}}
	for i, r := range rules {
		id, err := spiffeid.FromString(r.Caller)
		if err != nil {
			return nil, fmt.Errorf("inbound[%d].caller: %w", i, err)
		}
		ms, err := parseMethods(r.Methods)
		if err != nil {
			return nil, fmt.Errorf("inbound[%d].methods: %w", i, err)
		}
		c := rule{methods: ms}
		for j, s := range r.Paths {
			t, err := parseTemplate(s)
			if err != nil {
				return nil, fmt.Errorf("inbound[%d].paths[%d]: %w", i, j, err)
			}
			c.paths = append(c.paths, t)
		}
		p.byCaller[id.String()] = append(p.byCaller[id.String()], c)
	}
	return p, nil
}

// allow decides a request of caller for method on the canonical path. It
// returns "" when allowed, else the denial reason.
func (p *policy) allow(caller spiffeid.ID, method, path string) string {
	rules, ok := p.byCaller[caller.String()]
	if !ok {
		return ReasonUnknownCaller
	}
	pathMatched := false
	for i := range rules {
		r := &rules[i]
		for _, t := range r.paths {
			if t.match(path) {
				if r.methods.has(method) {
					return ""
				}
				pathMatched = true
				break
			}
		}
	}
	if pathMatched {
		return ReasonMethod
	}
	return ReasonPath
}

// methodSet is a rule's methods; any is "*".
type methodSet struct {
	any   bool
	names []string
}

func parseMethods(ms []string) (methodSet, error) {
	var s methodSet
	if len(ms) == 0 {
		return s, fmt.Errorf("%w: at least one method is required (\"*\" for every method)", ErrBadMethod)
	}
	for _, m := range ms {
		if m == "*" {
			s.any = true
			continue
		}
		// Methods are case-sensitive (RFC 9110): "get" would never match.
		if m == "" || strings.Trim(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_") != "" {
			return s, fmt.Errorf("%w %q: methods are uppercase tokens such as GET, or \"*\"", ErrBadMethod, m)
		}
		if m == "CONNECT" {
			return s, fmt.Errorf("%w %q: the sidecar never tunnels", ErrBadMethod, m)
		}
		s.names = append(s.names, m)
	}
	return s, nil
}

func (s *methodSet) has(m string) bool {
	if s.any {
		return true
	}
	for _, n := range s.names {
		if n == m || (m == "HEAD" && n == "GET") {
			return true
		}
	}
	return false
}

// template is a compiled path template: literal segments, "" for {param},
// and whether it ends in "/*".
type template struct {
	segs   []string
	prefix bool
}

// parseTemplate compiles "/a/{id}/b", "/a/*", "/*" or "/". Every literal
// segment must already be canonical (canonpath), since templates are
// compared with canonical paths: "/a/../b" or "/a%2fb" would never match,
// and a rule that never matches is a silent mistake.
func parseTemplate(s string) (template, error) {
	var t template
	if s == "" || s[0] != '/' {
		return t, fmt.Errorf("%w %q: must start with '/'", ErrBadTemplate, s)
	}
	if s == "/" {
		return t, nil
	}
	parts := strings.Split(s[1:], "/")
	for i, seg := range parts {
		last := i == len(parts)-1
		switch {
		case seg == "*":
			if !last {
				return t, fmt.Errorf("%w %q: '*' only as the last segment", ErrBadTemplate, s)
			}
			t.prefix = true
		case seg == "":
			return t, fmt.Errorf("%w %q: empty segment or trailing '/'", ErrBadTemplate, s)
		case seg[0] == '{':
			if len(seg) < 3 || seg[len(seg)-1] != '}' || !validParam(seg[1:len(seg)-1]) {
				return t, fmt.Errorf("%w %q: a parameter is a whole segment {name} (letters, digits, '_')", ErrBadTemplate, s)
			}
			t.segs = append(t.segs, "")
		default:
			if strings.ContainsAny(seg, "{}*;") {
				return t, fmt.Errorf("%w %q: '{', '}', '*' and ';' are not allowed in a literal segment", ErrBadTemplate, s)
			}
			c, _, err := canonpath.Canonical("/" + seg)
			if err != nil || c != "/"+seg {
				return t, fmt.Errorf("%w %q: segment %q is not in canonical form", ErrBadTemplate, s, seg)
			}
			t.segs = append(t.segs, seg)
		}
	}
	return t, nil
}

func validParam(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// match reports whether the canonical path p (which starts with '/' and has
// no empty segment but perhaps a trailing slash) matches. It does not
// allocate.
func (t *template) match(p string) bool {
	if len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	rest := p[1:]
	for _, want := range t.segs {
		if rest == "" {
			return false
		}
		seg := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if want != "" && want != seg {
			return false
		}
	}
	return rest == "" || t.prefix
}
