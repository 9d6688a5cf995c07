package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestJSONScanner(t *testing.T) {
	lim := JSONLimits{MaxDepth: 4, MaxKeys: 6, MaxStringLen: 8, MaxNumberLen: 6, MaxArrayLen: 3}.withDefaults()
	cases := []struct{ in, want string }{
		{`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, ""},
		{` [ ] `, ""},
		{`"x"`, ""},
		{`-0.5e3`, ""},
		{`{"k":"\u00e9"}`, ""},
		{`{"k":"\ud83d\ude00"}`, ReasonJSONStringLength},
		{`{"k":"héllo"}`, ""},
		{`{"a":{"b":{"c":{"d":1}}}}`, ""},
		{`{"a":{"b":{"c":{"d":{}}}}}`, ReasonJSONDepth},
		{strings.Repeat("[", 100000), ReasonJSONDepth},
		{`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7}`, ReasonJSONKeys},
		{`[{"a":1,"b":2},{"a":1,"b":2},{"a":1,"b":2,"c":3}]`, ReasonJSONKeys},
		{`{"a":1,"a":2}`, ReasonJSONDuplicateKey},
		{`{"a":1,"\u0061":2}`, ReasonJSONDuplicateKey},
		{`{"a\/":1,"a/":2}`, ReasonJSONDuplicateKey},
		{`{"a":{"x":1},"b":{"x":1}}`, ""},
		{`"123456789"`, ReasonJSONStringLength},
		{`{"123456789":1}`, ReasonJSONStringLength},
		{`1234567`, ReasonJSONNumberLength},
		{`[1,2,3,4]`, ReasonJSONArrayLength},
		{`[[1,2,3],[1,2,3]]`, ""},
		{``, ReasonJSONSyntax},
		{`{`, ReasonJSONSyntax},
		{`{"a" 1}`, ReasonJSONSyntax},
		{`{"a":1,}`, ReasonJSONSyntax},
		{`[1,]`, ReasonJSONSyntax},
		{`[1 2]`, ReasonJSONSyntax},
		{`{1:2}`, ReasonJSONSyntax},
		{`01`, ReasonJSONSyntax},
		{`1.`, ReasonJSONSyntax},
		{`-`, ReasonJSONSyntax},
		{`1e`, ReasonJSONSyntax},
		{`tru`, ReasonJSONSyntax},
		{`nul`, ReasonJSONSyntax},
		{`{} {}`, ReasonJSONSyntax},
		{`"a` + "\x01" + `"`, ReasonJSONSyntax},
		{`"\x"`, ReasonJSONSyntax},
		{`"\u12"`, ReasonJSONSyntax},
		{"\"\xff\"", ReasonJSONSyntax},
		{`"\ud800"`, ReasonJSONSyntax},
		{`"\udc00"`, ReasonJSONSyntax},
		{`"\ud800\u0041"`, ReasonJSONSyntax},
		{"\xef\xbb\xbf{}", ReasonJSONSyntax},
		{`"unterm`, ReasonJSONSyntax},
	}
	for _, c := range cases {
		got := ""
		if err := checkJSON([]byte(c.in), lim); err != nil {
			got = err.reason
		}
		if got != c.want {
			in := c.in
			if len(in) > 40 {
				in = in[:40] + "..."
			}
			t.Errorf("%q: got %q, want %q", in, got, c.want)
		}
	}
}

func TestJSONDuplicateKeysInLargeObjects(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{`)
	for i := range 40 {
		fmt.Fprintf(&b, `"k%d":1,`, i)
	}
	base := b.String()
	lim := JSONLimits{}.withDefaults()
	if err := checkJSON([]byte(base+`"last":1}`), lim); err != nil {
		t.Fatalf("honest large object: %v", err)
	}
	if err := checkJSON([]byte(base+`"\u006b7":1}`), lim); err == nil || err.reason != ReasonJSONDuplicateKey {
		t.Fatalf("duplicate after the switch to a map: %v", err)
	}
	if err := checkJSON([]byte(`{"\ud83d\ude00":1,"😀":2}`), lim); err == nil || err.reason != ReasonJSONDuplicateKey {
		t.Fatalf("duplicate through a surrogate pair: %v", err)
	}
	// Keys of a closed object do not collide with its parent's.
	if err := checkJSON([]byte(`{"a":`+base+`"x":1},"k1":2}`), lim); err != nil {
		t.Fatalf("keys leaked between objects: %v", err)
	}
}

func limitsRequest(ctype, body string) (*http.Request, []byte) {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	return r, []byte(body)
}

func TestLimitsCheck(t *testing.T) {
	jsonOnly, err := NewLimits(LimitsOptions{JSON: &JSONLimits{MaxDepth: 8, MaxKeys: 100}})
	if err != nil {
		t.Fatal(err)
	}
	withForm, err := NewLimits(LimitsOptions{JSON: &JSONLimits{}, MediaTypes: []string{"application/json", "application/x-www-form-urlencoded"}})
	if err != nil {
		t.Fatal(err)
	}
	bomb := strings.Repeat(`{"a":`, 1000) + "1" + strings.Repeat("}", 1000)
	var flood strings.Builder
	flood.WriteString("{")
	for i := range 200 {
		if i > 0 {
			flood.WriteByte(',')
		}
		flood.WriteString(`"k` + strings.Repeat("x", i) + `":0`)
	}
	flood.WriteString("}")
	for _, c := range []struct {
		name        string
		l           *Limits
		ctype, body string
		want        string
		wantStatus  int
		multiCTypes bool
	}{
		{name: "honest json", l: jsonOnly, ctype: "application/json", body: `{"user":{"name":"O'Brien","plans":[1,2]}}`},
		{name: "problem+json", l: jsonOnly, ctype: "application/problem+json; charset=UTF-8", body: `{}`},
		{name: "empty body needs no type", l: jsonOnly},
		{name: "depth bomb", l: jsonOnly, ctype: "application/json", body: bomb, want: ReasonJSONDepth, wantStatus: 413},
		{name: "key flood", l: jsonOnly, ctype: "application/json", body: flood.String(), want: ReasonJSONKeys, wantStatus: 413},
		{name: "duplicate keys", l: jsonOnly, ctype: "application/json", body: `{"role":"user","role":"admin"}`, want: ReasonJSONDuplicateKey, wantStatus: 400},
		{name: "malformed", l: jsonOnly, ctype: "application/json", body: `{"a":}`, want: ReasonJSONSyntax, wantStatus: 400},
		{name: "json as text/plain", l: jsonOnly, ctype: "text/plain", body: `{"a":1}`, want: ReasonContentType, wantStatus: 415},
		{name: "no content type", l: jsonOnly, body: `{"a":1}`, want: ReasonContentType, wantStatus: 415},
		{name: "utf-16 charset", l: jsonOnly, ctype: "application/json; charset=utf-16", body: `{}`, want: ReasonContentType, wantStatus: 415},
		{name: "malformed content type", l: jsonOnly, ctype: "application json", body: `{}`, want: ReasonContentType, wantStatus: 415},
		{name: "two content types", l: jsonOnly, ctype: "application/json", body: `{}`, multiCTypes: true, want: ReasonContentType, wantStatus: 400},
		{name: "listed form not scanned", l: withForm, ctype: "application/x-www-form-urlencoded", body: `a=1&a=2`},
		{name: "unlisted type", l: withForm, ctype: "application/xml", body: `<a/>`, want: ReasonContentType, wantStatus: 415},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, body := limitsRequest(c.ctype, c.body)
			if c.multiCTypes {
				r.Header.Add("Content-Type", "text/plain")
			}
			v := c.l.Check(r, body)
			got := ""
			if v != nil {
				got = v.Reason
				if v.Status != c.wantStatus {
					t.Errorf("status %d, want %d", v.Status, c.wantStatus)
				}
			}
			if got != c.want {
				t.Fatalf("got %v, want %q", v, c.want)
			}
		})
	}
}

func TestNewLimitsErrors(t *testing.T) {
	for _, o := range []LimitsOptions{
		{MediaTypes: []string{"json"}},
		{MediaTypes: []string{"*/json"}},
		{MediaTypes: []string{"application/json; charset=utf-8"}},
		{JSON: &JSONLimits{MaxDepth: -1}},
	} {
		if _, err := NewLimits(o); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
}

func TestSanitize(t *testing.T) {
	if got := sanitize("a\nb\x00c\xffd"); got != "a?b?c?d" {
		t.Errorf("got %q", got)
	}
	long := sanitize(strings.Repeat("é", 500))
	if len(long) > maxDetail || !utf8.ValidString(long) || !strings.HasSuffix(long, "...") {
		t.Errorf("long detail: %d bytes %q", len(long), long[len(long)-8:])
	}
}

// referenceDuplicate reports whether a document that encoding/json accepts
// has an object with a repeated key (after unescaping).
func referenceDuplicate(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type obj struct {
		keys   map[string]bool
		expect bool // the next string token is a key
	}
	var stack []*obj
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) || err != nil {
			return false
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.expect
		if top != nil && top.keys != nil {
			top.expect = !top.expect
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{':
				stack = append(stack, &obj{keys: map[string]bool{}, expect: true})
			case '[':
				stack = append(stack, &obj{})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].keys != nil {
					stack[len(stack)-1].expect = true
				}
			}
		case string:
			if isKey {
				if top.keys[tok] {
					return true
				}
				top.keys[tok] = true
			}
		}
	}
}

func FuzzJSONScanner(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, `{"a":1,"\u0061":2}`, `[1,2,[3,{"x":-1.5e10}]]`,
		`"\ud83d\ude00"`, `"\ud800"`, "\"\xff\"", `{"a":{"a":{"a":1}},"b":2}`, `01`, `{"a" : 1 , "b" : "\/"}`,
	} {
		f.Add([]byte(s))
	}
	lim := JSONLimits{MaxDepth: 10000, MaxKeys: 1 << 30, MaxStringLen: 1 << 30, MaxNumberLen: 1 << 30, MaxArrayLen: 1 << 30}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkJSON(b, lim)
		valid := json.Valid(b)
		if err == nil {
			if !valid {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			if referenceDuplicate(b) {
				t.Fatalf("missed a duplicate key in %q", b)
			}
			return
		}
		if !valid || !utf8.Valid(b) || bytes.Contains(bytes.ToLower(b), []byte(`\ud`)) {
			// encoding/json replaces invalid UTF-8 and lone surrogates;
			// the scanner refuses them on purpose.
			return
		}
		switch err.reason {
		case ReasonJSONDuplicateKey:
			if !referenceDuplicate(b) {
				t.Fatalf("false duplicate in %q", b)
			}
		default:
			t.Fatalf("refused valid JSON %q: %s at %d", b, err.what, err.off)
		}
		// Tight limits must never panic either.
		checkJSON(b, JSONLimits{MaxDepth: 1, MaxKeys: 1, MaxStringLen: 1, MaxNumberLen: 1, MaxArrayLen: 1})
	})
}
