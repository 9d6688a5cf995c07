package redact

// ibanLengths are the IBAN lengths of the countries in the SWIFT IBAN
// registry. A country's length is fixed, which lets the scanner take exactly
// that many characters even when the IBAN is written in groups and followed
// by more words in capitals.
var ibanLengths = func() (t [26][26]uint8) {
	for _, e := range [...]struct {
		cc string
		n  uint8
	}{
		{"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
		{"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
		{"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
		{"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
		{"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28},
		{"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30},
		{"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21},
		{"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20}, {"MR", 27},
		{"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
		{"PL", 28}, {"PS", 29}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
		{"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23},
		{"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22},
		{"VG", 24}, {"XK", 20}, {"YE", 30},
	} {
		t[e.cc[0]-'A'][e.cc[1]-'A'] = e.n
	}
	return t
}()

// iban detects an IBAN at s[i] (an upper-case letter) and returns its end,
// or i.
func (sc *scanner) iban(i int) int {
	s := sc.s
	n := len(s)
	if n-i < 15 || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
		return i
	}
	want := int(ibanLengths[s[i]-'A'][s[i+1]-'A'])
	if want == 0 {
		return i
	}
	var buf [34]byte
	copy(buf[:4], s[i:i+4])
	got, j := 4, i+4
	spaced := j < n && s[j] == ' '
	for got < want {
		if spaced && got%4 == 0 {
			if j >= n || s[j] != ' ' {
				return i
			}
			j++
		}
		if j >= n || !isUpper(s[j]) && !isDigit(s[j]) {
			return i
		}
		buf[got] = s[j]
		got++
		j++
	}
	if j < n && isAlnum(s[j]) || !mod97(buf[:want]) {
		return i
	}
	sc.add(span{start: i, end: j, kind: IBAN})
	return j
}

// mod97 reports whether the IBAN b (upper case, no spaces) passes ISO 7064
// MOD 97-10: the country code and check digits moved to the end, letters
// read as 10–35, the number is 1 modulo 97.
func mod97(b []byte) bool {
	r := 0
	for k := range b {
		c := b[(k+4)%len(b)]
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A'+10)) % 97
		}
	}
	return r == 1
}
