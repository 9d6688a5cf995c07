package validate

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func mustSpec(t testing.TB) *Spec {
	t.Helper()
	s, err := LoadSpec("testdata/accounts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type oaCase struct {
	name, method, path, ctype, body string
	header                          map[string]string
	want                            string // reason, "" passes
}

func runOpenAPI(t *testing.T, o *OpenAPI, cases []oaCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rd io.Reader
			if c.body != "" {
				rd = strings.NewReader(c.body)
			}
			r := httptest.NewRequest(c.method, c.path, rd)
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			body, v := ReadBody(r, 1<<20)
			if v != nil {
				t.Fatal(v)
			}
			canon, _, _ := strings.Cut(c.path, "?")
			v = o.Check(context.Background(), r, canon, body)
			got := ""
			if v != nil {
				got = v.Reason
				if len(v.Detail) > maxDetail {
					t.Errorf("detail of %d bytes", len(v.Detail))
				}
			}
			if got != c.want {
				t.Fatalf("got %v, want reason %q", v, c.want)
			}
			// The proxy must forward exactly what was validated.
			fwd, _ := io.ReadAll(r.Body)
			if !bytes.Equal(fwd, []byte(c.body)) {
				t.Fatalf("forwarded body %q, want %q", fwd, c.body)
			}
		})
	}
}

func TestOpenAPI(t *testing.T) {
	o := NewOpenAPI(mustSpec(t), false)
	tenant := map[string]string{"X-Tenant": "acme"}
	json := "application/json"
	runOpenAPI(t, o, []oaCase{
		{name: "valid post", method: "POST", path: "/v1/accounts", ctype: json,
			body: `{"name":"Ada","age":36,"address":{"city":"London"},"tags":["a"],"extra":1}`},
		{name: "valid post with charset", method: "POST", path: "/v1/accounts", ctype: "application/json; charset=utf-8", body: `{"name":"Ada"}`},
		{name: "valid get with query and header", method: "GET", path: "/v1/accounts?limit=10&sort=name", header: tenant},
		{name: "valid path param", method: "GET", path: "/v1/accounts/42"},
		{name: "HEAD uses the GET operation", method: "HEAD", path: "/v1/accounts/42"},
		{name: "HEAD checks like GET", method: "HEAD", path: "/v1/accounts/x", want: ReasonSchemaPath},
		{name: "literal path wins over template", method: "GET", path: "/v1/accounts/me"},
		{name: "param with suffix", method: "GET", path: "/v1/files/report.json"},
		{name: "body type", method: "POST", path: "/v1/accounts", ctype: json, body: `{"name":"Ada","age":"old"}`, want: ReasonSchemaBody},
		{name: "body range", method: "POST", path: "/v1/accounts", ctype: json, body: `{"name":"Ada","age":200}`, want: ReasonSchemaBody},
		{name: "body required field", method: "POST", path: "/v1/accounts", ctype: json, body: `{"age":2}`, want: ReasonSchemaBody},
		{name: "body nested", method: "POST", path: "/v1/accounts", ctype: json, body: `{"name":"A","address":{"zip":"x"}}`, want: ReasonSchemaBody},
		{name: "body missing", method: "POST", path: "/v1/accounts", ctype: json, want: ReasonSchemaBody},
		{name: "body malformed", method: "POST", path: "/v1/accounts", ctype: json, body: `{"name":`, want: ReasonJSONSyntax},
		{name: "body with a duplicate key", method: "POST", path: "/v1/accounts", ctype: json, body: `{"name":"a","name":"b"}`, want: ReasonJSONDuplicateKey},
		{name: "body nested too deep", method: "POST", path: "/v1/accounts", ctype: json, body: strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40), want: ReasonJSONDepth},
		{name: "body on operation without one", method: "GET", path: "/v1/accounts/1", ctype: json, body: `{}`, want: ReasonSchemaBody},
		{name: "content type", method: "POST", path: "/v1/accounts", ctype: "text/plain", body: `{"name":"Ada"}`, want: ReasonContentType},
		{name: "query type", method: "GET", path: "/v1/accounts?limit=abc", header: tenant, want: ReasonSchemaQuery},
		{name: "query range", method: "GET", path: "/v1/accounts?limit=1000", header: tenant, want: ReasonSchemaQuery},
		{name: "query enum", method: "GET", path: "/v1/accounts?sort=password", header: tenant, want: ReasonSchemaQuery},
		{name: "query malformed", method: "GET", path: "/v1/accounts?limit=%zz", header: tenant, want: ReasonSchemaQuery},
		{name: "query semicolon", method: "GET", path: "/v1/accounts?limit=1;sort=name", header: tenant, want: ReasonSchemaQuery},
		{name: "header missing", method: "GET", path: "/v1/accounts", want: ReasonSchemaHeader},
		{name: "header pattern", method: "GET", path: "/v1/accounts", header: map[string]string{"X-Tenant": "ACME!"}, want: ReasonSchemaHeader},
		{name: "path type", method: "GET", path: "/v1/accounts/abc", want: ReasonSchemaPath},
		{name: "path range", method: "GET", path: "/v1/accounts/0", want: ReasonSchemaPath},
		{name: "path pattern in partial segment", method: "GET", path: "/v1/files/R2.json", want: ReasonSchemaPath},
		{name: "unknown path", method: "GET", path: "/v1/admin", want: ReasonOperationNotFound},
		{name: "unknown method", method: "DELETE", path: "/v1/accounts/1", want: ReasonOperationNotFound},
		{name: "without server base", method: "GET", path: "/accounts/1", want: ReasonOperationNotFound},
		{name: "base is a whole segment", method: "GET", path: "/v1accounts/1", want: ReasonOperationNotFound},
		{name: "trailing slash is another path", method: "GET", path: "/v1/accounts/1/", want: ReasonOperationNotFound},
	})
}

func TestOpenAPIRejectUnknownFields(t *testing.T) {
	o := NewOpenAPI(mustSpec(t), true)
	json := "application/json"
	runOpenAPI(t, o, []oaCase{
		{name: "declared fields across allOf", method: "POST", path: "/v1/accounts", ctype: json,
			body: `{"id":"a1","name":"Ada","address":{"city":"Oslo","zip":"01234"},"tags":["x"]}`},
		{name: "free-form object stays open", method: "POST", path: "/v1/accounts", ctype: json,
			body: `{"name":"Ada","metadata":{"anything":{"goes":1}}}`},
		{name: "additionalProperties schema is honoured", method: "POST", path: "/v1/accounts", ctype: json,
			body: `{"name":"Ada","labels":{"team":"core"}}`},
		{name: "additionalProperties schema still validates", method: "POST", path: "/v1/accounts", ctype: json,
			body: `{"name":"Ada","labels":{"team":1}}`, want: ReasonSchemaBody},
		{name: "unknown top-level field", method: "POST", path: "/v1/accounts", ctype: json,
			body: `{"name":"Ada","isAdmin":true}`, want: ReasonUnknownField},
		{name: "unknown nested field", method: "POST", path: "/v1/accounts", ctype: json,
			body: `{"name":"Ada","address":{"city":"Oslo","role":"admin"}}`, want: ReasonUnknownField},
	})
	v := o.Check(context.Background(), postJSON(`{"name":"Ada","address":{"city":"Oslo","ro/le\n":1}}`), "/v1/accounts",
		[]byte(`{"name":"Ada","address":{"city":"Oslo","ro/le\n":1}}`))
	if v == nil || v.Detail != "unknown field /address/ro~1le?" {
		t.Fatalf("got %+v, want the escaped, sanitized JSON pointer of the field", v)
	}
	// With several unknown fields the first in key order is reported,
	// whatever order the map is walked in.
	body := `{"name":"Ada","zeta":1,"mid":{"x":1},"alpha":2,"address":{"city":"Oslo","b":1,"a":2}}`
	for range 50 {
		v := o.Check(context.Background(), postJSON(body), "/v1/accounts", []byte(body))
		if v == nil || v.Detail != "unknown field /address/a" {
			t.Fatalf("got %+v, want /address/a every time", v)
		}
	}
}

func postJSON(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/accounts", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func TestOpenAPIServersWithoutBase(t *testing.T) {
	s, err := LoadSpec("testdata/nobase.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o := NewOpenAPI(s, false)
	runOpenAPI(t, o, []oaCase{
		{name: "host is ignored", method: "GET", path: "/items/7"},
		{name: "mismatch", method: "GET", path: "/items/x", want: ReasonSchemaPath},
	})
}

func TestLoadSpecErrors(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"testdata/broken-yaml.yaml", "line 7"},
		{"testdata/invalid-spec.yaml", "invalid-spec.yaml:4: invalid"},
		{"testdata/external-ref.yaml", "external-ref.yaml"},
		{"testdata/missing.yaml", "missing.yaml"},
	} {
		_, err := LoadSpec(c.file)
		if err == nil {
			t.Errorf("%s: loaded", c.file)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.file) || !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q should name the file and contain %q", c.file, msg, c.want)
		}
	}
}

func TestReadBodyLimits(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("a", 11)))
	if _, v := ReadBody(r, 10); v == nil || v.Reason != ReasonBodyTooLarge {
		t.Fatalf("declared length: got %v", v)
	}
	r = httptest.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader(strings.Repeat("a", 11))))
	r.ContentLength = -1
	if _, v := ReadBody(r, 10); v == nil || v.Reason != ReasonBodyTooLarge {
		t.Fatalf("streamed length: got %v", v)
	}
	r = httptest.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader("abc"), errReader{}))
	r.ContentLength = -1
	if _, v := ReadBody(r, 10); v == nil || v.Reason != ReasonBodyUnreadable {
		t.Fatalf("broken body: got %v", v)
	}
	// A body that disagrees with its declared length is not guessed at:
	// the upstream would read it differently from the validator.
	for _, declared := range []int64{3, 9} {
		r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader("01234"))
		r.ContentLength = declared
		if _, v := ReadBody(r, 10); v == nil || v.Reason != ReasonBodyUnreadable {
			t.Fatalf("5 bytes declared as %d: got %v", declared, v)
		}
	}
	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader("0123456789"))
	b, v := ReadBody(r, 10)
	if v != nil || string(b) != "0123456789" || r.ContentLength != 10 {
		t.Fatalf("got %q %v", b, v)
	}
	again, _ := r.GetBody()
	if fwd, _ := io.ReadAll(again); string(fwd) != "0123456789" {
		t.Fatalf("GetBody gave %q", fwd)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
