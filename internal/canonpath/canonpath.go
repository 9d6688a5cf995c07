// Package canonpath computes the one canonical view of a request path.
//
// Rampart routes, authorizes, inspects and proxies a request using only the
// path returned by Canonical, so no later stage and no upstream can see a
// different path than the one the route's policy was checked against. Most
// gateway authorization bypasses were two views of one path; this package is
// the single place where the view is decided.
//
// The rules, applied to the escaped path exactly as the client sent it (the
// part of the request-target before '?'):
//
//  1. The path must start with '/'. An empty path, "*" (OPTIONS *) and any
//     other form are refused with "invalid_path".
//  2. Raw bytes: control bytes (below 0x20, and 0x7F) → "control_char"; '\' →
//     "backslash"; '#' → "fragment"; space and '?' → "invalid_path". Bytes
//     0x80 and above and the characters " < > [ ] ^ ` { | } (not allowed raw
//     in an RFC 3986 path) are percent-encoded with uppercase hex. The
//     unreserved characters, the sub-delimiters ! $ & ' ( ) * + , ; = and
//     ':' '@' stay raw.
//  3. Percent escapes: a '%' not followed by two hex digits → "invalid_escape".
//     Escapes of unreserved characters (ALPHA DIGIT - . _ ~) are decoded
//     (%41 → A, %2e → .). %2F → "encoded_slash"; %5C → "encoded_backslash";
//     an escaped control byte (%00–%1F, %7F) → "control_char"; %23 →
//     "fragment"; %25 followed by two hex digits (after decoding unreserved
//     escapes, so %25%32%65 counts) → "double_encoding". Every other escape
//     is kept, with its hex digits uppercased (%3a → %3A).
//  4. Segments: empty segments are dropped (// becomes /); "." segments are
//     removed and ".." removes the previous segment (RFC 3986 §5.2.4), both
//     recognised after rule 3, so %2e%2e is "..". A ".." that would climb
//     above the root → "traversal". A segment that is "." or ".." followed by
//     a parameter (";" or %3B, as in "..;/" or ".;x") → "traversal", because
//     servlet containers strip the parameter and then treat it as a dot
//     segment. A trailing slash is kept ("/a/b/" stays "/a/b/"), and a final
//     dot segment leaves one ("/a/." → "/a/", "/a/.." → "/").
//  5. Case is preserved.
//
// The whole input is validated, including segments that a later ".." removes.
// A path containing ';' or %3B is not an error here; Canonical reports it so
// the router can refuse it on routes that do not allow matrix parameters.
package canonpath

// Reason codes carried by *Error. They are stable: events and metrics use them.
const (
	ReasonInvalidPath      = "invalid_path"
	ReasonControlChar      = "control_char"
	ReasonBackslash        = "backslash"
	ReasonFragment         = "fragment"
	ReasonInvalidEscape    = "invalid_escape"
	ReasonEncodedSlash     = "encoded_slash"
	ReasonEncodedBackslash = "encoded_backslash"
	ReasonDoubleEncoding   = "double_encoding"
	ReasonTraversal        = "traversal"
)

// Error is a refused path. Reason is one of the Reason* constants; the
// offending input is deliberately not included.
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "canonical path: " + e.Reason }

// One value per reason, so the reject path does not allocate. They are
// unexported so nothing can replace them.
var (
	errInvalidPath      = &Error{Reason: ReasonInvalidPath}
	errControlChar      = &Error{Reason: ReasonControlChar}
	errBackslash        = &Error{Reason: ReasonBackslash}
	errFragment         = &Error{Reason: ReasonFragment}
	errInvalidEscape    = &Error{Reason: ReasonInvalidEscape}
	errEncodedSlash     = &Error{Reason: ReasonEncodedSlash}
	errEncodedBackslash = &Error{Reason: ReasonEncodedBackslash}
	errDoubleEncoding   = &Error{Reason: ReasonDoubleEncoding}
	errTraversal        = &Error{Reason: ReasonTraversal}
)

// Canonical returns the canonical escaped form of raw, whether it contains a
// semicolon (raw ';' or %3B), or an *Error naming the rule that refused it.
// When raw is already canonical, raw itself is returned without allocating.
func Canonical(raw string) (canon string, semicolon bool, err error) {
	if raw == "" || raw[0] != '/' {
		return "", false, errInvalidPath
	}
	if semicolon, ok := fastClean(raw); ok {
		return raw, semicolon, nil
	}
	return slow(raw)
}

// fastClean reports whether raw is already canonical, looking at each byte
// once. It may say no for a canonical path (slow then decides); it never
// says yes for a path slow would change or refuse.
func fastClean(raw string) (semicolon, ok bool) {
	seg := 1 // start of the current segment
	for i := 1; i < len(raw); i++ {
		c := raw[i]
		if isPlain(c) {
			continue
		}
		switch c {
		case '.':
		case ';':
			semicolon = true
		case '/':
			if i == seg || isDotLike(raw[seg:i]) {
				return false, false
			}
			seg = i + 1
		case '%':
			if i+2 >= len(raw) || !isUpperHex(raw[i+1]) || !isUpperHex(raw[i+2]) {
				return false, false
			}
			switch d := unhex(raw[i+1])<<4 | unhex(raw[i+2]); {
			case isUnreserved(d), d == '/', d == '\\', d < 0x20, d == 0x7f, d == '#':
				return false, false
			case d == '%':
				if i+4 < len(raw) && isHex(raw[i+3]) && isHex(raw[i+4]) {
					return false, false
				}
			case d == ';':
				semicolon = true
			}
			i += 2
		default:
			return false, false
		}
	}
	if seg < len(raw) && isDotLike(raw[seg:]) {
		return false, false
	}
	return semicolon, true
}

// isDotLike reports a raw segment that is, or may decode to, a dot segment
// with or without a parameter; slow sorts these out.
func isDotLike(seg string) bool {
	if seg[0] != '.' {
		return false
	}
	seg = seg[1:]
	if seg != "" && seg[0] == '.' {
		seg = seg[1:]
	}
	return seg == "" || seg[0] == ';' || seg[0] == '%'
}

// slow validates raw fully and builds its canonical form.
func slow(raw string) (canon string, semicolon bool, err error) {
	clean := true
	depth := 0 // segments kept so far, to detect ".." above the root
	size := 0  // upper bound of the output length
	for start := 1; start <= len(raw); {
		end := indexSlash(raw, start)
		seg := raw[start:end]
		info, err := scanSegment(seg)
		if err != nil {
			return "", false, err
		}
		semicolon = semicolon || info.semicolon
		size += 1 + info.size
		switch {
		case seg == "":
			if end != len(raw) {
				clean = false // "//"
			}
		case info.dots == 1:
			clean = false
		case info.dots == 2:
			if depth == 0 {
				return "", false, errTraversal
			}
			depth--
			clean = false
		default:
			depth++
			clean = clean && !info.changed
		}
		start = end + 1
	}
	if clean {
		return raw, semicolon, nil
	}
	// The semicolon flag is recomputed because ".." may have removed the
	// segment that had one.
	// Two allocations (buffer and string) on the rare rewritten path; no
	// unsafe aliasing in the security core.
	buf := build(raw, size)
	return string(buf), hasSemicolon(buf), nil
}

// build writes the canonical form of raw, which slow has fully validated,
// into one buffer of capacity size.
func build(raw string, size int) []byte {
	buf := make([]byte, 0, size)
	trailing := false
	for start := 1; start <= len(raw); {
		end := indexSlash(raw, start)
		seg := raw[start:end]
		start = end + 1
		trailing = true
		if seg == "" {
			continue
		}
		switch dots(seg) {
		case 1:
			continue
		case 2:
			// slow proved a previous segment exists. Segments never hold a
			// raw '/', so the last one starts at the last '/'.
			buf = buf[:lastSlash(buf)]
			continue
		}
		trailing = false
		buf = append(buf, '/')
		buf = appendSegment(buf, seg)
	}
	if trailing || len(buf) == 0 {
		buf = append(buf, '/')
	}
	return buf
}

// segInfo describes one raw segment after validation.
type segInfo struct {
	size      int  // length of the canonical segment
	changed   bool // canonical form differs from the raw bytes
	semicolon bool // contains ';' or %3B
	dots      int  // 1 for ".", 2 for "..", 0 otherwise (after decoding)
}

// scanSegment validates one segment (the bytes between two raw slashes).
func scanSegment(s string) (segInfo, error) {
	var info segInfo
	leadingDots := 0 // '.' units before anything else
	onlyDots := true
	for i := 0; i < len(s); {
		if isPlain(s[i]) {
			if !info.semicolon {
				onlyDots = false
			}
			info.size++
			i++
			continue
		}
		c, width, escaped, err := unit(s, i)
		if err != nil {
			return info, err
		}
		out := 1
		if escaped {
			switch {
			case isUnreserved(c):
				info.changed = true
			case c == '/':
				return info, errEncodedSlash
			case c == '\\':
				return info, errEncodedBackslash
			case c < 0x20 || c == 0x7f:
				return info, errControlChar
			case c == '#':
				return info, errFragment
			case c == '%' && doubleEncoded(s, i+width):
				return info, errDoubleEncoding
			default:
				out = 3
				if isLowerHex(s[i+1]) || isLowerHex(s[i+2]) {
					info.changed = true
				}
			}
		} else {
			switch {
			case c < 0x20 || c == 0x7f:
				return info, errControlChar
			case c == '\\':
				return info, errBackslash
			case c == '#':
				return info, errFragment
			case c == ' ' || c == '?':
				return info, errInvalidPath
			case mustEncode(c):
				out = 3
				info.changed = true
			}
		}
		switch {
		case info.semicolon:
		case c == ';':
			// "..;x" is ".." to a servlet container, which drops the
			// parameter before resolving dot segments.
			if onlyDots && (leadingDots == 1 || leadingDots == 2) {
				return info, errTraversal
			}
			info.semicolon = true
		case c == '.' && onlyDots:
			leadingDots++
		default:
			onlyDots = false
		}
		info.size += out
		i += width
	}
	if onlyDots && !info.semicolon && (leadingDots == 1 || leadingDots == 2) {
		info.dots = leadingDots
	}
	return info, nil
}

// appendSegment appends the canonical form of a validated segment.
func appendSegment(buf []byte, s string) []byte {
	for i := 0; i < len(s); {
		if isPlain(s[i]) {
			buf = append(buf, s[i])
			i++
			continue
		}
		c, width, escaped, _ := unit(s, i)
		switch {
		case escaped && isUnreserved(c):
			buf = append(buf, c)
		case escaped || mustEncode(c):
			buf = append(buf, '%', upperHex[c>>4], upperHex[c&15])
		default:
			buf = append(buf, c)
		}
		i += width
	}
	return buf
}

// dots reports whether a validated segment is "." (1) or ".." (2) after
// decoding.
func dots(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c, width, _, _ := unit(s, i)
		if c != '.' || n == 2 {
			return 0
		}
		n++
		i += width
	}
	return n
}

// unit decodes the character at s[i]: a raw byte (width 1) or a percent
// escape (width 3).
func unit(s string, i int) (c byte, width int, escaped bool, err error) {
	if s[i] != '%' {
		return s[i], 1, false, nil
	}
	if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
		return 0, 0, false, errInvalidEscape
	}
	return unhex(s[i+1])<<4 | unhex(s[i+2]), 3, true, nil
}

// doubleEncoded reports whether the two units at s[i:] are hex digits, which
// would make a preceding %25 a second layer of encoding.
func doubleEncoded(s string, i int) bool {
	for k := 0; k < 2; k++ {
		if i >= len(s) {
			return false
		}
		c, width, _, err := unit(s, i)
		if err != nil || !isHex(c) {
			return false
		}
		i += width
	}
	return true
}

func hasSemicolon(b []byte) bool {
	for i, c := range b {
		if c == ';' || (c == '%' && i+2 < len(b) && b[i+1] == '3' && b[i+2] == 'B') {
			return true
		}
	}
	return false
}

func indexSlash(s string, from int) int {
	for i := from; i < len(s); i++ {
		if s[i] == '/' {
			return i
		}
	}
	return len(s)
}

func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return 0
}

const upperHex = "0123456789ABCDEF"

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// mustEncode reports raw bytes that are not allowed in an RFC 3986 path but
// are harmless once percent-encoded.
func mustEncode(c byte) bool {
	switch c {
	case '"', '<', '>', '[', ']', '^', '`', '{', '|', '}':
		return true
	}
	return c >= 0x80
}

// isPlain reports bytes that a canonical path carries raw and that need no
// further thought: unreserved except '.', sub-delimiters except ';', ':' and
// '@'. A 256-byte constant lookup is the fastest test on the hot path.
func isPlain(c byte) bool { return plainTable[c] == '1' }

// plainTable has '1' at the index of every byte isPlain accepts.
const plainTable = "" +
	"0000000000000000000000000000000001001011111111001111111111100100" +
	"1111111111111111111111111110000101111111111111111111111111100010" +
	"0000000000000000000000000000000000000000000000000000000000000000" +
	"0000000000000000000000000000000000000000000000000000000000000000"

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isLowerHex(c byte) bool { return 'a' <= c && c <= 'f' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
