// Package requestid makes and checks the ids that tie one request's
// answer, log lines and security events together across the gateway and
// the mesh sidecars.
package requestid

import (
	"crypto/rand"
	"encoding/base32"
)

var encoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// New returns 120 random bits as 24 lowercase base32 characters.
func New() string {
	var b [15]byte
	rand.Read(b[:])
	return encoding.EncodeToString(b[:])
}

// Valid reports whether s may be kept as a request id that came from a
// trusted hop: 1 to 64 of A-Z, a-z, 0-9, '-', '_' and '.', so it cannot
// forge a log line or carry markup.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
