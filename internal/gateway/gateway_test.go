package gateway

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/event"
)

// plainConfig is a plaintext gateway (TLS is tested separately) with an
// "admin" area that a weaker "public" catch-all must never serve.
func plainConfig(adminUp, publicUp string, extra string) string {
	return fmt.Sprintf(`
gateway:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  tls: {disabled: true}
  limits: {max_body: 1KiB, max_header: 4KiB, read_header_timeout: 300ms}
%s
log: {access: stdout}
upstreams:
  admin: {targets: ["http://%s"]}
  public: {targets: ["http://%s"], retries: 0}
routes:
  - name: admin
    match: {path: "/admin/*", methods: [GET]}
    upstream: admin
    auth: none
  - name: account
    match: {path: "/accounts/{id}", methods: [GET]}
    upstream: public
    auth: none
  - name: matrix
    match: {path: "/matrix/*", allow_semicolon: true}
    upstream: public
    auth: none
  - name: upload
    match: {path: /upload, methods: [POST]}
    upstream: public
    auth: none
  - name: public
    match: {path: "/*"}
    upstream: public
    auth: none
`, extra, adminUp, publicUp)
}

func TestPathTricksUseOneCanonicalView(t *testing.T) {
	admin := newUpstream(t, "admin", nil)
	public := newUpstream(t, "public", nil)
	g := startGateway(t, plainConfig(admin.addr, public.addr, ""))

	cases := []struct {
		name     string
		path     string
		status   int
		upstream string // who must have served it, when 200; "net/http" when Go's parser refuses it before the gateway runs
		uri      string // what that upstream must have seen
	}{
		{"honest admin", "/admin/panel", 200, "admin", "/admin/panel"},
		{"honest public", "/docs/index.html", 200, "public", "/docs/index.html"},
		{"dot segments resolve before routing", "/public/../admin/panel", 200, "admin", "/admin/panel"},
		{"encoded dots resolve before routing", "/public/%2e%2e/admin/panel", 200, "admin", "/admin/panel"},
		{"mixed-case encoded dots", "/public/%2E./admin/panel", 200, "admin", "/admin/panel"},
		{"double slash folds", "//admin//panel", 200, "admin", "/admin/panel"},
		{"case variant hits the same route", "/ADMIN/panel", 200, "admin", "/ADMIN/panel"},
		{"dot segment at end", "/admin/panel/.", 200, "admin", "/admin/panel/"},
		{"encoded slash refused", "/public/..%2fadmin/panel", 400, "", ""},
		{"encoded slash lower case", "/admin%2fpanel", 400, "", ""},
		{"encoded backslash refused", "/public/..%5cadmin", 400, "", ""},
		{"raw backslash refused", "/public/..\\admin", 400, "", ""},
		{"semicolon refused on normal routes", "/admin;x=1/panel", 400, "", ""},
		{"encoded semicolon refused", "/admin%3bx/panel", 400, "", ""},
		{"semicolon allowed where configured", "/matrix/a;v=1", 200, "public", "/matrix/a;v=1"},
		{"encoded NUL refused", "/admin/panel%00.html", 400, "", ""},
		{"fragment refused", "/public/x#/../../admin", 400, "", ""},
		{"double encoding refused", "/public/%252e%252e/admin", 400, "", ""},
		{"traversal above root refused", "/../../etc/passwd", 400, "", ""},
		{"invalid escape refused", "/admin/%zz", 400, "net/http", ""},
		{"asterisk form refused", "*", 400, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			beforeAdmin, beforePublic := len(admin.requests()), len(public.requests())
			status, hdr, body := raw(t, g.addrs.Gateway, get(c.path))
			if status != c.status {
				t.Fatalf("GET %s: status %d, want %d (%s)", c.path, status, c.status, body)
			}
			switch c.upstream {
			case "admin":
				if got := admin.last(t); len(admin.requests()) != beforeAdmin+1 || got.URI != c.uri {
					t.Fatalf("admin upstream saw %q, want %q", got.URI, c.uri)
				}
			case "public":
				if got := public.last(t); len(public.requests()) != beforePublic+1 || got.URI != c.uri {
					t.Fatalf("public upstream saw %q, want %q", got.URI, c.uri)
				}
			case "net/http":
				if len(admin.requests()) != beforeAdmin || len(public.requests()) != beforePublic {
					t.Fatalf("refused request reached an upstream")
				}
			case "":
				if len(admin.requests()) != beforeAdmin || len(public.requests()) != beforePublic {
					t.Fatalf("refused request reached an upstream")
				}
				if status < 500 && status != 0 && !strings.Contains(body, `"request_id":"`+hdr.Get("X-Request-Id")+`"`) {
					t.Fatalf("refusal body lacks the request id: %q", body)
				}
				if strings.Contains(body, "admin") || strings.Contains(body, "127.0.0.1") {
					t.Fatalf("refusal body echoes input or internals: %q", body)
				}
			}
		})
	}
	g.events.waitFor(t, event.BadRequest, "encoded_slash")
}

func TestRoutingErrors(t *testing.T) {
	admin := newUpstream(t, "admin", nil)
	public := newUpstream(t, "public", nil)
	g := startGateway(t, plainConfig(admin.addr, public.addr, ""))

	// A method the most specific route does not allow never falls through to "/*".
	status, hdr, _ := raw(t, g.addrs.Gateway, "DELETE /admin/panel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if status != 405 || hdr.Get("Allow") != "GET, HEAD" {
		t.Fatalf("DELETE /admin/panel: %d Allow=%q", status, hdr.Get("Allow"))
	}
	if len(admin.requests())+len(public.requests()) != 0 {
		t.Fatal("405 reached an upstream")
	}
	g.events.waitFor(t, event.MethodNotAllowed, "")
	// HEAD is implied by GET.
	if status, _, _ := raw(t, g.addrs.Gateway, "HEAD /accounts/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); status != 200 {
		t.Fatalf("HEAD: %d", status)
	}
}

func TestNotFoundWithoutCatchAll(t *testing.T) {
	up := newUpstream(t, "up", nil)
	g := startGateway(t, fmt.Sprintf(`
gateway: {listen: 127.0.0.1:0, admin: 127.0.0.1:0, tls: {disabled: true}}
log: {access: "off"}
upstreams: {up: {targets: ["http://%s"]}}
routes:
  - {name: only, match: {path: /only, host: api.example.com}, upstream: up, auth: none}
`, up.addr))
	if s, _, _ := raw(t, g.addrs.Gateway, get("/nothing")); s != 404 {
		t.Fatalf("unknown path: %d", s)
	}
	// The host must match too (ports, case and a trailing dot are normalized).
	if s, _, _ := raw(t, g.addrs.Gateway, "GET /only HTTP/1.1\r\nHost: API.Example.com.:8443\r\nConnection: close\r\n\r\n"); s != 200 {
		t.Fatalf("matching host: %d", s)
	}
	if s, _, _ := raw(t, g.addrs.Gateway, "GET /only HTTP/1.1\r\nHost: other.example.com\r\nConnection: close\r\n\r\n"); s != 404 {
		t.Fatalf("other host: %d", s)
	}
	g.events.waitFor(t, event.RouteNotFound, "no_route")
}

func TestSpoofedHeadersNeverReachTheUpstream(t *testing.T) {
	admin := newUpstream(t, "admin", nil)
	public := newUpstream(t, "public", nil)
	g := startGateway(t, plainConfig(admin.addr, public.addr, ""))

	status, _, _ := raw(t, g.addrs.Gateway, get("/docs",
		"X-Forwarded-For: 6.6.6.6",
		"X-Forwarded-Host: evil.example",
		"X-Forwarded-Proto: https",
		"Forwarded: for=6.6.6.6",
		"X-Real-IP: 6.6.6.6",
		"X-Rampart-Principal: admin",
		"x-rampart-roles: admin",
		"X-Request-Id: chosen-by-attacker",
		// A Connection header naming the gateway's own headers must not delete them.
		"Connection: X-Forwarded-For, X-Request-Id, X-Forwarded-Proto",
	))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	h := public.last(t).Header
	if got := h.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the real peer", got)
	}
	if got := h.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q", got)
	}
	if got := h.Get("X-Forwarded-Host"); got != "test.local" {
		t.Errorf("X-Forwarded-Host = %q", got)
	}
	if id := h.Get("X-Request-Id"); id == "" || id == "chosen-by-attacker" {
		t.Errorf("X-Request-Id = %q", id)
	}
	for _, k := range []string{"Forwarded", "X-Real-Ip", "X-Rampart-Principal", "X-Rampart-Roles"} {
		if v := h.Get(k); v != "" {
			t.Errorf("%s reached the upstream: %q", k, v)
		}
	}
	g.events.waitFor(t, event.SpoofedHeader, "internal_headers")
	g.events.waitFor(t, event.SpoofedHeader, "forwarding_headers")
}

func TestForwardedHeadersFromTrustedProxy(t *testing.T) {
	admin := newUpstream(t, "admin", nil)
	public := newUpstream(t, "public", nil)
	g := startGateway(t, plainConfig(admin.addr, public.addr, "  trusted_proxies: [127.0.0.0/8, 10.0.0.0/8]"))

	// Client 203.0.113.9 → proxy 10.1.1.1 → (peer 127.0.0.1) gateway. The
	// leftmost entry is whatever the client wrote and is not believed.
	status, _, _ := raw(t, g.addrs.Gateway, get("/docs",
		"X-Forwarded-For: 6.6.6.6, 203.0.113.9, 10.1.1.1",
		"X-Forwarded-Proto: https",
		"X-Request-Id: upstream-lb-id-1"))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	h := public.last(t).Header
	if got := h.Get("X-Forwarded-For"); got != "6.6.6.6, 203.0.113.9, 10.1.1.1, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	if got := h.Get("X-Forwarded-Proto"); got != "https" || h.Get("X-Request-Id") != "upstream-lb-id-1" {
		t.Errorf("proto %q id %q", got, h.Get("X-Request-Id"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(g.access.String(), `"client_ip":"203.0.113.9"`) {
		if time.Now().After(deadline) {
			t.Fatalf("access log does not name the real client: %s", g.access.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTunnelsAroundTheChainAreRefused(t *testing.T) {
	admin := newUpstream(t, "admin", nil)
	public := newUpstream(t, "public", nil)
	g := startGateway(t, plainConfig(admin.addr, public.addr, ""))

	cases := []struct{ name, req, reason string }{
		{"h2c upgrade", "GET /docs HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", "h2c_upgrade"},
		{"h2c among other upgrades", "GET /docs HTTP/1.1\r\nHost: x\r\nUpgrade: foo, H2C\r\nConnection: Upgrade\r\n\r\n", "h2c_upgrade"},
		{"CONNECT", "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n", "connect"},
		{"HTTP/2 prior knowledge", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ""},
		{"websocket on a route that does not allow it", "GET /docs HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", "upgrade_not_allowed"},
		{"absolute-form request target", "GET http://169.254.169.254/latest HTTP/1.1\r\nHost: x\r\n\r\n", "request_target_form"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, _ := raw(t, g.addrs.Gateway, c.req)
			if status < 400 || status >= 500 {
				t.Fatalf("status %d, want a 4xx refusal", status)
			}
			if c.reason != "" {
				g.events.waitFor(t, "", c.reason)
			}
		})
	}
	if n := len(public.requests()) + len(admin.requests()); n != 0 {
		t.Fatalf("%d refused tunnel requests reached an upstream", n)
	}
	// The honest request passes.
	if status, _, _ := raw(t, g.addrs.Gateway, get("/docs")); status != 200 {
		t.Fatalf("honest request: %d", status)
	}
}

func TestSmugglingCannotDesyncTheUpstream(t *testing.T) {
	admin := newUpstream(t, "admin", nil)
	public := newUpstream(t, "public", nil)
	g := startGateway(t, plainConfig(admin.addr, public.addr, ""))

	// CL.TE: a front end that trusts Content-Length would forward the smuggled
	// GET /admin as part of the body, and a back end that trusts chunked would
	// then run it. The gateway must never let the upstream see a second request.
	smuggle := "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"0\r\n\r\nGET /admin/panel HTTP/1.1\r\nHost: x\r\nX: y\r\n\r\n"
	status, hdr, _ := raw(t, g.addrs.Gateway, smuggle)
	if status != 400 || !strings.EqualFold(hdr.Get("Connection"), "close") {
		t.Fatalf("CL+TE: status %d, Connection %q; want 400 and close", status, hdr.Get("Connection"))
	}
	g.events.waitFor(t, event.BadRequest, "ambiguous_framing")
	if n := len(admin.requests()); n != 0 {
		t.Fatalf("smuggled request reached the admin upstream (%d)", n)
	}
	for _, r := range public.requests() {
		if strings.Contains(r.Body, "GET /admin") || r.URI != "/upload" {
			t.Fatalf("upstream saw smuggled content: %+v", r)
		}
	}
	// Duplicate, conflicting Content-Length and bad chunking are refused.
	for _, req := range []string{
		"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
		"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"GET /docs HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
	} {
		if status, _, _ := raw(t, g.addrs.Gateway, req); status != 400 && status != 501 && status != 0 {
			t.Errorf("%q: status %d, want refusal", strings.SplitN(req, "\r\n", 2)[0], status)
		}
	}
	// Forms net/http would accept and normalize, which a front proxy may read
	// differently: refused by the gateway with 400 before any upstream sees them.
	before := len(public.requests())
	for name, req := range map[string]string{
		"TE on HTTP/1.0": "POST /upload HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n0\r\n\r\n",
		"obs-fold":       "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
		"bare LF":        "POST /upload HTTP/1.1\nHost: x\nContent-Length: 0\n\n",
	} {
		if status, _, _ := raw(t, g.addrs.Gateway, req); status != 400 {
			t.Errorf("%s: status %d, want 400", name, status)
		}
	}
	if n := len(public.requests()) - before; n != 0 {
		t.Fatalf("%d ambiguous requests reached the upstream", n)
	}
	// The honest request passes.
	if status, _, _ := raw(t, g.addrs.Gateway, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"); status != 200 {
		t.Fatalf("honest chunked request: %d", status)
	}
}

func TestSizeLimits(t *testing.T) {
	admin := newUpstream(t, "admin", nil)
	public := newUpstream(t, "public", nil)
	g := startGateway(t, plainConfig(admin.addr, public.addr, ""))

	big := strings.Repeat("a", 5000)
	if s, _, _ := raw(t, g.addrs.Gateway, get("/docs", "X-Big: "+big)); s != 431 {
		t.Fatalf("oversized header: %d, want 431", s)
	}
	body := strings.Repeat("b", 2000)
	if s, _, _ := raw(t, g.addrs.Gateway, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n"+body); s != 413 {
		t.Fatalf("oversized body with length: %d, want 413", s)
	}
	chunked := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	if s, _, _ := raw(t, g.addrs.Gateway, chunked); s != 413 {
		t.Fatalf("oversized chunked body: %d, want 413", s)
	}
	g.events.waitFor(t, event.LimitExceeded, "body_size")
	g.events.waitFor(t, event.LimitExceeded, "header_size")
	// Honest requests pass.
	if s, _, _ := raw(t, g.addrs.Gateway, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"); s != 200 {
		t.Fatalf("small body: %d", s)
	}
	if got := public.last(t).Body; got != "hello" {
		t.Fatalf("upstream body %q", got)
	}
}

func TestSlowHeadersDoNotStarveOthers(t *testing.T) {
	admin := newUpstream(t, "admin", nil)
	public := newUpstream(t, "public", nil)
	g := startGateway(t, plainConfig(admin.addr, public.addr, ""))

	// Slowloris: many connections that never finish their headers.
	var conns []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", g.addrs.Gateway)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		io.WriteString(c, "GET /docs HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	}
	// An honest client is served meanwhile.
	if s, _, _ := raw(t, g.addrs.Gateway, get("/docs")); s != 200 {
		t.Fatalf("honest request during slowloris: %d", s)
	}
	// And the slow connections are cut after read_header_timeout (300ms here).
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 512)
		_, err := c.Read(buf)
		for err == nil {
			_, err = c.Read(buf)
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("slow connection was not closed by the gateway")
		}
		c.Close()
	}
}

func TestResponseHeadersAndUpstreamFailure(t *testing.T) {
	admin := newUpstream(t, "admin", nil)
	// A public upstream address with nothing listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	g := startGateway(t, plainConfig(admin.addr, dead, `  security_headers: {X-Frame-Options: SAMEORIGIN, Referrer-Policy: ""}`))

	status, hdr, body := raw(t, g.addrs.Gateway, get("/admin/x"))
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	if hdr.Get("Server") != "" || hdr.Get("X-Powered-By") != "" {
		t.Errorf("upstream software headers leaked: %v", hdr)
	}
	if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("X-Frame-Options") != "SAMEORIGIN" || hdr.Get("Referrer-Policy") != "" {
		t.Errorf("security headers: %v", hdr)
	}
	if hdr.Get("X-Request-Id") == "" || !strings.Contains(body, "admin saw") {
		t.Errorf("response: %v %q", hdr, body)
	}

	status, hdr, body = raw(t, g.addrs.Gateway, get("/docs"))
	if status != 502 && status != 503 {
		t.Fatalf("dead upstream: %d", status)
	}
	if !strings.Contains(body, hdr.Get("X-Request-Id")) || strings.Contains(body, dead) || strings.Contains(body, "refused") {
		t.Fatalf("error body must carry the request id and no internals: %q", body)
	}
	g.events.waitFor(t, event.UpstreamFailure, "")
}

func TestAccessLogRedactsCredentials(t *testing.T) {
	admin := newUpstream(t, "admin", nil)
	public := newUpstream(t, "public", nil)
	g := startGateway(t, plainConfig(admin.addr, public.addr, ""))

	secret := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA"
	raw(t, g.addrs.Gateway, get("/docs?access_token=tok-123-secret&page=2&api_key=key-456-secret",
		"Authorization: Bearer "+secret, "Cookie: session=sess-789-secret"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(g.access.String(), `"page=2`) && !strings.Contains(g.access.String(), `page=2`) {
		if time.Now().After(deadline) {
			t.Fatalf("no access log line: %q", g.access.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := g.access.String() + g.logs.String()
	for _, leak := range []string{"tok-123-secret", "key-456-secret", "sess-789-secret", secret} {
		if strings.Contains(out, leak) {
			t.Fatalf("log leaks %q:\n%s", leak, out)
		}
	}
}

func TestTLSEndToEndAndReloadUnderLoad(t *testing.T) {
	up := newUpstream(t, "up", nil)
	cfg := func(extraRoute string) string {
		return fmt.Sprintf(`
gateway:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  hsts: {enabled: true}
log: {access: "off"}
upstreams:
  up: {targets: ["http://%s"]}
routes:
  - {name: hello, match: {path: /hello}, upstream: up, auth: none}
%s`, up.addr, extraRoute)
	}
	g := startGateway(t, cfg(""))
	if g.addrs.CAFile == "" {
		t.Fatal("no development CA reported")
	}
	c := tlsClient(t, g.addrs.CAFile, true)
	base := "https://" + g.addrs.Gateway
	resp, err := c.Get(base + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("status %d proto %s hsts %q", resp.StatusCode, resp.Proto, resp.Header.Get("Strict-Transport-Security"))
	}

	// Load from several clients while the config is replaced twice (a bad
	// version first, which must be refused, then a good one): no request fails.
	var failures, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := tlsClient(t, g.addrs.CAFile, false)
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := cl.Get(base + "/hello")
				total.Add(1)
				if err != nil || resp.StatusCode != 200 {
					failures.Add(1)
				}
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	writeAtomically(t, g.cfgPath, cfg("  - {name: broken, match: {path: /new}, upstream: nowhere, auth: none}\n"))
	g.reload <- struct{}{}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(g.logs.String(), "reload refused") {
		if time.Now().After(deadline) {
			t.Fatal("bad config was not refused")
		}
		time.Sleep(10 * time.Millisecond)
	}
	writeAtomically(t, g.cfgPath, cfg("  - {name: added, match: {path: /new}, upstream: up, auth: none}\n"))
	g.reload <- struct{}{}
	for {
		resp, err := c.Get(base + "/new")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("new route never served after reload")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || total.Load() == 0 {
		t.Fatalf("%d of %d requests failed during reload", failures.Load(), total.Load())
	}
	t.Logf("%d requests during two reloads, 0 failed", total.Load())
}

func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWebSocketOnlyWhereAllowed(t *testing.T) {
	ws := newUpstream(t, "ws", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			w.WriteHeader(400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo:" + line)
		brw.Flush()
	})
	g := startGateway(t, fmt.Sprintf(`
gateway: {listen: 127.0.0.1:0, admin: 127.0.0.1:0, tls: {disabled: true}}
log: {access: "off"}
upstreams: {ws: {targets: ["http://%s"]}}
routes:
  - {name: live, match: {path: /live}, upstream: ws, auth: none, websocket: true}
  - {name: plain, match: {path: /plain}, upstream: ws, auth: none}
`, ws.addr))
	upgrade := "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if s, _, _ := raw(t, g.addrs.Gateway, fmt.Sprintf(upgrade, "/plain")); s != 400 {
		t.Fatalf("upgrade on a plain route: %d", s)
	}
	c, err := net.Dial("tcp", g.addrs.Gateway)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, upgrade, "/live")
	buf := make([]byte, 4096)
	n, _ := io.ReadAtLeast(c, buf, 12)
	if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 101") {
		t.Fatalf("no 101: %q", buf[:n])
	}
	io.WriteString(c, "ping\n")
	got := string(buf[:n])
	for !strings.Contains(got, "echo:ping") {
		m, err := c.Read(buf)
		if err != nil {
			t.Fatalf("tunnel read: %v (got %q)", err, got)
		}
		got += string(buf[:m])
	}
}
