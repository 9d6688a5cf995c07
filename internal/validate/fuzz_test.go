package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzOpenAPICheck feeds client-controlled parts of a request (path,
// query, a header, content type and body) through the path matcher, the
// query parser, kin's decoders and the unknown-field walker: nothing may
// panic, and a refusal's detail stays bounded and printable.
func FuzzOpenAPICheck(f *testing.F) {
	f.Add("POST", "/v1/accounts", "", "acme", "application/json", []byte(`{"name":"Ada","address":{"city":"x"}}`))
	f.Add("GET", "/v1/accounts", "limit=5&sort=name", "acme", "", []byte(nil))
	f.Add("GET", "/v1/accounts/12", "", "", "", []byte(nil))
	f.Add("GET", "/v1/files/a%41.json", "", "", "", []byte(nil))
	f.Add("POST", "/v1/accounts", "x=%zz", "a\x00", "application/json; charset=utf-16", []byte(`{"name":1,"name":2}`))
	spec, err := LoadSpec("testdata/accounts.yaml")
	if err != nil {
		f.Fatal(err)
	}
	strict, loose := NewOpenAPI(spec, true), NewOpenAPI(spec, false)
	f.Fuzz(func(t *testing.T, method, path, query, tenant, ctype string, body []byte) {
		if len(path) == 0 || path[0] != '/' || !validMethod(method) {
			return
		}
		r, err := http.NewRequest(method, "http://gw.example", bytes.NewReader(body))
		if err != nil {
			return
		}
		r.URL = &url.URL{Path: path, RawQuery: query}
		r.Header.Set("X-Tenant", tenant)
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		for _, o := range []*OpenAPI{strict, loose} {
			if v := o.Check(context.Background(), r, path, body); v != nil {
				if len(v.Detail) > maxDetail || !utf8.ValidString(v.Detail) || v.Reason == "" || v.Status < 400 {
					t.Fatalf("bad violation %+v", v)
				}
			}
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// FuzzMediaType checks the Content-Type parser on anything a client sends.
func FuzzMediaType(f *testing.F) {
	for _, s := range []string{"application/json", "application/json; charset=UTF-8", "text/plain;charset=\"utf-16\"", "a/b/c", ";", "application/problem+json"} {
		f.Add(s)
	}
	l, err := NewLimits(LimitsOptions{JSON: &JSONLimits{}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		h := http.Header{"Content-Type": {ct}}
		mt, v := mediaType(h)
		if v == nil {
			typ, sub, ok := strings.Cut(mt, "/")
			if !ok || !token(typ) || !token(sub) || mt != strings.ToLower(mt) {
				t.Fatalf("accepted malformed media type %q from %q", mt, ct)
			}
		}
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		r.Header = h
		v = l.Check(r, []byte(`{}`))
		if v == nil && !isJSON(mt) {
			t.Fatalf("JSON-only route accepted %q", ct)
		}
		if v != nil && (len(v.Detail) > maxDetail || !utf8.ValidString(v.Detail)) {
			t.Fatalf("bad violation %+v", v)
		}
	})
}

// FuzzBuildJSON holds buildJSON to encoding/json: whatever checkJSON
// accepts, buildJSON must decode to the value encoding/json (with
// UseNumber, as kin decodes) gives, so the schema sees what an upstream
// written in Go would see.
func FuzzBuildJSON(f *testing.F) {
	for _, s := range []string{
		`{"account":"42","item":"notebook","qty":2}`,
		` { "a" : [ 1 , -2.5e+3 , 0 , true , false , null , { } , [ ] ] } `,
		`"\u00e9\ud83d\ude00\n\t\"\\\/"`,
		`{"k\u0041y":{"nested":[[["deep"]]]},"x":-0.0E-0}`,
		`[]`, `0`, `"plain"`, `{"a":"é","b":"日本"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkJSON(b, defaultJSONLimits) != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatalf("checkJSON accepted %q, encoding/json refused it: %v", b, err)
		}
		if got := buildJSON(b); !reflect.DeepEqual(got, want) {
			t.Fatalf("buildJSON(%q) = %#v, encoding/json gives %#v", b, got, want)
		}
	})
}

// FuzzWAFCheck feeds client-controlled parts of a request (method, path,
// query, a header, content type and body) through the whole chain with the
// WAF: nothing may panic, a refusal is well formed and bounded, and an
// injection in a query argument is never let through whatever surrounds it.
func FuzzWAFCheck(f *testing.F) {
	f.Add("POST", "/notes", "a=1", "rampart-test/1.0", "application/json", []byte(`{"note":"hello"}`))
	f.Add("GET", "/search", "q=select+a+plan&x=1", "curl/8", "", []byte(nil))
	f.Add("POST", "/form", "", "", "application/x-www-form-urlencoded", []byte("a=1&b=%27+OR+1%3D1--"))
	f.Add("POST", "/up", "", "", "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n"))
	ch, err := testWAFs().Compile(Options{WAF: &WAFOptions{Paranoia: 1, MaxArgs: 50}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, query, agent, ctype string, body []byte) {
		if len(path) == 0 || path[0] != '/' || !validMethod(method) || strings.ContainsAny(path, "?#") {
			return
		}
		check := func(query string) *Violation {
			r, err := http.NewRequest(method, "http://gw.example", bytes.NewReader(body))
			if err != nil {
				return nil
			}
			r.URL = &url.URL{Path: path, RawQuery: query}
			r.Header.Set("User-Agent", agent)
			if ctype != "" {
				r.Header.Set("Content-Type", ctype)
			}
			v, reports := ch.Check(context.Background(), r, path)
			for _, x := range append(reports, v) {
				if x != nil && (len(x.Detail) > maxDetail || !utf8.ValidString(x.Detail) || x.Reason == "" || x.Status < 400) {
					t.Fatalf("bad violation %+v", x)
				}
			}
			return v
		}
		check(query)
		sep := "&"
		if query == "" {
			sep = ""
		}
		if check(query+sep+"zq="+url.QueryEscape(`' OR 1=1--`)) == nil {
			t.Fatalf("an injection after query %q passed", query)
		}
	})
}
