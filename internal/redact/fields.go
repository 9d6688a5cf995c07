package redact

import (
	"bytes"
	"strings"
)

// maxKey bounds how far back a field name is looked for.
const maxKey = 128

// formParam masks the value after the '=' at s[e] if the name before it is
// a credential's (password=..., in a query, a form body or logfmt). It
// returns the end of the masked value, or e.
func (sc *scanner) formParam(e int) int {
	s := sc.s
	k, anchored := keyStartAnchored(s, e)
	if !anchored || !isAlnum(s[k]) {
		return e
	}
	if k > 0 && !formOpener(s[k-1]) {
		return e
	}
	if !credentialKey(s[k:e]) {
		return e
	}
	return sc.formValue(e, e+1)
}

// jsonMember masks the value of a JSON member whose name ends with the '"'
// at s[q] if the name is a credential's ("password": "..."; also inside a
// JSON string, where it is written \"password\":\"...\"). It returns the
// end of the masked value, or q.
func (sc *scanner) jsonMember(q int) int {
	s := sc.s
	n := len(s)
	c := skipSpace(s, q+1)
	if c >= n || s[c] != ':' {
		return q
	}
	lvl, e := 0, q
	if q > 0 && s[q-1] == '\\' {
		lvl, e = 1, q-1
	}
	k, anchored := keyStartAnchored(s, e)
	if !anchored || k < 1+lvl || s[k-1] != '"' || lvl == 1 && s[k-2] != '\\' {
		return q
	}
	v := skipSpace(s, c+1)
	if v >= n || !credentialKey(s[k:e]) {
		return q
	}
	return sc.jsonValue(q, v, lvl)
}

// keyStartAnchored returns where the field name ending at s[e] starts, and
// whether it has a credentialAnchor pair (false if the name is implausibly
// long). Most names have none, which is found without a second pass over
// the name.
func keyStartAnchored(s string, e int) (int, bool) {
	k := e
	anchored := false
	for k > 0 && class[s[k-1]]&cKey != 0 {
		k--
		if e-k > maxKey {
			return e, false
		}
		if k+1 < e {
			anchored = anchored || anchorPair(s[k], s[k+1])
		}
	}
	return k, anchored
}

// formOpener reports whether a parameter name may start after prev: the
// start of a query or a form, a separator, or the quote of a JSON string
// that holds a query.
func formOpener(prev byte) bool {
	switch prev {
	case '&', '?', ';', ' ', '\t', '\n', '\r', ',', '{', '(', '[', '|', '\'', '"':
		return true
	}
	return false
}

func skipSpace(s string, k int) int {
	for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
		k++
	}
	return k
}

// jsonValue masks the JSON value at s[k] of a credential member; lvl is 1
// when the JSON is itself inside a JSON string (quotes written \"). Strings
// and numbers are masked; true, false, null, objects and arrays are not
// credentials (the strings inside an object are scanned as usual).
func (sc *scanner) jsonValue(i, k, lvl int) int {
	s := sc.s
	switch {
	case lvl == 0 && s[k] == '"', lvl == 1 && s[k] == '\\' && k+1 < len(s) && s[k+1] == '"':
		start := k + 1 + lvl
		end := sc.value(i, start, closeQuote(s, start, lvl), 0)
		if end > i && lvl == 0 {
			// The scan goes on at the closing quote, having skipped the
			// opening one.
			sc.inString = true
		}
		return end
	case isDigit(s[k]) || s[k] == '-':
		// To the next delimiter, not just over the number's characters:
		// what is glued to it in broken JSON is part of the value, and the
		// quoted mask must not make it a member of its own.
		e := k + 1
		for e < len(s) && !jsonDelim(s[e]) {
			e++
		}
		return sc.value(i, k, e, uint8(lvl+1))
	}
	return i
}

func jsonDelim(c byte) bool {
	switch c {
	case ',', '}', ']', '"', '\\', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// formValue masks the parameter value at s[v]: up to the next '&', ';',
// '#', quote, backslash or white space, or a quoted string.
func (sc *scanner) formValue(i, v int) int {
	s := sc.s
	n := len(s)
	if v >= n {
		return i
	}
	if s[v] == '"' {
		return sc.value(i, v+1, closeQuote(s, v+1, 0), 0)
	}
	if s[v] == '\\' && v+1 < n && s[v+1] == '"' {
		return sc.value(i, v+2, closeQuote(s, v+2, 1), 0)
	}
	e := v
	for e < n && !formStop(s[e]) {
		e++
	}
	return sc.value(i, v, e, 0)
}

func formStop(c byte) bool {
	switch c {
	case '&', ';', '#', '"', '\'', '\\', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// value adds s[start:end] as a credential unless it is empty or already a
// mask, and returns its end (or i when nothing was added).
func (sc *scanner) value(i, start, end int, quote uint8) int {
	if end <= start || isPlaceholder(sc.s[start:end]) {
		return i
	}
	sc.add(span{start: start, end: end, kind: Credential, quote: quote})
	return end
}

// closeQuote returns the index where the JSON string whose content starts at
// s[start] ends: its closing '"' (lvl 0) or the '\' of its closing '\"' (lvl
// 1, a JSON string inside a JSON string), or len(s) if it is not closed, so
// a truncated value is masked to the end.
func closeQuote(s string, start, lvl int) int {
	for p := start; p < len(s); p++ {
		if s[p] != '"' {
			continue
		}
		b := 0
		for q := p; q > start && s[q-1] == '\\'; q-- {
			b++
		}
		if lvl == 0 {
			if b%2 == 0 {
				return p
			}
			continue
		}
		switch b % 4 {
		case 1: // \" closes the inner string
			return p - 1
		case 3: // \\\" is a quote inside it
			continue
		default: // a bare quote ends the outer string too
			return p - b
		}
	}
	return len(s)
}

// keyBefore returns the name of the field whose value starts at s[i]
// ("name": "v", name=v, name: v), or "" if s[i] does not start a value. A
// name that overlaps a span (it starts before limit, the end of the spans
// before it) is no name: once masked, it is not there.
func (sc *scanner) keyBefore(i, limit int) string {
	if i == 0 {
		return sc.field
	}
	s := sc.s
	j := i
	if s[j-1] == '"' {
		j--
		if j > 0 && s[j-1] == '\\' {
			j--
		}
	}
	for j > 0 && s[j-1] == ' ' {
		j--
	}
	if j == 0 || s[j-1] != ':' && s[j-1] != '=' {
		return ""
	}
	j--
	for j > 0 && s[j-1] == ' ' {
		j--
	}
	if j > 0 && s[j-1] == '"' {
		j--
		if j > 0 && s[j-1] == '\\' {
			j--
		}
	}
	k := j
	for k > 0 && j-k < 64 && class[s[k-1]]&cKey != 0 {
		k--
	}
	if k < limit {
		return ""
	}
	return s[k:j]
}

// normKey writes key into buf in lower case with '-', '.' and camelCase
// humps turned into '_' (X-Api-Key, apiKey, api.key → x_api_key, api_key,
// api_key). It returns nil if key does not fit.
func normKey(buf *[64]byte, key string) []byte {
	b := buf[:0]
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '-' || c == '.':
			c = '_'
		case isUpper(c):
			if i > 0 && class[key[i-1]]&(cLower|cDigit) != 0 {
				if len(b) == len(buf) {
					return nil
				}
				b = append(b, '_')
			}
			c += 'a' - 'A'
		}
		if len(b) == len(buf) {
			return nil
		}
		b = append(b, c)
	}
	return b
}

// credentialKey reports whether a field named key holds a credential. The
// rule: an exact name from the list below, or a name that contains
// password, passwd, passphrase, passcode or secret, or ends in _token,
// _api_key, _apikey, _signature, _session or _session_id — unless it ends in
// a suffix that makes it metadata about the credential (password_changed_at,
// token_type, secret_count).
func credentialKey(key string) bool {
	if !credentialAnchor(key) {
		return false
	}
	var buf [64]byte
	k := normKey(&buf, key)
	if k == nil {
		// Longer than any real credential name; catch the obvious ones.
		return containsFold(key, "password") || containsFold(key, "secret")
	}
	switch string(k) {
	case "password", "passwd", "pwd", "pw", "pass", "passphrase", "passcode", "secret", "token",
		"api_key", "apikey", "x_api_key", "authorization", "proxy_authorization", "auth",
		"client_secret", "access_token", "refresh_token", "id_token", "auth_token", "bearer",
		"session", "session_id", "sessionid", "cookie", "set_cookie", "private_key", "secret_key",
		"access_key", "credential", "credentials", "otp", "pin", "cvv", "cvc", "cvv2", "signature", "sig":
		return true
	}
	if len(k) < 6 {
		return false
	}
	for _, suf := range metadataSuffixes {
		if bytes.HasSuffix(k, suf) {
			return false
		}
	}
	for _, w := range credentialWords {
		if bytes.Contains(k, w) {
			return true
		}
	}
	for _, suf := range credentialSuffixes {
		if bytes.HasSuffix(k, suf) {
			return true
		}
	}
	return false
}

// credentialAnchor reports whether key contains, in any case, one of the
// letter pairs that every credential name accepted by credentialKey has
// (pa, pw, pi, se, si, to, ke, au, be, co, cr, cv, ot: pass, pwd, pin,
// secret, session, sig, token, key, auth, bearer, cookie, credential, cvv,
// otp). Most field names have none and are rejected with one table lookup
// per byte, before being normalized and matched word by word.
func credentialAnchor(key string) bool {
	for p := 0; p+1 < len(key); p++ {
		if anchorPair(key[p], key[p+1]) {
			return true
		}
	}
	return false
}

func anchorPair(a, b byte) bool {
	pair := uint16(a|0x20)<<8 | uint16(b|0x20)
	return anchorPairs[pair>>6]&(1<<(pair&63)) != 0
}

// anchorPairs is the bit set of credentialAnchor's letter pairs, indexed by
// first<<8 | second.
var anchorPairs = func() (t [1024]uint64) {
	for _, p := range [...]string{"pa", "pw", "pi", "se", "si", "to", "ke", "au", "be", "co", "cr", "cv", "ot"} {
		pair := uint16(p[0])<<8 | uint16(p[1])
		t[pair>>6] |= 1 << (pair & 63)
	}
	return t
}()

// The word lists are []byte because the key is normalized into a byte
// buffer, and converting each word per call would cost more than the match.
var (
	credentialWords    = byteWords("password", "passwd", "passphrase", "passcode", "secret")
	credentialSuffixes = byteWords("_token", "_api_key", "_apikey", "_signature", "_session", "_session_id", "_sessionid", "_pwd")
	metadataSuffixes   = byteWords("_at", "_count", "_type", "_policy", "_length", "_len", "_expires_in", "_expiry", "_ttl", "_required", "_enabled", "_set")
	digestWords        = byteWords("digest", "hash", "checksum", "etag", "integrity", "fingerprint", "commit", "revision",
		"traceparent", "traceid", "spanid", "requestid", "reqid", "correlationid", "sha1", "sha224", "sha256", "sha384",
		"sha512", "md5", "crc")
	phoneWords = byteWords("phone", "mobile", "msisdn", "_tel", "tel_", "fax_", "_fax")
)

func byteWords(ws ...string) [][]byte {
	b := make([][]byte, len(ws))
	for i, w := range ws {
		b[i] = []byte(w)
	}
	return b
}

// digestKey reports whether a field named key holds a digest or an id, whose
// random-looking value is not a secret.
func digestKey(key string) bool {
	if key == "" {
		return false
	}
	var buf [64]byte
	k := normKey(&buf, key)
	if k == nil {
		return false
	}
	// Compare without separators: request_id, requestId, X-Request-ID.
	w := 0
	for _, c := range k {
		if c != '_' {
			k[w] = c
			w++
		}
	}
	k = k[:w]
	switch string(k) {
	case "sha", "rev", "oid", "hash":
		return true
	}
	if len(k) >= 3 && string(k[len(k)-3:]) == "sha" {
		return true
	}
	for _, d := range digestWords {
		if bytes.Contains(k, d) {
			return true
		}
	}
	return false
}

// digestPrefix reports whether tok starts like a Subresource Integrity or
// Docker-style digest ("sha256-...", "sha512-..."), whose ':' or '=' forms
// keyBefore already sees as a field name.
func digestPrefix(tok string) bool {
	for _, p := range [...]string{"sha1-", "sha256-", "sha384-", "sha512-", "md5-"} {
		if strings.HasPrefix(tok, p) {
			return true
		}
	}
	return false
}

// phoneKey reports whether a field named key holds a phone number.
func phoneKey(key string) bool {
	if key == "" {
		return false
	}
	var buf [64]byte
	k := normKey(&buf, key)
	if k == nil {
		return false
	}
	switch string(k) {
	case "tel", "cell", "mob", "fax":
		return true
	}
	for _, w := range phoneWords {
		if bytes.Contains(k, w) {
			return true
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
