package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-sec/rampart/internal/event"
)

const ordersSpec = `openapi: 3.0.3
info: {title: orders, version: "1"}
paths:
  /orders:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [item, qty]
              properties:
                item: {type: string, maxLength: 64}
                qty: {type: integer, minimum: 1, maximum: 100}
      responses:
        "201": {description: created}
`

// Request validation end to end: the schema, the JSON limits and the WAF
// refuse what they must (with an event naming the reason or the rules),
// and the upstream receives exactly the bytes of an honest request.
func TestValidationEndToEnd(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "orders.yaml")
	if err := os.WriteFile(spec, []byte(ordersSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t, "orders", nil)
	g := startGateway(t, fmt.Sprintf(`
gateway: {listen: 127.0.0.1:0, admin: 127.0.0.1:0, tls: {disabled: true}}
upstreams:
  orders: {targets: ["http://%s"]}
routes:
  - name: create-order
    match: {path: /orders, methods: [POST]}
    upstream: orders
    auth: none
    validate:
      openapi: %s
      reject_unknown_fields: true
      json: {max_depth: 4}
      waf: {paranoia: 1}
  - name: search
    match: {path: /search, methods: [GET]}
    upstream: orders
    auth: none
    validate: {waf: {paranoia: 1}}
  - name: search-tuning
    match: {path: /search-tuning, methods: [GET]}
    upstream: orders
    auth: none
    validate: {waf: {paranoia: 1, detection_only: true}}
`, up.addr, spec))

	post := func(body, ctype string) (int, string) {
		status, _, resp := raw(t, g.addrs.Gateway, fmt.Sprintf("POST /orders HTTP/1.1\r\nHost: test.local\r\nContent-Type: %s\r\n"+
			"Content-Length: %d\r\nConnection: close\r\n\r\n%s", ctype, len(body), body))
		return status, resp
	}
	honest := `{"item":"O'Brien's notebook, select a plan","qty":2}`
	if status, body := post(honest, "application/json"); status != 200 {
		t.Fatalf("honest order: %d %s", status, body)
	}
	if got := up.last(t).Body; got != honest {
		t.Fatalf("upstream got %q, want the bytes that were validated", got)
	}
	for _, c := range []struct{ name, body, ctype, reason string }{
		{"wrong type", `{"item":"pen","qty":"two"}`, "application/json", "schema_body"},
		{"missing field", `{"item":"pen"}`, "application/json", "schema_body"},
		{"unknown field", `{"item":"pen","qty":1,"admin":true}`, "application/json", "unknown_field"},
		{"duplicate key", `{"item":"pen","qty":1,"qty":99}`, "application/json", "json_duplicate_key"},
		{"depth bomb", `{"item":"pen","qty":1,"x":[[[[[1]]]]]}`, "application/json", "json_depth"},
		{"not json", `item=pen`, "application/x-www-form-urlencoded", "content_type"},
	} {
		status, body := post(c.body, c.ctype)
		if status < 400 || status >= 500 || !strings.Contains(body, "request_id") {
			t.Errorf("%s: %d %s, want a 4xx with a request id", c.name, status, body)
			continue
		}
		typ := event.ValidationFailed
		g.events.waitFor(t, typ, c.reason)
	}

	status, _, body := raw(t, g.addrs.Gateway, get("/search?q=1%27%20OR%201=1--"))
	if status != 403 || !strings.Contains(body, `"forbidden"`) {
		t.Fatalf("SQL injection: %d %s", status, body)
	}
	e := g.events.waitFor(t, event.WAFMatch, "waf")
	if !strings.Contains(e.Detail, "rules") {
		t.Fatalf("WAF event does not name the rules: %q", e.Detail)
	}
	if status, _, _ := raw(t, g.addrs.Gateway, get("/search?q=select+a+plan+for+O%27Brien")); status != 200 {
		t.Fatalf("honest search refused: %d", status)
	}
	if status, _, _ := raw(t, g.addrs.Gateway, get("/search-tuning?q=%3Cscript%3Ealert(1)%3C/script%3E")); status != 200 {
		t.Fatalf("detection-only route blocked: %d", status)
	}
}
