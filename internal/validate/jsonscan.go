package validate

import (
	"bytes"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// JSONLimits bounds the shape of a JSON body. A zero field takes its default.
type JSONLimits struct {
	// MaxDepth is the nesting of objects and arrays (default 32).
	MaxDepth int
	// MaxKeys is the number of object keys in the whole document (default 10000).
	MaxKeys int
	// MaxStringLen is the length of one string or key as sent, escapes
	// counted as written, in bytes (default 65536).
	MaxStringLen int
	// MaxNumberLen is the length of one number as sent (default 64).
	MaxNumberLen int
	// MaxArrayLen is the number of elements of one array (default 10000).
	MaxArrayLen int
}

// Defaults of JSONLimits.
const (
	DefaultMaxDepth     = 32
	DefaultMaxKeys      = 10000
	DefaultMaxStringLen = 64 << 10
	DefaultMaxNumberLen = 64
	DefaultMaxArrayLen  = 10000
)

// defaultJSONLimits are the limits of a JSON body that no route bounds.
var defaultJSONLimits = JSONLimits{}.withDefaults()

// withDefaults fills zero fields.
func (l JSONLimits) withDefaults() JSONLimits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxDepth, DefaultMaxDepth)
	def(&l.MaxKeys, DefaultMaxKeys)
	def(&l.MaxStringLen, DefaultMaxStringLen)
	def(&l.MaxNumberLen, DefaultMaxNumberLen)
	def(&l.MaxArrayLen, DefaultMaxArrayLen)
	return l
}

// scanError is a limit or syntax violation found by the scanner, at byte offset off.
type scanError struct {
	reason string
	off    int
	what   string
}

// scanner checks one JSON document in a single pass without building it.
// It is strict where parsers disagree (the parser-differential attacks): it
// refuses duplicate keys (compared after unescaping), invalid UTF-8, lone
// UTF-16 surrogates in escapes, a byte order mark and anything after the
// value. It is reused through scanners to keep the hot path allocation-free.
type scanner struct {
	lim   JSONLimits
	b     []byte
	i     int
	nkeys int
	stack []frame
	// keys are the keys of the open objects, innermost last; a key with
	// escapes is decoded into arena.
	keys  []keyRef
	arena []byte
}

type frame struct {
	object bool
	// n counts the elements of an array.
	n int
	// keyStart and arenaStart are where this object's keys begin.
	keyStart, arenaStart int
	// set replaces the linear duplicate search for large objects.
	set map[string]struct{}
}

type keyRef struct {
	off, n  int
	inArena bool
}

// linearKeys is how many keys an object may have before duplicate detection
// switches from a linear scan to a map.
const linearKeys = 16

var scanners = sync.Pool{New: func() any { return new(scanner) }}

// checkJSON scans b against lim (already defaulted).
func checkJSON(b []byte, lim JSONLimits) *scanError {
	s := scanners.Get().(*scanner)
	s.lim, s.b, s.i, s.nkeys = lim, b, 0, 0
	s.stack, s.keys, s.arena = s.stack[:0], s.keys[:0], s.arena[:0]
	err := s.run()
	for i := range s.stack {
		s.stack[i].set = nil
	}
	s.b = nil
	// A pathological document must not pin a large arena in the pool.
	if cap(s.arena) > 64<<10 || cap(s.keys) > 4096 {
		s.arena, s.keys = nil, nil
	}
	scanners.Put(s)
	return err
}

func (s *scanner) fail(reason, what string) *scanError {
	return &scanError{reason: reason, off: s.i, what: what}
}

func (s *scanner) ws() { s.i = skipWS(s.b, s.i) }

// skipWS returns the offset of the first byte at or after i in b that is
// not JSON whitespace.
func skipWS[S string | []byte](b S, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (s *scanner) run() *scanError {
	s.ws()
	for {
		// A value starts here.
		if s.i >= len(s.b) {
			return s.fail(ReasonJSONSyntax, "unexpected end of input")
		}
		switch c := s.b[s.i]; {
		case c == '{' || c == '[':
			if len(s.stack) >= s.lim.MaxDepth {
				return s.fail(ReasonJSONDepth, "nesting deeper than "+strconv.Itoa(s.lim.MaxDepth))
			}
			s.i++
			s.stack = append(s.stack, frame{object: c == '{', keyStart: len(s.keys), arenaStart: len(s.arena)})
			s.ws()
			if c == '{' {
				if s.i < len(s.b) && s.b[s.i] == '}' {
					s.i++
					s.pop()
					break
				}
				if err := s.key(); err != nil {
					return err
				}
				continue
			}
			if s.i < len(s.b) && s.b[s.i] == ']' {
				s.i++
				s.pop()
				break
			}
			if err := s.element(); err != nil {
				return err
			}
			continue
		case c == '"':
			if _, _, err := s.str(); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if err := s.number(); err != nil {
				return err
			}
		case c == 't':
			if err := s.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := s.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := s.literal("null"); err != nil {
				return err
			}
		default:
			return s.fail(ReasonJSONSyntax, "invalid character")
		}
		// After a value: close containers or move to the next member.
		for {
			s.ws()
			if len(s.stack) == 0 {
				if s.i != len(s.b) {
					return s.fail(ReasonJSONSyntax, "data after the top-level value")
				}
				return nil
			}
			if s.i >= len(s.b) {
				return s.fail(ReasonJSONSyntax, "unexpected end of input")
			}
			top := &s.stack[len(s.stack)-1]
			c := s.b[s.i]
			s.i++
			switch {
			case c == ',' && top.object:
				s.ws()
				if err := s.key(); err != nil {
					return err
				}
			case c == ',':
				s.ws()
				if err := s.element(); err != nil {
					return err
				}
			case c == '}' && top.object, c == ']' && !top.object:
				s.pop()
				continue
			default:
				s.i--
				return s.fail(ReasonJSONSyntax, "expected ',' or end of container")
			}
			break
		}
	}
}

func (s *scanner) pop() {
	f := &s.stack[len(s.stack)-1]
	s.keys = s.keys[:f.keyStart]
	s.arena = s.arena[:f.arenaStart]
	f.set = nil
	s.stack = s.stack[:len(s.stack)-1]
}

// element counts one more element of the innermost array.
func (s *scanner) element() *scanError {
	top := &s.stack[len(s.stack)-1]
	top.n++
	if top.n > s.lim.MaxArrayLen {
		return s.fail(ReasonJSONArrayLength, "array longer than "+strconv.Itoa(s.lim.MaxArrayLen))
	}
	return nil
}

// key reads `"name" :` in the innermost object and checks it is new.
func (s *scanner) key() *scanError {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return s.fail(ReasonJSONSyntax, "expected object key")
	}
	s.nkeys++
	if s.nkeys > s.lim.MaxKeys {
		return s.fail(ReasonJSONKeys, "more than "+strconv.Itoa(s.lim.MaxKeys)+" object keys")
	}
	start := s.i
	end, escaped, err := s.str()
	if err != nil {
		return err
	}
	ref := keyRef{off: start + 1, n: end - start - 2}
	if escaped {
		off := len(s.arena)
		s.arena = unescape(s.arena, s.b[start+1:end-1])
		ref = keyRef{off: off, n: len(s.arena) - off, inArena: true}
	}
	if s.duplicate(ref) {
		s.i = start
		return s.fail(ReasonJSONDuplicateKey, "duplicate object key")
	}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return s.fail(ReasonJSONSyntax, "expected ':'")
	}
	s.i++
	s.ws()
	return nil
}

func (s *scanner) keyBytes(k keyRef) []byte {
	if k.inArena {
		return s.arena[k.off : k.off+k.n]
	}
	return s.b[k.off : k.off+k.n]
}

// duplicate reports whether the innermost object already has k, and records it.
func (s *scanner) duplicate(k keyRef) bool {
	top := &s.stack[len(s.stack)-1]
	kb := s.keyBytes(k)
	if top.set != nil {
		if _, ok := top.set[string(kb)]; ok {
			return true
		}
		top.set[string(kb)] = struct{}{}
		return false
	}
	for _, o := range s.keys[top.keyStart:] {
		if bytes.Equal(s.keyBytes(o), kb) {
			return true
		}
	}
	s.keys = append(s.keys, k)
	if len(s.keys)-top.keyStart > linearKeys {
		top.set = make(map[string]struct{}, 2*linearKeys)
		for _, o := range s.keys[top.keyStart:] {
			top.set[string(s.keyBytes(o))] = struct{}{}
		}
	}
	return false
}

// str scans the string starting at s.i (a '"') and returns the offset just
// past its closing quote and whether it has escapes.
func (s *scanner) str() (end int, escaped bool, err *scanError) {
	start := s.i
	i := s.i + 1
	b := s.b
	for {
		// Fast path over plain ASCII.
		for i < len(b) {
			c := b[i]
			if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				break
			}
			i++
		}
		if i-start-1 > s.lim.MaxStringLen {
			s.i = start
			return 0, false, s.fail(ReasonJSONStringLength, "string longer than "+strconv.Itoa(s.lim.MaxStringLen)+" bytes")
		}
		if i >= len(b) {
			s.i = i
			return 0, false, s.fail(ReasonJSONSyntax, "unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return s.i, escaped, nil
		case c < 0x20:
			s.i = i
			return 0, false, s.fail(ReasonJSONSyntax, "control character in string")
		case c == '\\':
			escaped = true
			n, ok := escapeLen(b[i:])
			if !ok {
				s.i = i
				return 0, false, s.fail(ReasonJSONSyntax, "invalid escape")
			}
			i += n
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				s.i = i
				return 0, false, s.fail(ReasonJSONSyntax, "invalid UTF-8")
			}
			i += n
		}
	}
}

// escapeLen validates the escape at the start of b (b[0] == '\\') and
// returns its length. A \u escape of a UTF-16 surrogate must be a high one
// followed by a low one: parsers handle lone surrogates differently.
func escapeLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
		r, ok := hex4(b[2:])
		if !ok {
			return 0, false
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return 0, false
		case r >= 0xD800 && r <= 0xDBFF:
			if len(b) < 8 || b[6] != '\\' || b[7] != 'u' {
				return 0, false
			}
			lo, ok := hex4(b[8:])
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return 0, false
			}
			return 12, true
		}
		return 6, true
	}
	return 0, false
}

func hex4[S string | []byte](b S) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for i := range 4 {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape appends the decoded form of a string body already validated by str.
func unescape[S string | []byte](dst []byte, src S) []byte {
	for i := 0; i < len(src); {
		c := src[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch src[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(src[i+2:])
			if utf16.IsSurrogate(r) {
				lo, _ := hex4(src[i+8:])
				dst = utf8.AppendRune(dst, utf16.DecodeRune(r, lo))
				i += 12
				continue
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // " \ /
			dst = append(dst, src[i+1])
		}
		i += 2
	}
	return dst
}

// number scans an RFC 8259 number.
func (s *scanner) number() *scanError {
	b, start, i := s.b, s.i, s.i
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		s.i = i
		return s.fail(ReasonJSONSyntax, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			s.i = i
			return s.fail(ReasonJSONSyntax, "invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			s.i = i
			return s.fail(ReasonJSONSyntax, "invalid number")
		}
	}
	if i-start > s.lim.MaxNumberLen {
		return s.fail(ReasonJSONNumberLength, "number longer than "+strconv.Itoa(s.lim.MaxNumberLen))
	}
	s.i = i
	return nil
}

func (s *scanner) literal(lit string) *scanError {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.fail(ReasonJSONSyntax, "invalid literal")
	}
	s.i += len(lit)
	return nil
}
