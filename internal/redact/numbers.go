package redact

// Cards, phone numbers and SSNs share one scanner: a number as people write
// it is groups of digits separated by single spaces, dashes or dots, with an
// optional leading "+" and one parenthesized group. The scanner takes the
// longest such run and the validators judge the run as a whole, so that a
// card or a phone number is never found inside a longer id, a date-time or
// an IP address.

// maxGroups bounds the groups of one number (cards have at most 5, phone
// numbers 6); a longer run is cut there.
const maxGroups = 32

type numTok struct {
	start, end int
	plus       bool
	n          int // groups
	digits     int
	paren      int // index of the parenthesized group, or -1
	glen       [maxGroups]int
	gpos, gend [maxGroups]int  // group k is s[gpos[k]:gend[k]], with its parentheses
	sep        [maxGroups]byte // the separator before group k; 0 for none
}

// scanNumber reads the number starting at s[i] ('+', '(' or a digit) into t.
func scanNumber(s string, i int, t *numTok) {
	n := len(s)
	t.start, t.end, t.plus, t.n, t.digits, t.paren = i, i, false, 0, 0, -1
	j := i
	if s[j] == '+' {
		t.plus = true
		j++
	}
	t.sep[0] = 0
	for t.n < maxGroups {
		g := j
		paren := j < n && s[j] == '(' && t.paren < 0
		if paren {
			j++
		}
		d := j
		for j < n && isDigit(s[j]) {
			j++
		}
		if j == d {
			break
		}
		if paren {
			if j >= n || s[j] != ')' {
				break
			}
			j++
			t.paren = t.n
		}
		t.glen[t.n], t.gpos[t.n], t.gend[t.n] = j-d, g, j
		t.digits += j - d
		t.n++
		t.end = j
		if j+1 >= n || t.n == maxGroups {
			break
		}
		switch c := s[j]; {
		case (c == ' ' || c == '-' || c == '.') && (isDigit(s[j+1]) || s[j+1] == '(' && t.paren < 0):
			t.sep[t.n] = c
			j++
		case paren && isDigit(c): // "(555)123-4567"
			t.sep[t.n] = 0
		default:
			return
		}
	}
}

// numberStartOK reports whether a number may start at s[i]: not inside a
// word, a decimal or version number ("1.4111..."), an id ("ORD-2026-...",
// the groups of a UUID) or after a "+" that was not a phone prefix.
func (sc *scanner) numberStartOK(i int) bool {
	switch p := sc.before(i); {
	case isAlnum(p), p == '_', p == '.', p == '+':
		return false
	case p == '-':
		return i < 2 || !isAlnum(sc.before(i-1))
	}
	return true
}

// numberEndOK reports whether a number may end at s[e]: not followed by a
// letter or digit, directly or after '.', '-' or ':' (a file name, a hex
// group, a time or an IPv6 address). After those separators the first byte
// of a mask ('[' or '*') counts as what it replaced, so that masking what
// follows does not turn the number into one.
func numberEndOK(s string, e int) bool {
	if e == len(s) {
		return true
	}
	c := s[e]
	if isAlnum(c) || c == '_' {
		return false
	}
	if (c == '.' || c == '-' || c == ':') && e+1 < len(s) && (isAlnum(s[e+1]) || s[e+1] == '[' || s[e+1] == '*') {
		return false
	}
	return true
}

// number detects a card, SSN or phone number starting at s[i] and returns
// its end, or i.
func (sc *scanner) number(i int) int {
	s, r := sc.s, sc.r
	if !r.on[Card] && !r.on[Phone] && !r.on[SSN] {
		return i
	}
	if !sc.numberStartOK(i) {
		return i
	}
	if isDigit(s[i]) {
		// Most numbers in a log (a status, a size, a port, an octet) are
		// a few digits not followed by a separator and another digit: done
		// without the full scanner.
		j := i + 1
		for j < len(s) && j-i < 8 && isDigit(s[j]) {
			j++
		}
		if j-i < 8 && (j+1 >= len(s) || !isDigit(s[j+1]) && s[j+1] != '(') {
			return i
		}
	}
	t := &sc.num
	scanNumber(s, i, t)
	if t.n == 0 {
		return i
	}
	sc.numUntil = t.end
	if sc.judge(t) {
		return sc.lastEnd
	}
	return i
}

// judge adds the numbers in the run t and reports whether it found any. The
// run is judged whole first; then, if it is groups separated by spaces,
// card-shaped windows of it, with the groups between them judged as runs of
// their own; and last, if its last group is glued to a word ("0000 0000
// 00 1234+Ab3...", "... 00 1@example.com"), the run without the groups of
// that word. Each step is what the run will look like once its neighbours are
// masked, which keeps masking a fixed point.
func (sc *scanner) judge(t *numTok) bool {
	s := sc.s
	// Fewer than 8 digits is nothing we look for; most numbers in a log
	// (a status, a size, a port, a year) end here.
	if t.digits >= 8 && numberEndOK(s, t.end) && sc.addNumber(t) {
		return true
	}
	if sc.r.on[Card] && sc.spacedCards(t) {
		return true
	}
	if t.end < len(s) && glued(s[t.end]) {
		// The glued word is the groups back to the last space ("0000-0001x"
		// in "+1000 0000-0001x..."): the run ends before it.
		w := t.n - 1
		for w > 0 && t.sep[w] != ' ' {
			w--
		}
		if w == 0 {
			return false
		}
		for t.n > w {
			t.n--
			t.digits -= t.glen[t.n]
		}
		t.end = t.gend[w-1]
		if t.paren >= w {
			t.paren = -1
		}
		// The word that starts with the dropped groups is scanned on its
		// own.
		sc.numUntil = min(sc.numUntil, t.end)
		return sc.judge(t)
	}
	return false
}

// addNumber adds t as the kind it is, if any, and reports whether it did.
func (sc *scanner) addNumber(t *numTok) bool {
	s, r := sc.s, sc.r
	kind := Kind(0)
	switch {
	case r.on[SSN] && isSSN(s, t):
		kind = SSN
	case r.on[Card] && isCard(s, t, 0, t.n):
		kind = Card
	case r.on[Phone] && sc.isPhone(s, t):
		kind = Phone
	default:
		return false
	}
	sp := span{start: t.start, end: t.end, kind: kind}
	if t.n == 1 && !t.plus && t.paren < 0 && sc.jsonNumber(t.start, t.end) {
		sp.quote = 1 // {"pan":4111111111111111} stays JSON
	}
	sc.add(sp)
	return true
}

// spacedCards finds cards among numbers separated by single spaces ("qty 2
// 4111 1111 1111 1111"), where the run as a whole is not one number. It
// tries only card-shaped windows of whole groups, which the Luhn check and
// the issuer prefix make specific enough. The groups left between the cards
// are then judged as numbers of their own, as they will be once the cards
// are masked. It reports whether it found a card.
func (sc *scanner) spacedCards(t *numTok) bool {
	s := sc.s
	if t.n < 4 || t.plus || t.paren >= 0 {
		return false
	}
	for k := 1; k < t.n; k++ {
		if t.sep[k] != ' ' {
			return false
		}
	}
	var cards [maxGroups / 3][2]int // group ranges of the cards found
	nc := 0
	for g := 0; g < t.n; {
		w := 0
		for _, size := range [...]int{5, 4, 3} {
			if g+size <= t.n && isCard(s, t, g, g+size) {
				w = size
				break
			}
		}
		if w == 0 {
			g++
			continue
		}
		cards[nc] = [2]int{g, g + w}
		nc++
		g += w
	}
	if nc == 0 {
		return false
	}
	var rest numTok
	g := 0
	for _, c := range cards[:nc] {
		if c[0] > g {
			t.sub(g, c[0], &rest)
			sc.judge(&rest)
		}
		sc.add(span{start: t.gpos[c[0]], end: t.gend[c[1]-1], kind: Card})
		g = c[1]
	}
	if g < t.n {
		t.sub(g, t.n, &rest)
		sc.judge(&rest)
	}
	return true
}

// glued reports whether a group of digits followed by c may be the start of
// something else: a base64 token, or the local part of an e-mail address.
func glued(c byte) bool {
	return class[c]&(cEntropy|cDot) != 0 || c == '%' || c == '@'
}

// sub sets u to groups [g0, g1) of t, as if scanned alone.
func (t *numTok) sub(g0, g1 int, u *numTok) {
	u.start, u.end = t.gpos[g0], t.gend[g1-1]
	u.plus = t.plus && g0 == 0
	u.n, u.digits, u.paren = g1-g0, 0, -1
	if t.paren >= g0 && t.paren < g1 {
		u.paren = t.paren - g0
	}
	for k := g0; k < g1; k++ {
		u.glen[k-g0], u.gpos[k-g0], u.gend[k-g0], u.sep[k-g0] = t.glen[k], t.gpos[k], t.gend[k], t.sep[k]
		u.digits += t.glen[k]
	}
	u.sep[0] = 0
}

// appendDigits appends the digits of groups [g0, g1) of t.
func appendDigits(dst []byte, s string, t *numTok, g0, g1 int) []byte {
	for g := g0; g < g1; g++ {
		for p := t.gpos[g]; p < t.gend[g]; p++ {
			if isDigit(s[p]) {
				dst = append(dst, s[p])
			}
		}
	}
	return dst
}

// isSSN reports whether t is AAA-GG-SSSS (or with spaces) in an issuable
// range.
func isSSN(s string, t *numTok) bool {
	if t.n != 3 || t.plus || t.paren >= 0 || t.glen[0] != 3 || t.glen[1] != 2 || t.glen[2] != 4 ||
		t.sep[1] != t.sep[2] || (t.sep[1] != '-' && t.sep[1] != ' ') {
		return false
	}
	var b [9]byte
	d := appendDigits(b[:0], s, t, 0, 3)
	area := atoi(d[0:3])
	group := atoi(d[3:5])
	serial := atoi(d[5:9])
	if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
		return false
	}
	// Numbers printed in advertising and documentation, voided by the SSA.
	if string(d) == "078051120" || string(d) == "219099999" {
		return false
	}
	return true
}

func atoi(d []byte) int {
	v := 0
	for _, c := range d {
		v = v*10 + int(c-'0')
	}
	return v
}

// isCard reports whether groups [g0, g1) of t are a card number: 13–19
// digits, contiguous or grouped as printed with one kind of separator,
// Luhn-valid and with a plausible issuer prefix.
func isCard(s string, t *numTok, g0, g1 int) bool {
	if t.plus && g0 == 0 || t.paren >= g0 && t.paren < g1 {
		return false
	}
	nd := 0
	for g := g0; g < g1; g++ {
		nd += t.glen[g]
	}
	if nd < 13 || nd > 19 {
		return false
	}
	if k := g1 - g0; k > 1 {
		sep := t.sep[g0+1]
		if sep != ' ' && sep != '-' {
			return false
		}
		for g := g0 + 2; g < g1; g++ {
			if t.sep[g] != sep {
				return false
			}
		}
		l := t.glen[g0:g1]
		ok := k == 3 && l[0] == 4 && l[1] == 6 && (l[2] == 4 || l[2] == 5) // Amex 4-6-5, Diners 4-6-4
		if !ok && k >= 4 {
			ok = l[k-1] >= 1 && l[k-1] <= 4
			for _, gl := range l[:k-1] {
				ok = ok && gl == 4
			}
		}
		if !ok {
			return false
		}
	}
	var b [19]byte
	d := appendDigits(b[:0], s, t, g0, g1)
	return luhn(d) && issuerOK(d)
}

// luhn reports whether the digits d pass the Luhn check.
func luhn(d []byte) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}

// issuerOK reports whether d starts with the prefix of a card network that
// issues numbers of its length. It leaves out 1 (UATP), 7, 8, 9 and 0,
// because ten-digit Unix times and other ids start there.
func issuerOK(d []byte) bool {
	l := len(d)
	p2 := atoi(d[:2])
	p3 := atoi(d[:3])
	p4 := atoi(d[:4])
	switch d[0] {
	case '4': // Visa
		return l == 13 || l == 16 || l == 19
	case '5':
		if p2 >= 51 && p2 <= 55 { // Mastercard
			return l == 16
		}
		return l >= 13 // Maestro 50, 56–59
	case '2':
		switch {
		case p4 >= 2221 && p4 <= 2720: // Mastercard 2-series
			return l == 16
		case p4 >= 2200 && p4 <= 2204: // Mir
			return l >= 16
		}
	case '3':
		switch {
		case p2 == 34 || p2 == 37: // Amex
			return l == 15
		case p3 >= 300 && p3 <= 305, p3 == 309, p2 == 36, p2 == 38, p2 == 39: // Diners
			return l >= 14
		case p4 >= 3528 && p4 <= 3589: // JCB
			return l >= 16
		}
	case '6':
		switch p2 {
		case 60, 62, 64, 65: // Discover, UnionPay, RuPay
			return l >= 16
		case 63, 67: // Maestro
			return l >= 13
		}
	}
	return false
}

// isPhone reports whether t is a phone number (see Phone).
func (sc *scanner) isPhone(s string, t *numTok) bool {
	if t.plus {
		if t.digits < 8 || t.digits > 15 || s[t.gpos[0]+boolInt(t.paren == 0)] == '0' {
			return false
		}
		// One kind of separator, except the space after the country code
		// or after a parenthesized group ("+1 555-123-4567",
		// "+44 (0)20 7946 0958").
		var sep byte
		for k := 1; k < t.n; k++ {
			c := t.sep[k]
			if c == 0 || c == ' ' && (k == 1 || k == t.paren+1) {
				continue
			}
			if sep == 0 {
				sep = c
			} else if c != sep {
				return false
			}
		}
		return true
	}
	if t.n == 1 {
		// A bare run of digits is an id or a time, unless its field says
		// otherwise.
		return t.paren < 0 && t.digits >= 9 && t.digits <= 15 && phoneKey(sc.keyBefore(t.start, sc.lastEnd))
	}
	if t.digits < 9 || t.digits > 12 {
		return false
	}
	if t.n < 3 || t.paren > 0 || t.paren == 0 && (t.glen[0] < 2 || t.glen[0] > 5) {
		return false
	}
	var sep byte
	for k := 1; k < t.n; k++ {
		c := t.sep[k]
		if k == 1 && t.paren == 0 && (c == 0 || c == ' ') {
			continue
		}
		if c == 0 || sep != 0 && c != sep {
			return false
		}
		sep = c
	}
	if sep == '.' && (t.n != 3 || t.glen[0] != 3 || t.glen[1] != 3 || t.glen[2] != 4 || t.paren >= 0) {
		return false // dots only as 555.123.4567, never IP addresses or versions
	}
	if t.glen[0] > 5 {
		return false
	}
	for k := 1; k < t.n; k++ {
		if t.glen[k] < 2 || t.glen[k] > 4 {
			return false
		}
	}
	if t.n == 3 && t.glen[0] == 3 && t.glen[1] == 2 && t.glen[2] == 4 {
		return false // the shape of an SSN, never of a phone number
	}
	if t.glen[0] == 4 && t.glen[1] == 2 && t.glen[2] == 2 {
		return false // a date: 2026-11-30 10, 2026 11 30 1200
	}
	return true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
