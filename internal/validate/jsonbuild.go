package validate

import "encoding/json"

// buildJSON returns the value of a document that checkJSON accepted, as
// encoding/json with UseNumber decodes it into an any (the form kin's
// schema validator takes): map[string]any, []any, string, json.Number,
// bool and nil.
//
// It relies on checkJSON's verdict (syntax, UTF-8, escapes, no duplicate
// keys, nothing after the value, depth bounded) and does not check again:
// that is what makes it several times cheaper than encoding/json, which
// scans a document twice and decodes through a state machine. Strings
// without escapes and numbers are slices of one copy of the document.
// FuzzBuildJSON holds it to encoding/json's result.
func buildJSON(body []byte) any {
	d := builder{s: string(body)}
	d.ws()
	return d.value()
}

type builder struct {
	s string
	i int
	// buf is scratch space for unescaping.
	buf []byte
}

func (d *builder) ws() { d.i = skipWS(d.s, d.i) }

func (d *builder) value() any {
	switch d.s[d.i] {
	case '{':
		d.i++
		m := make(map[string]any)
		d.ws()
		if d.s[d.i] == '}' {
			d.i++
			return m
		}
		for {
			d.ws()
			k := d.str()
			d.ws()
			d.i++ // ':'
			d.ws()
			m[k] = d.value()
			d.ws()
			if d.s[d.i] == ',' {
				d.i++
				continue
			}
			d.i++ // '}'
			return m
		}
	case '[':
		d.i++
		a := []any{}
		d.ws()
		if d.s[d.i] == ']' {
			d.i++
			return a
		}
		for {
			d.ws()
			a = append(a, d.value())
			d.ws()
			if d.s[d.i] == ',' {
				d.i++
				continue
			}
			d.i++ // ']'
			return a
		}
	case '"':
		return d.str()
	case 't':
		d.i += len("true")
		return true
	case 'f':
		d.i += len("false")
		return false
	case 'n':
		d.i += len("null")
		return nil
	}
	start := d.i
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case '-', '+', '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			d.i++
			continue
		}
		break
	}
	return json.Number(d.s[start:d.i])
}

// str returns the string starting at d.i (a '"'), unescaped.
func (d *builder) str() string {
	start := d.i + 1
	i, escaped := start, false
	for d.s[i] != '"' {
		if d.s[i] == '\\' {
			// The escaped byte is skipped; the rest of a \u escape is hex.
			escaped = true
			i += 2
			continue
		}
		i++
	}
	d.i = i + 1
	if !escaped {
		return d.s[start:i]
	}
	d.buf = unescape(d.buf[:0], d.s[start:i])
	return string(d.buf)
}
