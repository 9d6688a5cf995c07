package apikey

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"fmt"
)

// The key format: "rk_" + id + "_" + secret, 63 characters in all. The id
// is lowercase base32 so it reads well in logs and never contains the
// separator; the secret is base64url, which may contain '_', so the parser
// splits by position, never by searching for the separator.
const (
	keyPrefix  = "rk_"
	idBytes    = 10
	idLen      = 16 // base32 of 10 bytes, exactly 80 bits: no padding, no spare bits
	secretSize = 32
	secretLen  = 43 // base64url of 32 bytes, 2 spare bits that must be zero
	keyLen     = len(keyPrefix) + idLen + 1 + secretLen
)

// idEncoding is lowercase RFC 4648 base32 without padding.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newKey returns a fresh key, its id and its secret, all from crypto/rand.
func newKey() (key, id string, secret [secretSize]byte, err error) {
	var idb [idBytes]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", secret, fmt.Errorf("generate key id: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", "", secret, fmt.Errorf("generate key secret: %w", err)
	}
	id = idEncoding.EncodeToString(idb[:])
	return keyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret[:]), id, secret, nil
}

// parseKey splits key into its id (a substring of key, so no allocation)
// and decodes its secret into dst. It accepts exactly one spelling of each
// key: the prefix, lengths and alphabets are checked, and the secret's spare
// bits must be zero, so no two strings verify as the same key.
func parseKey(key string, dst *[secretSize]byte) (id string, ok bool) {
	if len(key) != keyLen || key[:len(keyPrefix)] != keyPrefix || key[len(keyPrefix)+idLen] != '_' {
		return "", false
	}
	id = key[len(keyPrefix) : len(keyPrefix)+idLen]
	if !validID(id) || !decodeSecret(key[len(keyPrefix)+idLen+1:], dst) {
		return "", false
	}
	return id, true
}

// validID reports whether id has the form of a key id.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// decodeSecret decodes the 43 base64url characters of s into dst. It is
// hand-written rather than encoding/base64 because that package skips CR and
// LF even in strict mode, and its decoders take a []byte, which would cost an
// allocation per request.
func decodeSecret(s string, dst *[secretSize]byte) bool {
	if len(s) != secretLen {
		return false
	}
	var acc uint32
	bits, n := 0, 0
	for i := 0; i < len(s); i++ {
		v, ok := b64URLValue(s[i])
		if !ok {
			return false
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			dst[n] = byte(acc >> bits)
			n++
		}
	}
	// 43 characters carry 258 bits: the last 2 must be zero, or four
	// spellings of the last character would decode to the same secret.
	return n == secretSize && acc&(1<<bits-1) == 0
}

func b64URLValue(c byte) (byte, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A', true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26, true
	case c >= '0' && c <= '9':
		return c - '0' + 52, true
	case c == '-':
		return 62, true
	case c == '_':
		return 63, true
	}
	return 0, false
}

// validName reports whether name is 1 to 63 characters of [a-z0-9._-]. The
// name becomes the principal's subject, so it is kept to characters that are
// safe in logs, headers and CEL policies.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 63 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validLabel reports whether a role or scope is non-empty printable ASCII
// without spaces, quotes or backslashes: the characters that would make it
// ambiguous in a space-separated scope string or break quoting in policies
// and logs.
func validLabel(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > '~' || c == '"' || c == '\'' || c == '\\' {
			return false
		}
	}
	return true
}

// checkLabels returns an error naming the first invalid role or scope.
func checkLabels(kind string, labels []string) error {
	for _, l := range labels {
		if !validLabel(l) {
			return fmt.Errorf("invalid %s %q: want non-empty printable ASCII without spaces, quotes or backslashes", kind, l)
		}
	}
	return nil
}
