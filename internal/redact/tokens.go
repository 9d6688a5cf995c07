package redact

import (
	"math/bits"
	"strings"
)

// keyRule is an API key format: a fixed prefix and a body of known alphabet
// and length.
type keyRule struct {
	prefix   string
	body     uint16 // classes the body is made of
	min, max int
	// mixed requires upper case, lower case and digits in the body, for a
	// prefix too short to trust on its own ("sk-").
	mixed bool
	// rampart is Rampart's own format, checked exactly.
	rampart bool
}

var keyRules = [...]keyRule{
	{prefix: "rk_", rampart: true},
	{prefix: "sk_live_", body: cAlnum, min: 16, max: 255},
	{prefix: "sk_test_", body: cAlnum, min: 16, max: 255},
	{prefix: "rk_live_", body: cAlnum, min: 16, max: 255},
	{prefix: "rk_test_", body: cAlnum, min: 16, max: 255},
	{prefix: "whsec_", body: cAlnum | cPlus | cSlash, min: 24, max: 255},
	{prefix: "ghp_", body: cAlnum, min: 36, max: 255},
	{prefix: "gho_", body: cAlnum, min: 36, max: 255},
	{prefix: "ghu_", body: cAlnum, min: 36, max: 255},
	{prefix: "ghs_", body: cAlnum, min: 36, max: 255},
	{prefix: "ghr_", body: cAlnum, min: 36, max: 255},
	{prefix: "github_pat_", body: cAlnum | cUnderscore, min: 22, max: 255},
	{prefix: "glpat-", body: cB64URL, min: 20, max: 255},
	{prefix: "xoxa-", body: cAlnum | cHyphen, min: 10, max: 255},
	{prefix: "xoxb-", body: cAlnum | cHyphen, min: 10, max: 255},
	{prefix: "xoxe-", body: cAlnum | cHyphen, min: 10, max: 255},
	{prefix: "xoxp-", body: cAlnum | cHyphen, min: 10, max: 255},
	{prefix: "xoxr-", body: cAlnum | cHyphen, min: 10, max: 255},
	{prefix: "xoxs-", body: cAlnum | cHyphen, min: 10, max: 255},
	{prefix: "AKIA", body: cUpper | cDigit, min: 16, max: 16},
	{prefix: "ASIA", body: cUpper | cDigit, min: 16, max: 16},
	{prefix: "AIza", body: cB64URL, min: 35, max: 35},
	{prefix: "sk-", body: cB64URL, min: 32, max: 255, mixed: true},
	{prefix: "npm_", body: cAlnum, min: 36, max: 36},
	{prefix: "pypi-", body: cB64URL, min: 50, max: 1024},
	{prefix: "hf_", body: cAlnum, min: 30, max: 64},
	{prefix: "shpat_", body: cHex, min: 32, max: 32},
	{prefix: "shpca_", body: cHex, min: 32, max: 32},
	{prefix: "shppa_", body: cHex, min: 32, max: 32},
	{prefix: "shpss_", body: cHex, min: 32, max: 32},
	{prefix: "dop_v1_", body: cHex, min: 64, max: 64},
	{prefix: "SG.", body: cB64URL | cDot, min: 60, max: 80},
}

// keyRulesByFirst[c] is the set of keyRules (bit i for keyRules[i]) whose
// prefix starts with c, so that a word is checked only against rules that can
// match it.
var keyRulesByFirst = func() (t [256]uint64) {
	for i, r := range keyRules {
		t[r.prefix[0]] |= 1 << i
	}
	return t
}()

// keyPairs is the bit set of the first two bytes of the keyRules'
// prefixes, indexed by first<<8 | second: most words share only their first
// letter with a prefix, and are rejected with one lookup.
var keyPairs = func() (t [1024]uint64) {
	for _, r := range keyRules {
		pair := uint16(r.prefix[0])<<8 | uint16(r.prefix[1])
		t[pair>>6] |= 1 << (pair & 63)
	}
	return t
}()

// keyPairAt reports whether s[i:i+2] starts some keyRules prefix.
func keyPairAt(s string, i int) bool {
	if i+1 >= len(s) {
		return false
	}
	pair := uint16(s[i])<<8 | uint16(s[i+1])
	return keyPairs[pair>>6]&(1<<(pair&63)) != 0
}

// apiKey detects an API key at s[i] among rules and returns its end, or i.
func (sc *scanner) apiKey(i int, rules uint64) int {
	s := sc.s
	for ; rules != 0; rules &= rules - 1 {
		r := &keyRules[bits.TrailingZeros64(rules)]
		if !strings.HasPrefix(s[i:], r.prefix) {
			continue
		}
		var end int
		if r.rampart {
			end = rampartKey(s, i)
		} else {
			end = r.match(s, i+len(r.prefix))
		}
		if end > 0 {
			sc.add(span{start: i, end: end, kind: APIKey})
			return end
		}
	}
	return i
}

// match returns the end of the body starting at s[b], or 0 if there is no
// body of the rule's alphabet and length ending at a word boundary.
func (r *keyRule) match(s string, b int) int {
	e := b
	var seen uint16
	for e < len(s) && class[s[e]]&r.body != 0 && e-b <= r.max {
		seen |= class[s[e]]
		e++
	}
	if e-b < r.min || e-b > r.max || e < len(s) && class[s[e]]&(r.body|cAlnum) != 0 {
		return 0
	}
	if r.mixed && (seen&cUpper == 0 || seen&cLower == 0 || seen&cDigit == 0) {
		return 0
	}
	return e
}

// rampartKey returns the end of the Rampart API key
// "rk_" + 16 lowercase base32 + "_" + 43 base64url at s[i], or 0. (The
// format is apikey's; this package does not import it, so that logging can
// import this one.)
func rampartKey(s string, i int) int {
	const idLen, secretLen = 16, 43
	end := i + 3 + idLen + 1 + secretLen
	if end > len(s) || s[i+3+idLen] != '_' {
		return 0
	}
	for _, c := range []byte(s[i+3 : i+3+idLen]) {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return 0
		}
	}
	for _, c := range []byte(s[i+3+idLen+1 : end]) {
		if class[c]&cB64URL == 0 {
			return 0
		}
	}
	if end < len(s) && class[s[end]]&cB64URL != 0 {
		return 0
	}
	return end
}

// maxJWTHeader bounds the header the JWT detector decodes; real headers are
// well under 1 KiB.
const maxJWTHeader = 2048

// jwt detects a JWS or JWE at s[i] and returns its end, or i.
func (sc *scanner) jwt(i int) int {
	s := sc.s
	n := len(s)
	j := i
	for j < n && class[s[j]]&cB64URL != 0 {
		j++
	}
	// {"alg":"x"} is 14 base64url characters.
	if j >= n || s[j] != '.' || j-i < 14 || j-i > maxJWTHeader || !headerHasAlg(s[i:j]) {
		return i
	}
	end, parts := j, 1
	for parts < 5 && end < n && s[end] == '.' {
		k := end + 1
		for k < n && class[s[k]]&cB64URL != 0 {
			k++
		}
		if k == end+1 && parts >= 3 {
			break // "header.payload.sig." ends a sentence; an empty signature is fine (alg none)
		}
		end, parts = k, parts+1
	}
	if parts < 3 {
		return i
	}
	sc.add(span{start: i, end: end, kind: JWT})
	return end
}

// headerHasAlg reports whether the base64url text h decodes to a JSON object
// with an "alg" member. It decodes as it goes, without a buffer, and stops
// at the first byte that rules it out.
func headerHasAlg(h string) bool {
	const alg = uint64('"')<<32 | uint64('a')<<24 | uint64('l')<<16 | uint64('g')<<8 | uint64('"')
	var acc uint32
	var window uint64
	bits := 0
	opened, member := false, false
	for i := 0; i < len(h); i++ {
		acc = acc<<6 | uint32(b64Value[h[i]])
		bits += 6
		if bits < 8 {
			continue
		}
		bits -= 8
		b := byte(acc >> bits)
		isSpace := b == ' ' || b == '\t' || b == '\n' || b == '\r'
		switch {
		case !opened:
			if isSpace {
				continue
			}
			if b != '{' {
				return false
			}
			opened = true
		case member:
			if isSpace {
				continue
			}
			if b == ':' {
				return true
			}
			member = false
		}
		window = window<<8 | uint64(b)
		if window&0xFF_FFFF_FFFF == alg {
			member = true
		}
	}
	return false
}

// b64Value maps the base64 and base64url alphabets to their values.
var b64Value = func() (t [256]byte) {
	const std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range len(std) {
		t[std[i]] = byte(i)
	}
	t['-'], t['_'] = 62, 63
	return t
}()

// authScheme detects the credential after "Bearer " or "Basic " at s[i]
// and returns its end, or i.
func (sc *scanner) authScheme(i int) int {
	s, r := sc.s, sc.r
	switch {
	case r.on[Bearer] && hasPrefixFold(s[i:], "bearer"):
		return sc.bearer(i, i+6)
	case r.on[Credential] && hasPrefixFold(s[i:], "basic"):
		return sc.basic(i, i+5)
	}
	return i
}

// bearer detects a token68 after "Bearer" (which ends at s[b]).
func (sc *scanner) bearer(i, b int) int {
	s := sc.s
	n := len(s)
	if b >= n || s[b] != ' ' && s[b] != '\t' {
		return i
	}
	j := b
	for j < n && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	k := j
	var seen uint16
	for k < n && class[s[k]]&cToken68 != 0 {
		seen |= class[s[k]]
		k++
	}
	body := k - j
	e := k
	for e < n && s[e] == '=' {
		e++
	}
	if body < 8 {
		return i
	}
	if seen&^(cAlpha|cUnderscore|cHyphen) == 0 {
		// Only letters: an auth-param (Bearer error_description="...") or
		// prose ("bearer authentication"); tokens have digits or symbols.
		if e > k && (e == n || s[e] == '"') || body < 16 {
			return i
		}
	}
	sc.add(span{start: j, end: e, kind: Bearer})
	return e
}

// basic detects the base64 "user:password" after "Basic" (which ends at
// s[b]). The decoded text must be printable and contain ':', which tells it
// from the word "basic" in prose.
func (sc *scanner) basic(i, b int) int {
	s := sc.s
	n := len(s)
	if b >= n || s[b] != ' ' && s[b] != '\t' {
		return i
	}
	j := b
	for j < n && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	k := j
	for k < n && class[s[k]]&(cAlnum|cPlus|cSlash) != 0 {
		k++
	}
	e := k
	for e < n && e-k < 2 && s[e] == '=' {
		e++
	}
	if e-j < 8 || (e-j)%4 != 0 || e < n && class[s[e]]&cEntropy != 0 {
		return i
	}
	var acc uint32
	bits, colon := 0, false
	for p := j; p < k; p++ {
		acc = acc<<6 | uint32(b64Value[s[p]])
		bits += 6
		if bits >= 8 {
			bits -= 8
			c := byte(acc >> bits)
			if c < 0x20 || c > 0x7e {
				return i
			}
			colon = colon || c == ':'
		}
	}
	if !colon {
		return i
	}
	sc.add(span{start: j, end: e, kind: Credential})
	return e
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// pemKey masks a PEM private key block starting at s[i] ("-----BEGIN ... PRIVATE
// KEY-----" to its END line, or to the end of s if the block is cut off) and
// returns its end, or i.
func (sc *scanner) pemKey(i int) int {
	s := sc.s
	rest := s[i+len("-----BEGIN "):]
	// The label is "PRIVATE KEY" after upper-case words (RSA, EC,
	// ENCRYPTED, OPENSSH).
	e := 0
	for e < len(rest) && e <= 40 && (isUpper(rest[e]) || rest[e] == ' ') {
		e++
	}
	label := rest[:e]
	if !strings.HasPrefix(rest[e:], "-----") || !strings.HasSuffix(label, "PRIVATE KEY") {
		return i
	}
	end := len(s)
	body := i + len("-----BEGIN ") + e + 5
	if k := strings.Index(s[body:], "-----END "+label+"-----"); k >= 0 {
		end = body + k + len("-----END ") + len(label) + 5
	}
	sc.add(span{start: i, end: end, kind: Secret})
	return end
}
