// Package redact finds personal data and secrets in text and masks them, so
// that log lines, security events and error details can be written without
// leaking what they carry.
//
// A Redactor is built once from Options (which detectors, which masking
// style, the hash key) and is then safe for concurrent use. Detection is one
// pass over the text with hand-written scanners, no regular expressions
// (BenchmarkRegexpEmail: one e-mail pattern costs several times all of them).
// Every detector starts only at a word boundary and validates what it finds
// (Luhn for cards, mod 97 for IBANs, a decoded header for JWTs, entropy for
// unknown secrets), because a redactor that masks order ids, timestamps and
// request ids makes logs useless and gets switched off. Text with nothing to
// mask is returned as it is, without allocating.
//
// Masking is a fixed point (String(String(s)) == String(s)): masks are not
// detected again, and a detector decides at the edge of another detection as
// it will once that detection is masked. Masking JSON text gives JSON text.
//
// The detectors and their limits are described on the Kind constants.
package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"sync"
)

// Kind is a class of sensitive value.
type Kind uint8

// The kinds of value a Redactor detects.
const (
	// Email is an address local@domain.tld (also with the "@" written as
	// "%40"). The local part is the common subset [A-Za-z0-9._%+-]; the domain
	// needs at least two labels and an alphabetic top-level label. In a URL,
	// "user:password@host.tld" is masked from the password on.
	Email Kind = iota + 1
	// Phone is a telephone number: "+" and 8–15 digits in any grouping
	// (E.164 as written by people), or a national number of 9–12 digits in at
	// least three groups separated consistently by spaces or dashes (dots only
	// as 3-3-4), and never shaped like a date (2026-11-30 10) or an SSN. A run of digits without separators or "+" is a phone number
	// only as the value of a field named like one (phone, mobile, tel, msisdn,
	// fax), because otherwise it is indistinguishable from an id or a
	// timestamp.
	Phone
	// Card is a payment card number: 13–19 digits, contiguous or grouped as
	// printed (4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4) with spaces or dashes, that
	// passes the Luhn check and starts with a plausible issuer prefix (Visa,
	// Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro, Mir).
	Card
	// IBAN is an international bank account number in upper case,
	// contiguous or in groups of four, whose length matches its country and
	// whose check digits pass mod 97.
	IBAN
	// SSN is a US social security number written AAA-GG-SSSS (dashes or
	// spaces) outside the ranges never issued (area 000, 666, 900–999, group
	// 00, serial 0000).
	SSN
	// JWT is a JSON Web Token (or JWE): base64url parts separated by dots
	// whose first part decodes to a JSON object with an "alg" member.
	JWT
	// Bearer is the credential after "Bearer " in an Authorization header or
	// anywhere in text. The word "Bearer" itself is kept.
	Bearer
	// APIKey is a key with a known shape: Rampart's own
	// "rk_<16 base32>_<43 base64url>" and the published prefixes of common
	// providers (Stripe sk_live_/rk_live_/whsec_, GitHub ghp_/gho_/ghu_/ghs_/
	// ghr_/github_pat_, GitLab glpat-, Slack xox[abeprs]-, AWS AKIA/ASIA,
	// Google AIza, OpenAI/Anthropic sk-, npm_, pypi-, Hugging Face hf_,
	// Shopify shp*_, DigitalOcean dop_v1_, SendGrid SG.).
	APIKey
	// Secret is a token that looks random, and PEM private key blocks. A
	// token is a run of at least 32 characters of [A-Za-z0-9+/_-] (and "="
	// padding). If it is hex in one case, it is a secret when it has both
	// digits and letters and a Shannon entropy of at least 3.0 bits per
	// character (random hex has 3.5–3.9). Otherwise it must have upper case,
	// lower case and digits, change between those classes at 41% or more of
	// adjacent letters and digits (random base64: 65%; camelCase and
	// snake_case identifiers: 20–40%) and have an entropy of at least 3.9
	// bits per character. Paths (a run that starts with "/" or has a
	// lower-case word between slashes) are judged segment by segment. The
	// value of a field named like a digest or an id (digest, sha256,
	// checksum, etag, integrity, commit, request_id, trace_id, ...) and
	// "sha256-..." integrity values are not secrets. UUIDs fail the class
	// rule, and 24-hex request ids are too short. TestEntropyThresholds has
	// the miss rates on random keys.
	Secret
	// Credential is the value of a field whose name says it holds one:
	// JSON members (also in JSON inside a JSON string) and form, query or
	// logfmt parameters named password, passwd, secret, token, api_key,
	// authorization, client_secret, access_token, *_token, *password*,
	// *secret* and the like (see credentialKey), in any case, with - _ .
	// or camelCase; and the credential after "Basic " in an Authorization
	// header. A JSON number value is replaced by a quoted mask.
	Credential

	kindEnd // one past the last kind, for tables indexed by Kind
)

var kindNames = [kindEnd]string{
	Email: "email", Phone: "phone", Card: "card", IBAN: "iban", SSN: "ssn", JWT: "jwt",
	Bearer: "bearer", APIKey: "api_key", Secret: "secret", Credential: "credential",
}

// String returns the kind's name as it appears in masks and config
// ("email", "card", "api_key", ...).
func (k Kind) String() string {
	if k > 0 && k < kindEnd {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind returns the kind named name (as Kind.String spells it).
func ParseKind(name string) (Kind, error) {
	for k := Kind(1); k < kindEnd; k++ {
		if kindNames[k] == name {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown redaction kind %q", name)
}

// AllKinds returns every kind, in order.
func AllKinds() []Kind {
	ks := make([]Kind, 0, kindEnd-1)
	for k := Kind(1); k < kindEnd; k++ {
		ks = append(ks, k)
	}
	return ks
}

// Style is how a detected value is masked.
type Style uint8

// Masking styles.
const (
	// Full replaces the value with "[REDACTED:<kind>]".
	Full Style = iota
	// LastFour replaces the value with "****" and its last four digits (or
	// characters, for IBANs), as receipts print cards. Only Card, Phone,
	// IBAN and SSN can be masked this way: the end of a token or key is
	// part of the secret.
	LastFour
	// Hash replaces the value with "[<kind>:<12 hex>]", the first 48 bits of
	// HMAC-SHA256(HashKey, kind || 0 || normalized value). Operators can see
	// that two lines carry the same card or address without seeing it; the
	// key keeps small value spaces (phone numbers, SSNs) from being brute
	// forced from the log. Values are normalized first (digits only for
	// numbers, upper case for IBANs, lower case for e-mail addresses) so that
	// one value written two ways hashes the same.
	Hash

	styleEnd
)

var styleNames = [styleEnd]string{Full: "full", LastFour: "last4", Hash: "hash"}

// String returns the style's config name: "full", "last4" or "hash".
func (s Style) String() string {
	if s < styleEnd {
		return styleNames[s]
	}
	return fmt.Sprintf("Style(%d)", uint8(s))
}

// ParseStyle returns the style named name (as Style.String spells it).
func ParseStyle(name string) (Style, error) {
	for s := Style(0); s < styleEnd; s++ {
		if styleNames[s] == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown redaction style %q (want full, last4 or hash)", name)
}

// lastFourKinds are the kinds whose last four characters may be shown.
func lastFourOK(k Kind) bool { return k == Card || k == Phone || k == IBAN || k == SSN }

// MinHashKey is the shortest HashKey New accepts.
const MinHashKey = 16

// Options configure a Redactor. The zero value detects every kind and masks
// it fully.
type Options struct {
	// Kinds are the detectors to run; empty means all.
	Kinds []Kind
	// Style masks every kind not in Styles. A default of LastFour applies
	// to the kinds that allow it; the others are masked Full.
	Style Style
	// Styles overrides Style for single kinds.
	Styles map[Kind]Style
	// HashKey keys the Hash style. It is required, at least MinHashKey
	// bytes, when any kind is hashed, and should come from the secret store:
	// whoever has it can test guesses against hashed values.
	HashKey []byte
}

// Redactor detects and masks sensitive values. It is safe for concurrent use.
type Redactor struct {
	on     [kindEnd]bool
	starts [256]uint8 // see startTable
	style  [kindEnd]Style
	key    []byte
	macs   sync.Pool // *macState keyed with key, so hashing a value does not allocate a new HMAC
}

// Finding is one detected value: s[Start:End] is of kind Kind.
type Finding struct {
	Kind       Kind
	Start, End int
}

// New returns a Redactor for o, or an error naming what is wrong with o.
func New(o Options) (*Redactor, error) {
	r := &Redactor{}
	if len(o.Kinds) == 0 {
		for k := Kind(1); k < kindEnd; k++ {
			r.on[k] = true
		}
	}
	for _, k := range o.Kinds {
		if k == 0 || k >= kindEnd {
			return nil, fmt.Errorf("redact: unknown kind %d", k)
		}
		r.on[k] = true
	}
	r.starts = startTable(&r.on)
	if o.Style >= styleEnd {
		return nil, fmt.Errorf("redact: unknown style %d", o.Style)
	}
	for k := Kind(1); k < kindEnd; k++ {
		r.style[k] = o.Style
		if o.Style == LastFour && !lastFourOK(k) {
			r.style[k] = Full
		}
	}
	// Sorted so that the error for several bad entries is always the same.
	keys := make([]Kind, 0, len(o.Styles))
	for k := range o.Styles {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		st := o.Styles[k]
		switch {
		case k == 0 || k >= kindEnd:
			return nil, fmt.Errorf("redact: style for unknown kind %d", k)
		case st >= styleEnd:
			return nil, fmt.Errorf("redact: unknown style %d for %s", st, k)
		case st == LastFour && !lastFourOK(k):
			return nil, fmt.Errorf("redact: style last4 is not allowed for %s: its last characters are part of the secret (only card, phone, iban and ssn)", k)
		}
		r.style[k] = st
	}
	hashed := false
	for k := Kind(1); k < kindEnd; k++ {
		hashed = hashed || (r.on[k] && r.style[k] == Hash)
	}
	if hashed {
		if len(o.HashKey) < MinHashKey {
			return nil, fmt.Errorf("redact: style hash needs a HashKey of at least %d bytes, got %d", MinHashKey, len(o.HashKey))
		}
		r.key = slices.Clone(o.HashKey)
		r.macs.New = func() any { return &macState{h: hmac.New(sha256.New, r.key)} }
	}
	return r, nil
}

// String returns s with every detected value masked. When nothing is
// detected it returns s itself and does not allocate.
func (r *Redactor) String(s string) string {
	var buf [16]span
	spans := r.find(buf[:0], s, "")
	if len(spans) == 0 {
		return s
	}
	return string(r.appendMasked(make([]byte, 0, len(s)+16*len(spans)), s, spans))
}

// Append appends s, with every detected value masked, to dst.
func (r *Redactor) Append(dst []byte, s string) []byte {
	var buf [16]span
	return r.appendMasked(dst, s, r.find(buf[:0], s, ""))
}

// Findings returns the values detected in s, in order and not overlapping
// (values that overlap are reported, and masked, as one). It returns nil when
// there are none.
func (r *Redactor) Findings(s string) []Finding {
	var buf [16]span
	spans := r.find(buf[:0], s, "")
	if len(spans) == 0 {
		return nil
	}
	fs := make([]Finding, len(spans))
	for i, sp := range spans {
		fs[i] = Finding{Kind: sp.kind, Start: sp.start, End: sp.end}
	}
	return fs
}

// Field returns value, masked, as the value of the field named key. It is
// String with the field's name as context: the whole value of a field named
// like a credential (password, token, authorization, ...) is masked as a
// Credential; hex and base64 values of fields named like digests or request
// ids (digest, sha256, etag, request_id, ...) are not taken for secrets; and a
// bare run of digits in a field named like a phone number is one.
//
// Its signature is logging.Redactor's, so r.Field plugs into the access log
// and the slog loggers as they are.
func (r *Redactor) Field(key, value string) string {
	if value == "" {
		return value
	}
	if r.on[Credential] && credentialKey(key) {
		if isPlaceholder(value) {
			return value
		}
		return string(r.appendMask(nil, value, span{kind: Credential, start: 0, end: len(value)}))
	}
	var buf [16]span
	spans := r.find(buf[:0], value, key)
	if len(spans) == 0 {
		return value
	}
	return string(r.appendMasked(make([]byte, 0, len(value)+16*len(spans)), value, spans))
}

// appendMasked appends s to dst with the spans (sorted, disjoint) masked.
func (r *Redactor) appendMasked(dst []byte, s string, spans []span) []byte {
	last := 0
	for _, sp := range spans {
		dst = append(dst, s[last:sp.start]...)
		dst = r.appendMask(dst, s[sp.start:sp.end], sp)
		last = sp.end
	}
	return append(dst, s[last:]...)
}

// appendMask appends the mask for value v, found as sp.
func (r *Redactor) appendMask(dst []byte, v string, sp span) []byte {
	// A credential that was a JSON number is replaced by a string, so the
	// placeholder is quoted to keep the JSON valid.
	switch sp.quote {
	case 1:
		dst = append(dst, '"')
	case 2:
		dst = append(dst, '\\', '"')
	}
	name := kindNames[sp.kind]
	switch r.style[sp.kind] {
	case LastFour:
		dst = append(dst, "****"...)
		dst = appendLastFour(dst, v)
	case Hash:
		sum := r.hash(sp.kind, v)
		dst = append(dst, '[')
		dst = append(dst, name...)
		dst = append(dst, ':')
		dst = hex.AppendEncode(dst, sum[:6])
		dst = append(dst, ']')
	default:
		dst = append(dst, "[REDACTED:"...)
		dst = append(dst, name...)
		dst = append(dst, ']')
	}
	switch sp.quote {
	case 1:
		dst = append(dst, '"')
	case 2:
		dst = append(dst, '\\', '"')
	}
	return dst
}

// appendLastFour appends the last four digits or letters of v (fewer if v
// has fewer).
func appendLastFour(dst []byte, v string) []byte {
	var last [4]byte
	n := 0
	for i := len(v) - 1; i >= 0 && n < 4; i-- {
		if class[v[i]]&cAlnum != 0 {
			n++
			last[4-n] = v[i]
		}
	}
	return append(dst, last[4-n:]...)
}

type macState struct {
	h   hash.Hash
	buf []byte
	sum []byte
}

// hash returns HMAC-SHA256(key, kind || 0 || normalize(v)).
func (r *Redactor) hash(k Kind, v string) (sum [sha256.Size]byte) {
	m := r.macs.Get().(*macState)
	b := append(m.buf[:0], kindNames[k]...)
	b = append(b, 0)
	b = appendNormalized(b, k, v)
	m.h.Reset()
	m.h.Write(b)
	m.sum = m.h.Sum(m.sum[:0])
	copy(sum[:], m.sum)
	if cap(b) <= 4<<10 {
		m.buf = b
	}
	r.macs.Put(m)
	return sum
}

// appendNormalized appends the form of v that is hashed, so that one value
// written two ways ("4111 1111 1111 1111", "4111-1111-1111-1111") gives one
// hash.
func appendNormalized(dst []byte, k Kind, v string) []byte {
	switch k {
	case Card, Phone, SSN:
		for i := 0; i < len(v); i++ {
			if c := v[i]; c >= '0' && c <= '9' {
				dst = append(dst, c)
			}
		}
		return dst
	case IBAN:
		for i := 0; i < len(v); i++ {
			if c := v[i]; c != ' ' {
				dst = append(dst, c)
			}
		}
		return dst
	case Email:
		for i := 0; i < len(v); i++ {
			c := v[i]
			switch {
			case c == '%' && i+2 < len(v) && v[i+1] == '4' && v[i+2] == '0':
				c = '@'
				i += 2
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		return dst
	}
	return append(dst, v...)
}

// isPlaceholder reports whether v is a mask this package writes, so that
// redacting redacted text changes nothing (whatever the style) and a masked
// credential field is not masked again.
func isPlaceholder(v string) bool {
	if len(v) < 3 || v[0] != '[' || v[len(v)-1] != ']' {
		return len(v) == 8 && v[:4] == "****" && allAlnum(v[4:])
	}
	inner := v[1 : len(v)-1]
	name, rest, ok := cut(inner, ':')
	if !ok {
		return false
	}
	if name == "REDACTED" {
		_, err := ParseKind(rest)
		return err == nil
	}
	if _, err := ParseKind(name); err != nil || len(rest) != 12 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func allAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if class[s[i]]&cAlnum == 0 {
			return false
		}
	}
	return s != ""
}
