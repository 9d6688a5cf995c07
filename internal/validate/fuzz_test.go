package validate

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
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
