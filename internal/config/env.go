package config

import (
	"fmt"
	"strings"
)

// expand replaces ${NAME} references in s with values from lookup; "$${" is a
// literal "${". Error messages name the variable but never contain a value,
// because values are typically secrets.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			// "$${": drop one '$' and keep "${" literally.
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf(`unterminated "${" (write "$${" for a literal "${")`)
		}
		name := s[i+2 : i+2+end]
		if !isEnvName(name) {
			return "", fmt.Errorf(`%q is not a valid environment variable reference (names are letters, digits and '_', not starting with a digit; write "$${" for a literal "${")`, "${"+name+"}")
		}
		var val string
		ok := false
		if lookup != nil {
			val, ok = lookup(name)
		}
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(val)
		s = s[i+2+end+1:]
	}
}

func isEnvName(s string) bool {
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
