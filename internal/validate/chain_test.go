package validate

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestChain(t *testing.T) {
	c := NewCompiler(testWAFs())
	ch, err := c.Compile(Options{
		MaxBody: 1 << 16,
		Limits:  &LimitsOptions{JSON: &JSONLimits{MaxDepth: 8}},
		OpenAPI: &OpenAPIOptions{Spec: "testdata/accounts.yaml", RejectUnknownFields: true},
		WAF:     &WAFOptions{Paranoia: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	post := func(body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v1/accounts", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("User-Agent", "rampart-test/1.0")
		r.Header.Set("Accept", "application/json")
		return r
	}
	for _, c := range []struct{ name, body, want string }{
		{"honest", `{"name":"Siobhan O'Brien","tags":["select a plan","I <3 scripts"]}`, ""},
		{"duplicate key before the schema", `{"name":"a","name":"b"}`, ReasonJSONDuplicateKey},
		{"depth before the schema", strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20), ReasonJSONDepth},
		{"schema before the waf", `{"name":"a","age":"<script>alert(1)</script>"}`, ReasonSchemaBody},
		{"unknown field", `{"name":"a","isAdmin":true}`, ReasonUnknownField},
		{"waf", `{"name":"<script>alert(1)</script>"}`, ReasonWAF},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := post(c.body)
			v, reports := ch.Check(context.Background(), r, "/v1/accounts")
			got := ""
			if v != nil {
				got = v.Reason
			}
			if got != c.want || len(reports) != 0 {
				t.Fatalf("got %v (reports %v), want %q", v, reports, c.want)
			}
			if fwd, _ := io.ReadAll(r.Body); string(fwd) != c.body {
				t.Fatalf("forwarded %q", fwd)
			}
		})
	}

	big := post(`{"name":"` + strings.Repeat("a", 1<<16) + `"}`)
	if v, _ := ch.Check(context.Background(), big, "/v1/accounts"); v == nil || v.Reason != ReasonBodyTooLarge {
		t.Fatalf("oversized body: %v", v)
	}
}

func TestChainDetectionOnly(t *testing.T) {
	ch, err := NewCompiler(testWAFs()).Compile(Options{WAF: &WAFOptions{DetectionOnly: true}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/search?q="+url.QueryEscape("1 UNION SELECT password FROM users"), nil)
	v, reports := ch.Check(context.Background(), r, "/search")
	if v != nil || len(reports) != 1 || reports[0].Reason != ReasonWAF || !reports[0].ReportOnly {
		t.Fatalf("got %v, reports %v: want a pass with one report", v, reports)
	}
}

func TestChainDefaultLimits(t *testing.T) {
	ch, err := NewCompiler(testWAFs()).Compile(Options{OpenAPI: &OpenAPIOptions{Spec: "testdata/accounts.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]string{
		`{"name":"Ada"}`:                                  "",
		`{"name":"Ada","name":"<b>admin</b>"}`:            ReasonJSONDuplicateKey,
		strings.Repeat("[", 64) + strings.Repeat("]", 64): ReasonJSONDepth,
	} {
		r := httptest.NewRequest(http.MethodPost, "/v1/accounts", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		v, _ := ch.Check(context.Background(), r, "/v1/accounts")
		if got := reasonOf(v); got != want {
			t.Errorf("%.40s: got %v, want %q", body, v, want)
		}
	}
}

func reasonOf(v *Violation) string {
	if v == nil {
		return ""
	}
	return v.Reason
}

func TestCompilerShares(t *testing.T) {
	c := NewCompiler(testWAFs())
	a, err := c.WAF(WAFOptions{ExcludeRules: []int{942100, 941100}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.WAF(WAFOptions{Paranoia: 1, AnomalyThreshold: 5, ExcludeRules: []int{941100, 942100, 942100}})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("equal option sets compiled twice")
	}
	s1, err := c.Spec("testdata/accounts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := c.Spec("./testdata/../testdata/accounts.yaml")
	if s1 != s2 {
		t.Error("one spec file loaded twice")
	}
	if ch, err := c.Compile(Options{}); ch != nil || err != nil {
		t.Errorf("empty options: %v %v", ch, err)
	}
}

func TestWAFExclusion(t *testing.T) {
	w := mustWAF(t, WAFOptions{ExcludeRules: []int{942100}})
	r := wafGet("q=" + url.QueryEscape(`' OR 1=1--`))
	if v := w.Check(r, "/search", nil); v != nil && strings.Contains(v.Detail, "942100") {
		t.Fatalf("excluded rule still matched: %v", v)
	}
}

func TestWAFLoadErrors(t *testing.T) {
	c := NewCompiler(testWAFs())
	for _, o := range []WAFOptions{
		{ExcludeRules: []int{999999999}},
		{ExcludeRules: []int{942100, 12}},
		{Paranoia: 5},
		{Paranoia: -1},
		{AnomalyThreshold: -3},
		{BodyLimit: -1},
	} {
		if _, err := c.WAF(o); err == nil {
			t.Errorf("%+v: accepted", o)
		}
	}
	if _, err := c.Compile(Options{OpenAPI: &OpenAPIOptions{Spec: "testdata/broken-yaml.yaml"}}); err == nil ||
		!strings.Contains(err.Error(), "broken-yaml.yaml") {
		t.Errorf("broken spec: %v", err)
	}
}

func TestWAFInspectsCanonicalPath(t *testing.T) {
	w := mustWAF(t, WAFOptions{})
	// r.URL says one thing; the gateway's canonical path is what is
	// routed and proxied, so it is what the WAF must see.
	r := httptest.NewRequest(http.MethodGet, "/files/readme", nil)
	r.Header.Set("User-Agent", "rampart-test/1.0")
	r.Header.Set("Accept", "*/*")
	if v := w.Check(r, "/files/%3Cscript%3Ealert(1)%3C/script%3E", nil); v == nil || v.Reason != ReasonWAF {
		t.Fatalf("attack in the canonical path passed: %v", v)
	}
	if v := w.Check(r, "/files/readme", nil); v != nil {
		t.Fatalf("honest path refused: %v", v)
	}
}

func TestWAFBodyLimit(t *testing.T) {
	w := mustWAF(t, WAFOptions{BodyLimit: 1024})
	r, body := wafPost(`{"pad":"` + strings.Repeat("a", 2048) + `"}`)
	if v := w.Check(r, "/notes", body); v == nil || v.Reason != ReasonWAF || v.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("uninspectable body passed: %v", v)
	}
}
