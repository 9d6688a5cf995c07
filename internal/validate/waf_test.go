package validate

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// testWAFs shares compiled WAFs between the tests of this package: the CRS
// takes a while to compile.
var testWAFs = sync.OnceValue(func() *Compiler { return NewCompiler(nil) })

func mustWAF(t testing.TB, o WAFOptions) *WAF {
	t.Helper()
	w, err := testWAFs().WAF(o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func wafGet(query string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/search?"+query, nil)
	r.Header.Set("User-Agent", "rampart-test/1.0")
	r.Header.Set("Accept", "application/json")
	return r
}

func wafPost(body string) (*http.Request, []byte) {
	r := httptest.NewRequest(http.MethodPost, "/notes", strings.NewReader(body))
	r.Header.Set("User-Agent", "rampart-test/1.0")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Content-Type", "application/json")
	return r, []byte(body)
}

func TestWAFBlocksAttacks(t *testing.T) {
	w := mustWAF(t, WAFOptions{Paranoia: 1})
	attacks := []string{
		`' OR 1=1--`,
		`1 UNION SELECT username, password FROM users`,
		`<script>alert(1)</script>`,
		`<img src=x onerror=alert(1)>`,
	}
	for _, a := range attacks {
		t.Run("query "+a, func(t *testing.T) {
			r := wafGet("q=" + url.QueryEscape(a))
			v := w.Check(r, "/search", nil)
			if v == nil || v.Reason != ReasonWAF || v.ReportOnly || v.Status != http.StatusForbidden {
				t.Fatalf("query %q: got %+v, want a blocking waf violation", a, v)
			}
			if !strings.Contains(v.Detail, "94") {
				t.Errorf("detail %q names no CRS rule", v.Detail)
			}
		})
		t.Run("json "+a, func(t *testing.T) {
			r, body := wafPost(`{"note":` + jsonString(a) + `}`)
			if v := w.Check(r, "/notes", body); v == nil || v.Reason != ReasonWAF || v.ReportOnly {
				t.Fatalf("body %q: got %+v, want a blocking waf violation", a, v)
			}
		})
	}
}

func TestWAFPassesHonestRequests(t *testing.T) {
	w := mustWAF(t, WAFOptions{Paranoia: 1})
	honest := []string{
		"O'Brien",
		"select a plan",
		"I <3 scripts",
		"Tom & Jerry's 2-for-1 offer; ends Friday",
		"where do I update my union membership?",
	}
	for _, h := range honest {
		r := wafGet("q=" + url.QueryEscape(h))
		if v := w.Check(r, "/search", nil); v != nil {
			t.Errorf("query %q refused: %+v", h, v)
		}
		r, body := wafPost(`{"name":` + jsonString(h) + `,"count":3}`)
		if v := w.Check(r, "/notes", body); v != nil {
			t.Errorf("body %q refused: %+v", h, v)
		}
	}
}

func TestWAFDetectionOnlyReports(t *testing.T) {
	w := mustWAF(t, WAFOptions{Paranoia: 1, DetectionOnly: true})
	r := wafGet("q=" + url.QueryEscape(`' OR 1=1--`))
	v := w.Check(r, "/search", nil)
	if v == nil || !v.ReportOnly || v.Reason != ReasonWAF {
		t.Fatalf("got %+v, want a report-only waf violation", v)
	}
	if v := w.Check(wafGet("q=O%27Brien"), "/search", nil); v != nil {
		t.Fatalf("honest request reported: %+v", v)
	}
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// A request with more arguments than MaxArgs is refused (413), in the query
// and in a JSON body: arguments past the limit would not be inspected, and
// each one costs inspection time. At the limit it passes.
func TestWAFMaxArgs(t *testing.T) {
	for _, detectionOnly := range []bool{false, true} {
		w := mustWAF(t, WAFOptions{Paranoia: 1, MaxArgs: 10, DetectionOnly: detectionOnly})
		query := func(n int) string {
			parts := make([]string, n)
			for i := range parts {
				parts[i] = fmt.Sprintf("a%d=%d", i, i)
			}
			return strings.Join(parts, "&")
		}
		body := func(n int) string {
			parts := make([]string, n)
			for i := range parts {
				parts[i] = fmt.Sprintf(`"k%d":%d`, i, i)
			}
			return "{" + strings.Join(parts, ",") + "}"
		}
		if v := w.Check(wafGet(query(10)), "/search", nil); v != nil {
			t.Fatalf("10 query arguments: %+v", v)
		}
		r, b := wafPost(body(10))
		if v := w.Check(r, "/notes", b); v != nil {
			t.Fatalf("10 body values: %+v", v)
		}
		over := []*Violation{w.Check(wafGet(query(11)), "/search", nil)}
		r, b = wafPost(body(11))
		over = append(over, w.Check(r, "/notes", b))
		for i, v := range over {
			if v == nil || v.Reason != ReasonWAF || v.Status != http.StatusRequestEntityTooLarge || v.ReportOnly != detectionOnly ||
				!strings.Contains(v.Detail, "more than 10 arguments") {
				t.Fatalf("detection only %v, case %d (query, body): got %+v", detectionOnly, i, v)
			}
		}
	}
}

// The bypass the limit closes: Coraza drops arguments past the limit
// without inspecting them, so an attack after 1000 junk arguments was
// let through. Now the request is refused.
func TestWAFAttackAfterArgumentLimit(t *testing.T) {
	w := mustWAF(t, WAFOptions{Paranoia: 1})
	parts := make([]string, 0, DefaultWAFMaxArgs+1)
	for i := range DefaultWAFMaxArgs {
		parts = append(parts, fmt.Sprintf("j%d=x", i))
	}
	parts = append(parts, "q="+url.QueryEscape(`' OR 1=1--`))
	v := w.Check(wafGet(strings.Join(parts, "&")), "/search", nil)
	if v == nil || v.ReportOnly || v.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("attack after %d junk arguments: got %+v, want it refused", DefaultWAFMaxArgs, v)
	}
}
