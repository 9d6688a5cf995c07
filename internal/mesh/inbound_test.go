package mesh

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/event"
)

// inboundFixture is the accounts service behind its sidecar; orders may
// read accounts and static files and create orders.
type inboundFixture struct {
	ca   *testCA
	app  *app
	ev   *recorder
	s    *Sidecar
	addr string
}

func newInboundFixture(t *testing.T) *inboundFixture {
	t.Helper()
	f := &inboundFixture{ca: newTestCA(t, testTD, 0), app: newApp(t), ev: newRecorder()}
	cfg := Config{
		Service: accountsID.String(),
		Listen:  "127.0.0.1:0",
		App:     f.app.addr(),
		Inbound: []Rule{
			{Caller: ordersID.String(), Methods: []string{"GET"}, Paths: []string{"/accounts/{id}", "/static/*"}},
			{Caller: ordersID.String(), Methods: []string{"POST"}, Paths: []string{"/orders"}},
		},
	}
	f.s = start(t, cfg, f.ca.source(t, accountsID), f.ev)
	f.addr = f.s.InboundAddr().String()
	return f
}

func (f *inboundFixture) client(t *testing.T, id string) *tls.Config {
	t.Helper()
	switch id {
	case "orders":
		return clientTLS(f.ca.cert(t, ordersID, time.Hour))
	case "intruder":
		return clientTLS(f.ca.cert(t, intruderID, time.Hour))
	}
	t.Fatalf("unknown client %q", id)
	return nil
}

func TestInboundAllowedCallerReachesAppWithIdentity(t *testing.T) {
	f := newInboundFixture(t)
	resp, body, err := rawRequest(t, f.addr, f.client(t, "orders"), "GET", "/accounts/7?x=1",
		"X-Rampart-Caller: spiffe://mesh.test/admin",
		"X_Rampart_Caller: spiffe://mesh.test/admin",
		"X-Rampart-Identity: signed.jwt.token",
		"X-Forwarded-For: 6.6.6.6",
		"Forwarded: for=6.6.6.6",
		"X-Request-Id: req-123")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body != "hello "+ordersID.String() {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	reqs := f.app.requests()
	if len(reqs) != 1 {
		t.Fatalf("app got %d requests", len(reqs))
	}
	r := reqs[0]
	if got := r.Header.Values(CallerHeader); len(got) != 1 || got[0] != ordersID.String() {
		t.Errorf("X-Rampart-Caller at the app = %q", got)
	}
	if r.Header.Get("X_Rampart_Caller") != "" || r.Header.Get("Forwarded") != "" {
		t.Errorf("spoofable headers reached the app: %v", r.Header)
	}
	if got := r.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the peer's address only", got)
	}
	if got := r.Header.Get("X-Rampart-Identity"); got != "signed.jwt.token" {
		t.Errorf("the gateway's signed identity token was not passed on: %q", got)
	}
	if got := r.Header.Get("X-Request-Id"); got != "req-123" {
		t.Errorf("X-Request-Id = %q", got)
	}
	if r.URL.RequestURI() != "/accounts/7?x=1" {
		t.Errorf("app got %q", r.URL.RequestURI())
	}
	e := f.ev.wait(t, SpoofedHeader, "internal_headers")
	if e.Principal != ordersID.String() || e.RequestID != "req-123" {
		t.Errorf("event %+v", e)
	}
}

func TestInboundUnknownCallerForbidden(t *testing.T) {
	f := newInboundFixture(t)
	resp, body, err := rawRequest(t, f.addr, f.client(t, "intruder"), "GET", "/accounts/7")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var out struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || out.Error != "forbidden" || out.RequestID == "" {
		t.Fatalf("body %q: %v", body, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	e := f.ev.wait(t, Denied, ReasonUnknownCaller)
	if e.Principal != intruderID.String() || e.Detail != "GET /accounts/7" || e.RequestID != out.RequestID || e.ClientIP != "127.0.0.1" {
		t.Errorf("event %+v", e)
	}
	if n := len(f.app.requests()); n != 0 {
		t.Errorf("app got %d requests", n)
	}
}

func TestInboundPolicy(t *testing.T) {
	f := newInboundFixture(t)
	conf := f.client(t, "orders")
	for _, tc := range []struct {
		method, target string
		status         int
		reason         string // of the Denied or BadRequest event
		appPath        string // the path the app must see when allowed
	}{
		{"GET", "/accounts/7", 200, "", "/accounts/7"},
		{"HEAD", "/accounts/7", 200, "", "/accounts/7"}, // GET allows HEAD
		{"GET", "/accounts/7/", 200, "", "/accounts/7/"},
		{"GET", "/static/css/site.css", 200, "", "/static/css/site.css"},
		{"GET", "/static", 200, "", "/static"},
		{"POST", "/orders", 200, "", "/orders"},
		{"DELETE", "/accounts/7", 403, ReasonMethod, ""},
		{"POST", "/accounts/7", 403, ReasonMethod, ""},
		{"GET", "/orders", 403, ReasonMethod, ""},
		{"GET", "/admin", 403, ReasonPath, ""},
		{"GET", "/accounts", 403, ReasonPath, ""},
		{"GET", "/accounts/7/keys", 403, ReasonPath, ""},
		{"GET", "/ACCOUNTS/7", 403, ReasonPath, ""}, // literals are case-sensitive: an allow-list can only fail closed
		{"GET", "/staticfoo", 403, ReasonPath, ""},
		{"CONNECT", "/accounts/7", 400, "connect", ""},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			before := len(f.app.requests())
			resp, _, err := rawRequest(t, f.addr, conf, tc.method, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			reqs := f.app.requests()[before:]
			if tc.status != 200 {
				if len(reqs) != 0 {
					t.Fatalf("a refused request reached the app")
				}
				typ := Denied
				if tc.status == 400 {
					typ = BadRequest
				}
				f.ev.wait(t, typ, tc.reason)
				return
			}
			if len(reqs) != 1 || reqs[0].URL.EscapedPath() != tc.appPath || reqs[0].Method != tc.method {
				t.Fatalf("app got %v", reqs)
			}
		})
	}
}

// Every path trick is either refused or canonicalized, and the policy and
// the app always see the same path.
func TestInboundPathTricks(t *testing.T) {
	f := newInboundFixture(t)
	conf := f.client(t, "orders")
	for _, tc := range []struct {
		target  string
		status  int
		reason  string
		appPath string
	}{
		{"/accounts/1/../admin", 200, "", "/accounts/admin"}, // {id} is "admin", and the app sees exactly that
		{"/accounts/1/../../admin", 403, ReasonPath, ""},
		{"/accounts/%2e%2e/admin", 403, ReasonPath, ""},
		{"/static/../admin", 403, ReasonPath, ""},
		{"/static/%2E%2E/admin/x", 403, ReasonPath, ""},
		{"/accounts/1/../2", 200, "", "/accounts/2"},
		{"//accounts//7", 200, "", "/accounts/7"},
		{"/accounts/./7", 200, "", "/accounts/7"},
		{"/%61ccounts/7", 200, "", "/accounts/7"},
		{"/accounts/1%2f..%2fadmin", 400, "encoded_slash", ""},
		{"/accounts/1%2Fadmin", 400, "encoded_slash", ""},
		{"/accounts/1%5c..%5cadmin", 400, "encoded_backslash", ""},
		{"/accounts/%252e%252e", 400, "double_encoding", ""},
		{"/accounts/..;/admin", 400, "traversal", ""},
		{"/accounts/7;jsessionid=1", 400, "semicolon", ""},
		{"/accounts/7%00", 400, "control_char", ""},
		{"/../accounts/7", 400, "traversal", ""},
		{"http://evil/accounts/7", 400, "request_target_form", ""},
	} {
		t.Run(tc.target, func(t *testing.T) {
			before := len(f.app.requests())
			resp, _, err := rawRequest(t, f.addr, conf, "GET", tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			reqs := f.app.requests()[before:]
			if tc.status != 200 {
				if len(reqs) != 0 {
					t.Fatalf("a refused request reached the app as %q", reqs[0].URL.EscapedPath())
				}
				typ := Denied
				if tc.status == 400 {
					typ = BadRequest
				}
				e := f.ev.wait(t, typ, tc.reason)
				if e.Principal != ordersID.String() {
					t.Errorf("event %+v", e)
				}
				return
			}
			if len(reqs) != 1 || reqs[0].URL.EscapedPath() != tc.appPath {
				t.Fatalf("app got %v, want %s", reqs, tc.appPath)
			}
		})
	}
}

func TestInboundRefusesUpgrade(t *testing.T) {
	f := newInboundFixture(t)
	resp, _, err := rawRequest(t, f.addr, f.client(t, "orders"), "GET", "/accounts/7", "Upgrade: websocket", "Connection: Upgrade")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
	f.ev.wait(t, BadRequest, "upgrade")
	if n := len(f.app.requests()); n != 0 {
		t.Errorf("app got %d requests", n)
	}
}

// A caller whose connection outlives its SVID is refused on that
// connection: the handshake's check is not forever.
func TestInboundPeerSVIDExpiredOnOpenConnection(t *testing.T) {
	f := newInboundFixture(t)
	cert := f.ca.cert(t, ordersID, 1500*time.Millisecond)
	tr := &http.Transport{TLSClientConfig: clientTLS(cert), MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "https://" + f.addr + "/accounts/7"
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Waiting for the certificate's own expiry is the point of the test.
	<-time.After(time.Until(cert.Leaf.NotAfter) + 10*time.Millisecond)
	var reused bool
	req, _ := http.NewRequest("GET", url, nil)
	req = req.WithContext(withGotConn(req.Context(), &reused))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !reused {
		t.Skip("the client did not reuse its connection; nothing to test")
	}
	if resp.StatusCode != http.StatusForbidden || !resp.Close {
		t.Fatalf("status %d close %v", resp.StatusCode, resp.Close)
	}
	f.ev.wait(t, Denied, ReasonPeerExpired)
}

func TestHandshakeRefusals(t *testing.T) {
	f := newInboundFixture(t)
	other := newTestCA(t, testTD2, 0)
	for _, tc := range []struct {
		name   string
		conf   *tls.Config
		reason string
	}{
		{"other trust domain", clientTLS(other.cert(t, testTD2ID, time.Hour)), ReasonUnknownAuthority},
		// Same path, same name, other CA: the name proves nothing.
		{"same ID from another CA", clientTLS(newTestCA(t, testTD, 0).cert(t, ordersID, time.Hour)), ReasonUnknownAuthority},
		{"no client certificate", clientTLS(), ReasonNoClientCert},
		{"TLS 1.2", func() *tls.Config {
			c := clientTLS(f.ca.cert(t, ordersID, time.Hour))
			c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
			return c
		}(), ReasonTLSVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _, err := rawRequest(t, f.addr, tc.conf, "GET", "/accounts/7")
			if err == nil {
				t.Fatalf("got a response: %d", resp.StatusCode)
			}
			e := f.ev.wait(t, HandshakeRefused, tc.reason)
			if e.ClientIP != "127.0.0.1" || e.Severity != event.Medium || e.Principal != "" {
				t.Errorf("event %+v", e)
			}
			if tc.reason == ReasonUnknownAuthority && !strings.Contains(e.Detail, "(unverified)") {
				t.Errorf("the claimed ID is not in the event: %q", e.Detail)
			}
		})
	}
	if n := len(f.app.requests()); n != 0 {
		t.Errorf("app got %d requests", n)
	}
}

// Plaintext is never answered, not even with an error page.
func TestInboundNoPlaintextFallback(t *testing.T) {
	f := newInboundFixture(t)
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /accounts/7 HTTP/1.1\r\nHost: x\r\nX-Rampart-Caller: "+ordersID.String()+"\r\n\r\n")
	b, err := io.ReadAll(c)
	if len(b) != 0 || (err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err)) {
		t.Fatalf("plaintext got %q, %v", b, err)
	}
	f.ev.wait(t, HandshakeRefused, ReasonNotTLS)
	if n := len(f.app.requests()); n != 0 {
		t.Errorf("app got %d requests", n)
	}
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }
