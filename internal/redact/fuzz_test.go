package redact

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzRedact checks, for any text: no panic; findings sorted, disjoint and
// in bounds; no detected value left in the masked text (unless the text
// also has it where nothing was detected); masking is a fixed point; JSON
// stays JSON; and the other styles agree on what they mask.
func FuzzRedact(f *testing.F) {
	for _, c := range loadCorpus(f) {
		f.Add(c.text)
	}
	for _, s := range []string{
		"", "@", "%40", "a@b.c", "+", "(", "((1)", "+(1)2 3", "-----BEGIN PRIVATE KEY-----",
		`\"password\":\"`, `"password":"\`, `"pin":-`, "Bearer ", "Basic ====", "eyJ.", "rk_",
		"GB82 WEST", strings.Repeat("1 ", 40), strings.Repeat("4111 ", 9), "a\\alice@example.com",
	} {
		f.Add(s)
	}
	full := mustNew(f, Options{})
	other := mustNew(f, Options{Style: Hash, Styles: map[Kind]Style{Card: LastFour, Phone: LastFour, IBAN: LastFour, SSN: LastFour}, HashKey: testKey})
	f.Fuzz(func(t *testing.T, s string) {
		fs := full.Findings(s)
		end := 0
		for _, fd := range fs {
			if fd.Start < end || fd.End <= fd.Start || fd.End > len(s) || fd.Kind == 0 || fd.Kind >= kindEnd {
				t.Fatalf("bad findings %v for %q", fs, s)
			}
			end = fd.End
		}
		out := full.String(s)
		if len(fs) == 0 && out != s {
			t.Fatalf("no findings but %q became %q", s, out)
		}
		// Text outside the findings, joined so that no value can run
		// across two pieces.
		var rest strings.Builder
		last := 0
		for _, fd := range fs {
			rest.WriteString(s[last:fd.Start])
			rest.WriteByte(0)
			last = fd.End
		}
		rest.WriteString(s[last:])
		for _, st := range []struct {
			r   *Redactor
			out string
		}{{full, out}, {other, other.String(s)}} {
			for _, fd := range fs {
				// A last-four mask shows four digits by design, and they
				// can spell a value together with the text next to them.
				if st.r.style[fd.Kind] == LastFour {
					continue
				}
				v := s[fd.Start:fd.End]
				if len(v) >= 6 && strings.Contains(st.out, v) && !strings.Contains(rest.String(), v) && !inMask(v) {
					t.Fatalf("%s %q of %q survives in %q", fd.Kind, v, s, st.out)
				}
			}
		}
		if again := full.String(out); again != out {
			t.Fatalf("not a fixed point: %q -> %q -> %q", s, out, again)
		}
		// An object or array stays valid JSON. (A bare number that is a
		// card number is masked as text: the mask is not a number.)
		if doc := strings.TrimLeft(s, " \t\r\n"); doc != "" && (doc[0] == '{' || doc[0] == '[') && json.Valid([]byte(s)) && !json.Valid([]byte(out)) {
			t.Fatalf("JSON %q became %q", s, out)
		}
		if got := string(full.Append(nil, s)); got != out {
			t.Fatalf("Append %q, String %q", got, out)
		}
	})
}

// inMask reports whether v could be text of a mask ("[REDACTED:card]",
// "****1234"), which a value made of such characters can match.
func inMask(v string) bool {
	for k := Kind(1); k < kindEnd; k++ {
		if strings.Contains("[REDACTED:"+k.String()+"]", v) || strings.Contains("["+k.String()+":", v) {
			return true
		}
	}
	return strings.Trim(v, "*0123456789abcdef]") == ""
}
