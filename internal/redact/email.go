package redact

// localChar reports whether c may be in the local part of an address. It is
// the subset of RFC 5322 atext that addresses use in practice: the rest
// ('=', '/', '?', '&', '\”, ...) would pull "email=alice" or "/users/alice"
// into the address.
func localChar(c byte) bool {
	return class[c]&(cAlnum|cDot|cUnderscore|cHyphen|cPlus) != 0 || c == '%'
}

// email detects an address around the "@" (w = 1) or "%40" (w = 3) at
// s[at] and returns its end, or at.
func (sc *scanner) email(at, w int) int {
	s := sc.s
	// The local part is all the address characters before the "@" (even
	// past the 64 an address may have: cutting a word in two would leave
	// half of it to be found as something else), and starts after a
	// percent-escape of a character that cannot be in it
	// ("email%3Dalice%40example.com" is alice@example.com). No two "@" scan
	// the same bytes back, so this stays linear.
	l := at
	for l > 0 && localChar(s[l-1]) {
		l--
		if s[l] == '%' && l+2 < at && class[s[l+1]]&cHex != 0 && class[s[l+2]]&cHex != 0 {
			if c := hexVal(s[l+1])<<4 | hexVal(s[l+2]); !localChar(c) || c == '%' {
				l += 3
				break
			}
		}
	}
	for l < at && s[l] == '.' {
		l++
	}
	if l == at || s[at-1] == '.' {
		return at
	}
	end := domainEnd(s, at+w)
	if end < 0 || retina(s[at+w:end]) {
		return at
	}
	sc.add(span{start: l, end: end, kind: Email})
	return end
}

// retina reports whether domain starts with a label like "2x": a file name
// in the @2x/@3x convention for high-density images ("icon@2x.png"), the
// one common case of local@label.alpha that is not an address.
func retina(domain string) bool {
	i := 0
	for i < len(domain) && isDigit(domain[i]) {
		i++
	}
	return i > 0 && i+1 < len(domain) && domain[i] == 'x' && domain[i+1] == '.'
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// domainEnd returns the end of the domain name starting at s[d]: at least
// two labels of letters, digits and inner hyphens, the last alphabetic (or
// punycode), 253 characters at most. It returns -1 if there is none.
func domainEnd(s string, d int) int {
	n := len(s)
	good, labels := -1, 0
	for p := d; p < n; {
		q := p
		for q < n && class[s[q]]&(cAlnum|cHyphen) != 0 {
			q++
		}
		if q == p || q-p > 63 || s[p] == '-' || s[q-1] == '-' || q-d > 253 {
			break
		}
		labels++
		if labels >= 2 && tldOK(s[p:q]) {
			good = q
		}
		if q+1 >= n || s[q] != '.' {
			break
		}
		p = q + 1
	}
	return good
}

// tldOK reports whether label can be a top-level domain.
func tldOK(label string) bool {
	if len(label) > 4 && label[:4] == "xn--" {
		return true
	}
	if len(label) < 2 {
		return false
	}
	for i := 0; i < len(label); i++ {
		if class[label[i]]&cAlpha == 0 {
			return false
		}
	}
	return true
}
