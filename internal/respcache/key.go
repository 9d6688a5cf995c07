package respcache

import (
	"encoding/binary"
	"net/http"
	"slices"
	"strings"
)

// Keys are binary: the route name and a NUL (so stores can namespace by
// route), then length-prefixed fields, so that no choice of values in one
// field can make two different requests' keys equal. Entries keep their
// whole key and a hit compares it: keys are never reduced to a hash alone.

// keyPrefix is the part of every key of a route that the config decides:
// the route, the scope and the keyed header names (a reload that changes
// them starts on fresh keys).
func keyPrefix(route string, cp *compiled) string {
	b := make([]byte, 0, len(route)+32)
	b = append(b, route...)
	b = append(b, 0, byte(cp.scope))
	return string(appendList(b, cp.vary))
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendField(b, s)
	}
	return b
}

// key is the cache key of r as v describes it; false when the request
// cannot be keyed safely (a query the upstream might parse differently).
func (h *Handler) key(r *http.Request, v View) (string, bool) {
	var arr [512]byte
	b := append(arr[:0], h.prefix...)
	b = appendField(b, r.Method)
	b = appendHost(b, v.Host)
	b = appendField(b, v.Path)
	b, ok := appendQuery(b, r.URL.RawQuery)
	if !ok {
		return "", false
	}
	for _, name := range h.policy.vary {
		b = appendList(b, r.Header[name])
	}
	if h.policy.scope == Private {
		b = appendField(b, v.Principal)
	}
	return string(b), true
}

// appendHost appends host lowercased and without a trailing dot on the name
// ("Example.COM.:8443" is "example.com:8443").
func appendHost(b []byte, host string) []byte {
	name, port := host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		name, port = host[:i], host[i:]
	}
	name = strings.TrimSuffix(name, ".")
	b = binary.AppendUvarint(b, uint64(len(name)+len(port)))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return append(b, port...)
}

// appendQuery appends the query's parameters, stably sorted by name, each
// exactly as sent. Values are never decoded or reordered among themselves:
// upstreams differ on whether "+" is a space, and on which of a repeated
// parameter counts, so "a=1&a=2" and "a=2&a=1" must stay two keys. Names
// compare case-insensitively (some frameworks merge "A" and "a"), and the
// parameters are sorted only when every name is plain ASCII, so that two
// spellings of one name ("a", "%61") are never moved past each other.
// A ';' refuses the query: some upstreams split parameters on it.
func appendQuery(b []byte, raw string) ([]byte, bool) {
	if strings.IndexByte(raw, ';') >= 0 {
		return b, false
	}
	if raw == "" {
		return binary.AppendUvarint(b, 0), true
	}
	var arr [16]string
	params := arr[:0]
	sortable := true
	for p := range strings.SplitSeq(raw, "&") {
		params = append(params, p)
		name, _, _ := strings.Cut(p, "=")
		if sortable && !plainName(name) {
			sortable = false
		}
	}
	if sortable {
		slices.SortStableFunc(params, func(x, y string) int {
			return compareFold(paramName(x), paramName(y))
		})
	}
	b = binary.AppendUvarint(b, uint64(len(params)))
	for _, p := range params {
		b = appendField(b, p)
	}
	return b, true
}

func paramName(p string) string {
	name, _, _ := strings.Cut(p, "=")
	return name
}

// plainName reports whether a parameter name has only characters that no
// upstream decodes: letters, digits, - . _ ~ and the brackets of "a[]".
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// compareFold compares ASCII strings ignoring case.
func compareFold(x, y string) int {
	for i := 0; i < len(x) && i < len(y); i++ {
		cx, cy := lower(x[i]), lower(y[i])
		if cx != cy {
			if cx < cy {
				return -1
			}
			return 1
		}
	}
	return len(x) - len(y)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
