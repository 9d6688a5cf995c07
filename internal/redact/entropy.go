package redact

import (
	"math"
	"strings"
)

// The high-entropy rule (see isSecret). The thresholds are bits per
// character of Shannon entropy over the token's own character counts; the
// test TestEntropyThresholds measures them against random tokens and
// identifiers.
const (
	// minSecretLen is the shortest token taken for a secret: 32 characters
	// is 128 bits in hex and 192 in base64, the size of real keys, and longer
	// than request ids (24 hex) and the groups of a UUID.
	minSecretLen = 32
	// hexMinEntropy: random hex of 32+ characters scores 3.5–3.9 (the most
	// is 4); hex with long repeats ("deadbeef" over and over) scores less.
	hexMinEntropy = 3.0
	// b64MinEntropy: random base64 of 32 characters scores 4.0–5.0 (4.2
	// or more in 99 tokens of 100), longer ones more; snake_case and
	// kebab-case identifiers score 3.7–4.0. CamelCase identifiers score as
	// high as random text, so the switches rule below tells them apart.
	b64MinEntropy = 3.9
	// b64MinSwitches is the share of adjacent letters and digits (symbols
	// left out) that differ in class: upper, lower, digit. Random base64
	// switches at about 0.65 of positions (0.42 or more in 995 tokens of
	// 1000 of 32 characters); an identifier switches once or twice per
	// word, at 0.2–0.4.
	b64MinSwitches = 0.41
)

// entropyStart reports whether a token for the entropy rule starts at s[i]:
// at the start of a run of the base64 alphabet, or of a segment of a run
// that is a path. (A run that starts at the end of a span is looked at after
// the scan, by edges.)
func (sc *scanner) entropyStart(i int) bool {
	if !sc.r.on[Secret] {
		return false
	}
	if i < sc.pathUntil {
		return sc.s[i-1] == '/' && sc.s[i] != '/'
	}
	return i >= sc.entUntil && (i == 0 || class[sc.s[i-1]]&cEntropy == 0)
}

// mayBeLong reports whether a run of minSecretLen alphabet bytes could
// start at s[i], probing four bytes of it: most words are short, and are
// ruled out without being read to their end. Inside a path the run is
// a segment, and is always read.
func (sc *scanner) mayBeLong(i int) bool {
	s := sc.s
	if i < sc.pathUntil {
		return true
	}
	const l = minSecretLen
	return i+l <= len(s) && class[s[i+l-1]]&cEntropy != 0 && class[s[i+3*l/4-1]]&cEntropy != 0 &&
		class[s[i+l/2-1]]&cEntropy != 0 && class[s[i+l/4-1]]&cEntropy != 0
}

// entropy applies the high-entropy rule to the run of the base64 alphabet at
// s[i], or to the path segment there, and returns the end of the run if it
// masked it whole, or i.
func (sc *scanner) entropy(i int) int {
	s := sc.s
	// The word first, then the rest of the run: the main loop skips the
	// word without reading it again.
	j := skipAlnum(s, i)
	sc.wordEnd = j
	if i < sc.pathUntil {
		for j < sc.pathUntil && s[j] != '/' {
			j++
		}
		sc.entUntil = j
		return sc.segment(i, j)
	}
	for j < len(s) && class[s[j]]&cEntropy != 0 {
		j++
	}
	sc.entUntil = j
	return sc.entropyRun(i, j, sc.lastEnd, true)
}

// entropyRun applies the high-entropy rule to the run s[i:j] of the base64
// alphabet and returns the end of the run if it masked it whole, or i.
// limit is where the spans before the run end: a field name before it (see
// digestKey) counts only if it starts there or later, and a run that starts
// at a span's end (i == limit) has no name, as the mask will stand between.
// When the run is a path, its segments are looked at one by one: now if
// inline, else as the scan reaches them (so that spans are found in the
// order of the text, and whatever the scan finds before a segment, such as a
// phone number in an earlier one, is not skipped).
func (sc *scanner) entropyRun(i, j, limit int, deferSegments bool) int {
	s := sc.s
	if j-i < minSecretLen {
		return i
	}
	tok := s[i:j]
	if digestPrefix(tok) || i != limit && digestKey(sc.keyBefore(i, limit)) {
		return i
	}
	path := strings.IndexByte(tok, '/') >= 0
	if !path || !pathLike(tok) {
		if isSecret(tok) {
			end := padEnd(s, j)
			sc.add(span{start: i, end: end, kind: Secret})
			return end
		}
		return i
	}
	// A secret in a path or a base64 run with slashes: "/download/<token>".
	sc.runEnd = j
	if deferSegments {
		sc.pathUntil = j
		a := i
		for a < j && s[a] != '/' {
			a++
		}
		sc.segment(i, a)
		return i
	}
	for a := i; a < j; {
		b := a
		for b < j && s[b] != '/' {
			b++
		}
		sc.segment(a, b)
		a = b + 1
	}
	return i
}

// segment applies the high-entropy rule to the path segment s[i:j] and
// returns its end if it masked it, or i.
func (sc *scanner) segment(i, j int) int {
	if j-i < minSecretLen || !isSecret(sc.s[i:j]) {
		return i
	}
	end := j
	if j == sc.runEnd {
		end = padEnd(sc.s, j)
	}
	sc.add(span{start: i, end: end, kind: Secret})
	return end
}

// padEnd returns the end of the base64 padding ("=" or "==") at s[j].
func padEnd(s string, j int) int {
	e := j
	for e < len(s) && e-j < 2 && s[e] == '=' {
		e++
	}
	return e
}

// edges applies the high-entropy rule to the runs that touch the spans
// (sorted, disjoint), cut at the spans: the runs as they will be once the
// spans are masked. The main pass sees a run whole, before knowing that a
// number or an e-mail address inside it will be masked, and
// "/+10000000+0010000000A20B7CX..." must mask the token after the phone
// number now, not only when the masked text is masked again.
func (sc *scanner) edges(spans []span) {
	s := sc.s
	prevEnd := -1 // as in the main pass: a run at 0 may be Field's value
	for k, sp := range spans {
		// The run that ends where the span starts, unless it starts at the
		// previous span, where it was looked at as that span's right edge.
		if a := sp.start; a > 0 && a > prevEnd && class[s[a-1]]&cEntropy != 0 {
			b := a - 1
			for b > max(prevEnd, 0) && class[s[b-1]]&cEntropy != 0 {
				b--
			}
			if b != prevEnd {
				sc.entropyRun(b, a, prevEnd, false)
			}
		}
		next := len(s)
		if k+1 < len(spans) {
			next = spans[k+1].start
		}
		if e := sp.end; e < next && class[s[e]]&cEntropy != 0 {
			c := e + 1
			for c < next && class[s[c]]&cEntropy != 0 {
				c++
			}
			sc.entropyRun(e, c, e, false)
		}
		prevEnd = sp.end
	}
}

// pathLike reports whether a token with slashes is a path rather than
// base64: it starts with '/' or has a segment that is a lower-case word of
// three or more letters ("org/example/Handler2", "api/v1/...").
func pathLike(tok string) bool {
	if tok[0] == '/' {
		return true
	}
	for seg := range strings.SplitSeq(tok, "/") {
		if len(seg) < 3 {
			continue
		}
		word := true
		for i := 0; i < len(seg) && word; i++ {
			word = class[seg[i]]&cLower != 0
		}
		if word {
			return true
		}
	}
	return false
}

// isSecret is the high-entropy rule, for a token of at least minSecretLen
// characters of [A-Za-z0-9+/_-]:
//
//   - hex (digits and a–f, in one case): it has both digits and letters and
//     an entropy of at least hexMinEntropy. Digests and ids in fields named
//     for them were excluded before (digestKey), UUIDs never get here (their
//     groups are joined by '-', which makes them not hex, and they have no
//     upper case), and 24-hex request ids are too short;
//   - anything else: it has upper case, lower case and digits, switches
//     character class at b64MinSwitches of its positions or more, and has
//     an entropy of at least b64MinEntropy. Words and paths miss a class,
//     identifiers miss the switches, repetitive text misses the entropy.
func isSecret(tok string) bool {
	var counts [128]int32
	var seen uint16
	hex := true
	switches, alnum, last := 0, 0, uint16(0)
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		counts[c&0x7f]++
		cl := class[c]
		seen |= cl
		hex = hex && cl&cHex != 0
		// Symbols are left out: in identifiers they separate words, and
		// would count as switches twice each.
		if k := cl & (cUpper | cLower | cDigit); k != 0 {
			if alnum > 0 && k != last {
				switches++
			}
			alnum++
			last = k
		}
	}
	if hex && (seen&cUpper == 0 || seen&cLower == 0) {
		return seen&cDigit != 0 && seen&cAlpha != 0 && shannon(&counts, len(tok)) >= hexMinEntropy
	}
	if seen&cUpper == 0 || seen&cLower == 0 || seen&cDigit == 0 ||
		float64(switches) < b64MinSwitches*float64(alnum-1) {
		return false
	}
	return shannon(&counts, len(tok)) >= b64MinEntropy
}

// shannon returns the entropy in bits per character of a text of n
// characters with the given counts.
func shannon(counts *[128]int32, n int) float64 {
	var sum float64
	for _, c := range counts {
		if c > 0 {
			f := float64(c)
			sum += f * math.Log2(f)
		}
	}
	fn := float64(n)
	return math.Log2(fn) - sum/fn
}
