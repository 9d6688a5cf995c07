package authn

import "net/http"

// BearerToken extracts the token of an RFC 6750 §2.1 Authorization header:
// exactly one header, scheme "Bearer" (any case), one or more spaces, and a
// b64token. Tokens in the query string or the body are never read (§2.2 and
// §2.3 leak into logs and caches). It returns ErrNoCredentials when there is
// no Authorization header, and an *Error (invalid_request) when it is malformed.
func BearerToken(h http.Header) (string, error) {
	vs := h["Authorization"]
	switch len(vs) {
	case 0:
		return "", ErrNoCredentials
	case 1:
	default:
		return "", refuse(ReasonMalformed)
	}
	v := vs[0]
	const scheme = "bearer"
	if len(v) <= len(scheme) || !equalFoldASCII(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", refuse(ReasonMalformed)
	}
	i := len(scheme)
	for i < len(v) && v[i] == ' ' {
		i++
	}
	tok := v[i:]
	if !isB64Token(tok) {
		return "", refuse(ReasonMalformed)
	}
	return tok, nil
}

// isB64Token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	n := len(s)
	for n > 0 && s[n-1] == '=' {
		n--
	}
	if n == 0 {
		return false
	}
	for i := 0; i < n; i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != b[i] {
			return false
		}
	}
	return true
}
