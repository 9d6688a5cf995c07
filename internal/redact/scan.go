package redact

// Character classes, one table lookup per byte. Every detector's alphabet is
// a union of these bits.
const (
	cLower uint16 = 1 << iota
	cUpper
	cDigit
	cUnderscore
	cHyphen
	cPlus
	cSlash
	cDot
	cTilde
	cHex     // 0-9 a-f A-F
	cTrigger // a byte the main loop acts on: '"', '=', '@', '%', '+', '(', '-'

	cAlpha   = cLower | cUpper
	cAlnum   = cAlpha | cDigit
	cB64URL  = cAlnum | cUnderscore | cHyphen
	cEntropy = cB64URL | cPlus | cSlash                 // base64, base64url and hex
	cToken68 = cB64URL | cDot | cTilde | cPlus | cSlash // RFC 9110 token68, without the "=" padding
	cKey     = cAlnum | cUnderscore | cHyphen | cDot    // field and parameter names
)

var class = func() (t [256]uint16) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= cLower
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] |= cUpper
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= cDigit | cHex
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] |= cHex
		t[c-'a'+'A'] |= cHex
	}
	t['_'] |= cUnderscore
	t['-'] |= cHyphen
	t['+'] |= cPlus
	t['/'] |= cSlash
	t['.'] |= cDot
	t['~'] |= cTilde
	for _, c := range []byte(`"=@%+(-`) {
		t[c] |= cTrigger
	}
	return t
}()

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return class[c]&cAlnum != 0 }

// span is one detection in the text being scanned.
type span struct {
	start, end int
	kind       Kind
	// quote wraps the mask in quotes: 1 in '"', 2 in '\"'. A credential that
	// was a JSON number becomes a string, and JSON stays JSON.
	quote uint8
}

// scanner is the state of one pass over s.
type scanner struct {
	r *Redactor
	s string
	// field is the name of the field s is the value of (Field), or "".
	field string
	// The spans found: the first in buf, the rest (rare) in more. A slice
	// field appended to through *scanner would make every caller's buffer
	// escape to the heap, and a clean line must not allocate.
	buf  [16]span
	n    int
	more []span
	// sorted is false once a detector has added a span that starts before
	// an earlier one (an e-mail's local part is found looking back from "@").
	sorted bool
	// num is scratch space for the number scanner, here so that it is
	// zeroed once per pass rather than once per number.
	num numTok
	// Numbers and entropy tokens are scanned once per maximal run: a run
	// that failed is not tried again from inside, which keeps the pass linear
	// and is the rule that a phone number or card inside a longer run of
	// digits is not one.
	numUntil, entUntil int
	// lastEnd is the end of the last span (see before).
	lastEnd int
	// pathUntil is the end of the path whose segments the entropy rule is
	// looking at one by one; runEnd is the end of the run being looked at,
	// where padding may follow.
	pathUntil, runEnd int
	// wordEnd is the end of the alphanumeric word at which the last
	// entropy scan started.
	wordEnd int
	// inString is whether s[i] is inside a JSON string, counting the
	// unescaped quotes so far (meaningless, and harmless, in text that is
	// not JSON). A number masked outside a string gets a quoted mask.
	inString bool
}

// before returns the byte before s[i] as the detectors see it: 0 at the
// start, and ']' (how a mask ends) right after a span. A span's end is a
// boundary as much as its mask will be, so masking text again finds
// nothing new there: "0-0000-0000+10000000000" must not hide the second
// number behind the first one's last digit and give it up once that digit
// is masked.
func (sc *scanner) before(i int) byte {
	switch i {
	case 0:
		return 0
	case sc.lastEnd:
		return ']'
	}
	return sc.s[i-1]
}

func (sc *scanner) add(sp span) {
	if sc.n > 0 && sp.start < sc.lastStart() {
		sc.sorted = false
	}
	if sc.n < len(sc.buf) {
		sc.buf[sc.n] = sp
	} else {
		sc.more = append(sc.more, sp)
	}
	sc.n++
	if sp.end > sc.lastEnd {
		sc.lastEnd = sp.end
	}
}

func (sc *scanner) lastStart() int {
	if sc.n > len(sc.buf) {
		return sc.more[len(sc.more)-1].start
	}
	return sc.buf[sc.n-1].start
}

// find appends to dst (which must be empty; it is the caller's buffer) the
// spans of s to mask, sorted and disjoint. field is the name s is the value
// of, or "".
func (r *Redactor) find(dst []span, s, field string) []span {
	sc := scanner{r: r, s: s, field: field, sorted: true, lastEnd: -1}
	sc.run()
	if sc.n == 0 {
		return dst
	}
	dst = sc.appendSpans(dst, 0)
	dst = merge(dst, s, sc.sorted)
	if r.on[Secret] {
		k0 := sc.n
		sc.edges(dst)
		if sc.n > k0 {
			dst = merge(sc.appendSpans(dst, k0), s, false)
		}
	}
	return dst
}

// appendSpans appends the spans found from the k-th on to dst.
func (sc *scanner) appendSpans(dst []span, k int) []span {
	if k < len(sc.buf) {
		dst = append(dst, sc.buf[k:min(sc.n, len(sc.buf))]...)
		k = len(sc.buf)
	}
	return append(dst, sc.more[k-len(sc.buf):]...)
}

func (sc *scanner) run() {
	s, r := sc.s, sc.r
	n := len(s)
	for i := 0; i < n; {
		c := s[i]
		cl := class[c]
		if cl&cAlnum != 0 {
			if isAlnum(sc.before(i)) {
				// Inside a word, after a span ended in it: nothing starts here.
				i = skipAlnum(s, i)
				continue
			}
			if m := r.starts[c]; m != 0 && (m != startAPIKey || keyPairAt(s, i)) {
				if end := sc.word(i, m); end > i {
					i = end
					continue
				}
			}
			if sc.entropyStart(i) && sc.mayBeLong(i) {
				if end := sc.entropy(i); end > i {
					i = end
				} else {
					i = sc.wordEnd // the entropy scan read past the word
				}
				continue
			}
			i = skipAlnum(s, i)
			continue
		}
		if cl&(cTrigger|cEntropy) == 0 {
			i++ // white space and punctuation: nothing starts here
			continue
		}
		switch c {
		case '"':
			if i == 0 || s[i-1] != '\\' || !oddBackslashes(s, i) {
				sc.inString = !sc.inString
			}
			// A credential field's value follows its name; looking back
			// from the few '"' and '=' that end a name is cheaper than
			// treating every word as one.
			if r.on[Credential] {
				if end := sc.jsonMember(i); end > i {
					i = end
					continue
				}
			}
		case '=':
			if r.on[Credential] {
				if end := sc.formParam(i); end > i {
					i = end
					continue
				}
			}
		case '@':
			if r.on[Email] {
				if end := sc.email(i, 1); end > i {
					i = end
					continue
				}
			}
		case '%':
			if r.on[Email] && i+2 < n && s[i+1] == '4' && s[i+2] == '0' {
				if end := sc.email(i, 3); end > i {
					i = end
					continue
				}
			}
		case '+', '(':
			if i >= sc.numUntil && !isAlnum(sc.before(i)) {
				if end := sc.number(i); end > i {
					i = end
					continue
				}
			}
		case '-':
			if r.on[Secret] && len(s)-i > 11 && s[i:i+11] == "-----BEGIN " {
				if end := sc.pemKey(i); end > i {
					i = end
					continue
				}
			}
		}
		// A base64 run may begin with '/', '+', '_' or '-'.
		if cl&cEntropy != 0 && sc.entropyStart(i) && sc.mayBeLong(i) {
			if end := sc.entropy(i); end > i {
				i = end
				continue
			}
		}
		i++
	}
}

func skipAlnum(s string, i int) int {
	for i < len(s) && class[s[i]]&cAlnum != 0 {
		i++
	}
	return i
}

// Detectors that start at an alphanumeric byte, as bits of Redactor.starts.
const (
	startAPIKey uint8 = 1 << iota
	startNumber
	startJWT
	startAuth // Bearer, Basic
	startIBAN
)

// startTable returns, for each byte, the enabled detectors that can start
// at it. With it, most words ("time", "level", "orders") are skipped
// without calling into any detector.
func startTable(on *[kindEnd]bool) (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		if on[APIKey] && keyRulesByFirst[b] != 0 {
			t[c] |= startAPIKey
		}
		if isDigit(b) && (on[Card] || on[Phone] || on[SSN]) {
			t[c] |= startNumber
		}
		if b == 'e' && on[JWT] {
			t[c] |= startJWT
		}
		if (b == 'B' || b == 'b') && (on[Bearer] || on[Credential]) {
			t[c] |= startAuth
		}
		if isUpper(b) && on[IBAN] {
			t[c] |= startIBAN
		}
	}
	return t
}

// word runs the detectors in m at s[i], an alphanumeric byte after a
// non-alphanumeric one, and returns the end of what it found, or i.
func (sc *scanner) word(i int, m uint8) int {
	s := sc.s
	if m&startAPIKey != 0 && keyPairAt(s, i) {
		if end := sc.apiKey(i, keyRulesByFirst[s[i]]); end > i {
			return end
		}
	}
	if m&startNumber != 0 && i >= sc.numUntil {
		if end := sc.number(i); end > i {
			return end
		}
	}
	if p := sc.before(i); m&startJWT != 0 && p != '.' && class[p]&cB64URL == 0 {
		if end := sc.jwt(i); end > i {
			return end
		}
	}
	if m&startAuth != 0 {
		if end := sc.authScheme(i); end > i {
			return end
		}
	}
	if m&startIBAN != 0 {
		if end := sc.iban(i); end > i {
			return end
		}
	}
	return i
}

// merge sorts the spans, joins those that overlap (the mask must cover every
// byte any detector claimed) and moves a span that starts right after a JSON
// escape's backslash to include it, so that masking JSON text never leaves a
// dangling "\" before the mask.
func merge(spans []span, s string, sorted bool) []span {
	if !sorted {
		// Insertion sort: the list is short and nearly sorted.
		for i := 1; i < len(spans); i++ {
			for j := i; j > 0 && spans[j].start < spans[j-1].start; j-- {
				spans[j], spans[j-1] = spans[j-1], spans[j]
			}
		}
	}
	out := spans[:0]
	for _, sp := range spans {
		if sp.start > 0 && s[sp.start-1] == '\\' && oddBackslashes(s, sp.start) {
			sp.start--
		}
		if k := len(out) - 1; k >= 0 && sp.start < out[k].end {
			last := &out[k]
			// The first span names the joined one; of two that start
			// together, the longer, or the specific kind over a catch-all
			// (credential, secret).
			if sp.start == last.start && (sp.end > last.end || sp.end == last.end && catchAll(last.kind) && !catchAll(sp.kind)) {
				last.kind = sp.kind
			}
			last.end = max(last.end, sp.end)
			last.quote = max(last.quote, sp.quote)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// jsonNumber reports whether s[start:end] is a JSON number member or
// element: outside a string, after ':', '[' or ',' and before ',', '}', ']'
// or the end. Its mask must be quoted to keep the JSON valid.
func (sc *scanner) jsonNumber(start, end int) bool {
	if sc.inString {
		return false
	}
	s := sc.s
	p := start
	for p > 0 && (s[p-1] == ' ' || s[p-1] == '\t' || s[p-1] == '\n' || s[p-1] == '\r') {
		p--
	}
	if p == 0 || s[p-1] != ':' && s[p-1] != '[' && s[p-1] != ',' {
		return false
	}
	e := skipSpace(s, end)
	return e == len(s) || s[e] == ',' || s[e] == '}' || s[e] == ']'
}

func catchAll(k Kind) bool { return k == Credential || k == Secret }

// oddBackslashes reports whether the run of backslashes ending at s[i-1] is
// odd, i.e. whether s[i] is escaped.
func oddBackslashes(s string, i int) bool {
	n := 0
	for i > 0 && s[i-1] == '\\' {
		n++
		i--
	}
	return n%2 == 1
}
