package router

import (
	"fmt"
	"sort"
	"strings"
)

// knownMethods are the RFC 9110 methods and PATCH, in methodBit order. Known
// methods get one bit each so the hot path checks a method with a switch and
// a mask.
func knownMethods() [9]string {
	return [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
}

func methodBit(m string) uint16 {
	switch m {
	case "GET":
		return 1 << 0
	case "HEAD":
		return 1 << 1
	case "POST":
		return 1 << 2
	case "PUT":
		return 1 << 3
	case "PATCH":
		return 1 << 4
	case "DELETE":
		return 1 << 5
	case "OPTIONS":
		return 1 << 6
	case "TRACE":
		return 1 << 7
	case "CONNECT":
		return 1 << 8
	}
	return 0
}

// methodSet is a route's methods: every method, or known bits plus
// extension methods (e.g. PROPFIND).
type methodSet struct {
	any   bool
	known uint16
	other []string
}

// parseMethods validates a Spec's methods. Methods are case-sensitive
// (RFC 9110), so "get" is refused rather than silently matching nothing.
func parseMethods(ms []string) (methodSet, string) {
	var s methodSet
	if len(ms) == 0 {
		s.any = true
		return s, ""
	}
	for _, m := range ms {
		if m == "" || strings.Trim(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return s, fmt.Sprintf("method %q: methods are uppercase tokens such as GET", m)
		}
		if b := methodBit(m); b != 0 {
			s.known |= b
		} else if !s.hasOther(m) {
			s.other = append(s.other, m)
		}
	}
	if s.known&methodBit("GET") != 0 {
		s.known |= methodBit("HEAD")
	}
	return s, ""
}

func (s *methodSet) has(m string) bool {
	if s.any {
		return true
	}
	if b := methodBit(m); b != 0 {
		return s.known&b != 0
	}
	return s.hasOther(m)
}

func (s *methodSet) hasOther(m string) bool {
	for _, o := range s.other {
		if o == m {
			return true
		}
	}
	return false
}

// overlap reports whether two sets share a method, and names the shared ones.
func (s methodSet) overlap(t methodSet) (string, bool) {
	if s.any || t.any {
		return "a route without methods takes every method", true
	}
	var common []string
	for i, name := range knownMethods() {
		if s.known&t.known&(1<<i) != 0 {
			common = append(common, name)
		}
	}
	for _, m := range s.other {
		if t.hasOther(m) {
			common = append(common, m)
		}
	}
	if len(common) == 0 {
		return "", false
	}
	if len(common) == 1 && common[0] == "HEAD" {
		return "HEAD, which GET implies", true
	}
	return strings.Join(common, ", "), true
}

// names lists the methods of a set that is not "any".
func (s methodSet) names() []string {
	var out []string
	for i, name := range knownMethods() {
		if s.known&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return append(out, s.other...)
}

// allowList is the Allow header for a pattern: the sorted union of its
// routes' methods, or "" when one of them takes every method (then Match
// never reports MethodNotAllowed for it).
func allowList(routes []entry) string {
	seen := map[string]bool{}
	for _, e := range routes {
		if e.methods.any {
			return ""
		}
		for _, m := range e.methods.names() {
			seen[m] = true
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
