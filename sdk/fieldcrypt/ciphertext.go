package fieldcrypt

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors a Keyring returns. They name what failed and never carry key
// material or plaintext, so they are safe to log and to map to API codes.
var (
	// ErrMalformedCiphertext: the value is not a "rampart:vN:BASE64" ciphertext.
	ErrMalformedCiphertext = errors.New("malformed ciphertext")
	// ErrDecrypt: the ciphertext does not authenticate under its key version
	// and associated data (tampered, truncated, or bound to another record
	// or field).
	ErrDecrypt = errors.New("ciphertext does not authenticate")
	// ErrUnknownVersion: the ciphertext names a key version the keyring does not have.
	ErrUnknownVersion = errors.New("unknown key version")
	// ErrVersionDisabled: the key version was disabled.
	ErrVersionDisabled = errors.New("key version disabled")
	// ErrVersionTooOld: the key version is below the keyring's minimum decryption version.
	ErrVersionTooOld = errors.New("key version below the minimum decryption version")
)

// Prefix starts every ciphertext.
const Prefix = "rampart:v"

// MaxVersion bounds the version number a ciphertext may name, so that
// parsing never has to deal with overflow.
const MaxVersion = 1<<31 - 1

// FormatCiphertext returns "rampart:v<version>:<base64 of body>" (standard
// base64 with padding). The version says which key version sealed body;
// the key itself is named by whoever stores or sends the ciphertext (the
// column, the transit URL), as in Vault's "vault:v1:" values.
func FormatCiphertext(version int, body []byte) string {
	b := make([]byte, 0, len(Prefix)+11+base64.StdEncoding.EncodedLen(len(body)))
	b = append(b, Prefix...)
	b = strconv.AppendInt(b, int64(version), 10)
	b = append(b, ':')
	b = base64.StdEncoding.AppendEncode(b, body)
	return string(b)
}

// ParseCiphertext splits a ciphertext made by FormatCiphertext. Versions
// are decimal without sign or leading zeros, from 1 to MaxVersion, so that
// one ciphertext has exactly one spelling. Every failure wraps
// ErrMalformedCiphertext.
func ParseCiphertext(s string) (version int, body []byte, err error) {
	version, enc, err := split(s)
	if err != nil {
		return 0, nil, err
	}
	body, err = base64.StdEncoding.Strict().DecodeString(enc)
	// The length check refuses the CR and LF the decoder skips: one
	// ciphertext, one spelling.
	if err != nil || len(body) == 0 || base64.StdEncoding.EncodedLen(len(body)) != len(enc) {
		return 0, nil, fmt.Errorf("%w: bad base64 body", ErrMalformedCiphertext)
	}
	return version, body, nil
}

// Version returns the key version a ciphertext names, without decoding
// its body (to find values a rotation left behind).
func Version(s string) (int, error) {
	v, _, err := split(s)
	return v, err
}

func split(s string) (version int, enc string, err error) {
	rest, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return 0, "", fmt.Errorf("%w: no %q prefix", ErrMalformedCiphertext, Prefix)
	}
	num, enc, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, "", fmt.Errorf("%w: no version separator", ErrMalformedCiphertext)
	}
	if num == "" || len(num) > 10 || num[0] == '0' {
		return 0, "", fmt.Errorf("%w: bad version", ErrMalformedCiphertext)
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return 0, "", fmt.Errorf("%w: bad version", ErrMalformedCiphertext)
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v > MaxVersion {
		return 0, "", fmt.Errorf("%w: bad version", ErrMalformedCiphertext)
	}
	return int(v), enc, nil
}
