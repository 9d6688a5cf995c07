package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
)

// A route that masks ssn and card fields: callers without pii:read see
// masks, callers with it see the values, and an upstream answer the gateway
// cannot mask is refused rather than passed on.
func TestResponseMasking(t *testing.T) {
	idp := newTestIdP(t)
	const record = `{"id":"42","name":"Alice","ssn":"123-45-6789","payment":{"Card":"4111111111111111","s\u0073n":"987-65-4321"},` +
		`"cards":[{"card":4111111111111111}],"note":"<b>hi</b>","ssn_hint":null,"tags":[1,2.5,true,false,null]}`
	up := newUpstream(t, "accounts", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/accounts/gzip":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			w.Write([]byte{0x1f, 0x8b})
		case "/accounts/html":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<p>ssn 123-45-6789</p>")
		case "/accounts/big":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ssn":"%s"}`, strings.Repeat("9", 4096))
		case "/accounts/broken":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"ssn":"123-45-6789"`)
		default:
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("ETag", `"v1"`)
			fmt.Fprint(w, record)
		}
	})
	cfg := strings.Replace(authConfig(idp.srv.URL, up.addr), `    allow: 'principal.subject == params.id || "admin" in principal.roles'`,
		`    mask: {fields: [ssn, card], unless_scopes: ["pii:read"], style: last_four, max_body: 1KiB}`, 1)
	g := startGateway(t, cfg)
	waitIssuer(t, g.addrs.Admin, "idp")

	call := func(path, tok string) (int, http.Header, string) {
		return raw(t, g.addrs.Gateway, get(path, "Authorization: Bearer "+tok))
	}
	reader := idp.token(t, idp.key, "42", "accounts:read")
	status, hdr, body := call("/accounts/42", reader)
	if status != 200 {
		t.Fatalf("masked read: %d %s", status, body)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("masked body is not JSON: %v: %s", err, body)
	}
	for _, leak := range []string{"123-45-6789", "987-65-4321", "4111111111111111"} {
		if strings.Contains(body, leak) {
			t.Errorf("masked response leaks %s: %s", leak, body)
		}
	}
	if got["ssn"] != "****6789" || got["name"] != "Alice" || got["note"] != "<b>hi</b>" || got["ssn_hint"] != nil {
		t.Errorf("masked body = %s", body)
	}
	if p := got["payment"].(map[string]any); p["Card"] != "****1111" || p["ssn"] != "****4321" {
		t.Errorf("nested and escaped names were not masked: %s", body)
	}
	if !strings.HasPrefix(body, `{"id":"42","name":"Alice","ssn":`) {
		t.Errorf("member order changed: %s", body)
	}
	if hdr.Get("ETag") != "" {
		t.Error("the upstream's ETag was kept on a body it does not describe")
	}
	if h := up.last(t).Header.Get("Accept-Encoding"); h != "identity" {
		t.Errorf("upstream asked with Accept-Encoding %q, want identity", h)
	}

	// The legitimate reader of PII sees the record as the upstream sent it.
	status, _, body = call("/accounts/42", idp.token(t, idp.key, "42", "accounts:read pii:read"))
	if status != 200 || body != record {
		t.Fatalf("pii:read caller: %d %s", status, body)
	}

	// Fail closed: whatever the gateway cannot read is not passed on.
	for path, reason := range map[string]string{"/accounts/gzip": "compressed", "/accounts/html": "not_json",
		"/accounts/big": "too_large", "/accounts/broken": "bad_json"} {
		status, _, body := call(path, reader)
		if status != http.StatusBadGateway || strings.Contains(body, "123-45") || strings.Contains(body, "9999") {
			t.Errorf("%s: %d %s, want a bare 502", path, status, body)
		}
		g.events.waitFor(t, event.MaskRefused, reason)
	}
}

func TestMaskRewrite(t *testing.T) {
	m := compileMask(config.Mask{Fields: []string{"secret"}, Style: "full", MaxBody: 1 << 20})
	for in, want := range map[string]string{
		`{"secret":{"a":[1,2]},"b":"x"}`: `{"secret":"****","b":"x"}`,
		`[{"SECRET":1},{"secret":null}]`: `[{"SECRET":"****"},{"secret":null}]`,
		` "plain" `:                      `"plain"`,
	} {
		var out bytes.Buffer
		if err := m.rewrite(&out, []byte(in)); err != nil || out.String() != want {
			t.Errorf("rewrite(%s) = %s, %v; want %s", in, out.String(), err, want)
		}
	}
	deep := strings.Repeat("[", maxMaskDepth+1) + strings.Repeat("]", maxMaskDepth+1)
	for _, bad := range []string{`{"a":1} {"b":2}`, `{"a":}`, deep, `{"secret":"x"`} {
		if err := m.rewrite(&bytes.Buffer{}, []byte(bad)); err == nil {
			t.Errorf("rewrite(%.40s) accepted", bad)
		}
	}
}

func FuzzMaskRewrite(f *testing.F) {
	f.Add([]byte(`{"ssn":"123-45-6789","a":[{"ssn":1}]}`))
	f.Add([]byte(`[1,"x",null,{"s\u0073n":true}]`))
	m := compileMask(config.Mask{Fields: []string{"ssn"}, Style: "last_four", MaxBody: 1 << 20})
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		if m.rewrite(&out, b) != nil {
			return
		}
		// Whatever was accepted comes out as valid JSON with no ssn value left.
		if !json.Valid(out.Bytes()) {
			t.Fatalf("rewrite produced invalid JSON from %q: %q", b, out.Bytes())
		}
	})
}
