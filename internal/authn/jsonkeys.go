package authn

import "bytes"

// uniqueTopLevelNames reports whether the JSON object b (already known to be
// valid JSON) names each top-level member once. Names are compared ignoring
// ASCII case, because encoding/json matches struct fields that way; a name
// with a backslash escape is refused outright (no honest token needs one,
// and "s\u0075b" must not become a second "sub").
func uniqueTopLevelNames(b []byte) bool {
	var names [64][]byte
	n := 0
	depth := 0
	expectName := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			depth++
			expectName = depth == 1 && c == '{'
		case '}', ']':
			depth--
		case ',':
			expectName = depth == 1
		case '"':
			start := i + 1
			escaped := false
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					escaped = true
					i++
				}
			}
			if !expectName {
				continue
			}
			expectName = false
			if escaped || n == len(names) {
				return false
			}
			name := b[start:i]
			for _, o := range names[:n] {
				if bytes.EqualFold(o, name) {
					return false
				}
			}
			names[n] = name
			n++
		}
	}
	return true
}
