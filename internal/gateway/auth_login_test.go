package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/oidclogin/oidctest"
)

// freePort finds a loopback port for a gateway whose callback URL must be
// configured before it starts.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Browser login end to end: a real OpenID provider on 127.0.0.1, a browser
// with a cookie jar driven hop by hop: redirect to the provider, callback,
// session; the service gets the identity and never the session cookie;
// cross-site writes and API clients without a session are refused; logout
// ends the session.
func TestBrowserLoginEndToEnd(t *testing.T) {
	op := oidctest.New(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "op-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: op.Certificate().Raw}), 0o600)
	t.Setenv("TEST_LOGIN_SECRET", op.ClientSecret)
	t.Setenv("TEST_SESSION_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	addr := freePort(t)
	base := "https://" + addr
	op.RedirectURL = base + "/.rampart/callback"
	up := newUpstream(t, "web", nil)
	g := startGateway(t, fmt.Sprintf(`
gateway:
  listen: %q
  admin: 127.0.0.1:0
log: {access: stdout}
issuers:
  - {name: corp, issuer: %q, jwks_uri: %q, ca_file: %q, audiences: [gateway], algorithms: [ES256]}
login:
  issuer: corp
  client_id: %q
  client_secret: "${TEST_LOGIN_SECRET}"
  redirect_url: %q
  cookie_key: "${TEST_SESSION_KEY}"
upstreams:
  web: {targets: ["http://%s"]}
routes:
  - name: app
    match: {path: "/app/*"}
    upstream: web
    auth: {login: true}
    allow: '"admin" in principal.roles'
`, addr, op.Issuer(), op.Issuer()+"/jwks", caFile, op.ClientID, op.RedirectURL, up.addr))
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + g.addrs.Admin + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), `"login":"ready"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("login never became ready")
		}
		time.Sleep(10 * time.Millisecond)
	}

	roots := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(g.addrs.CAFile)
	roots.AppendCertsFromPEM(pemBytes)
	roots.AddCert(op.Certificate())
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, u string, hdr ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, u, nil)
		req.Header.Set("Accept", "text/html")
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	location := func(r *http.Response) string {
		t.Helper()
		if r.StatusCode/100 != 3 {
			t.Fatalf("status %d, want a redirect", r.StatusCode)
		}
		return r.Header.Get("Location")
	}

	// 1. No session: to the provider, with PKCE S256.
	toOP := location(do("GET", base+"/app/home"))
	if u, _ := url.Parse(toOP); !strings.HasPrefix(toOP, op.Issuer()) || u.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("redirect to %s", toOP)
	}
	g.events.waitFor(t, event.AuthnFailed, "login_required")
	// 2. The provider sends the browser back; 3. the callback sets the session.
	toGW := location(do("GET", toOP))
	home := location(do("GET", toGW))
	if home != "/app/home" {
		t.Fatalf("after the callback: %s", home)
	}
	// 4. The session works; the service gets the identity, not the cookie.
	gwURL, _ := url.Parse(base)
	jar.SetCookies(gwURL, []*http.Cookie{{Name: "theme", Value: "dark"}})
	if r := do("GET", base+"/app/home"); r.StatusCode != 200 {
		t.Fatalf("with a session: %d", r.StatusCode)
	}
	seen := up.last(t)
	if seen.Header.Get("X-Rampart-Subject") != "alice" || seen.Header.Get("X-Rampart-Identity") == "" {
		t.Fatalf("upstream identity: %v", seen.Header)
	}
	if c := seen.Header.Get("Cookie"); strings.Contains(c, "rampart") || !strings.Contains(c, "theme=dark") {
		t.Fatalf("upstream cookies: %q", c)
	}
	// 5. Writes must come from the gateway's own pages.
	if r := do("POST", base+"/app/form", "Sec-Fetch-Site", "same-site"); r.StatusCode != 400 {
		t.Fatalf("cross-site write: %d", r.StatusCode)
	}
	g.events.waitFor(t, event.AuthnFailed, "cross_site_request")
	if r := do("POST", base+"/app/form", "Sec-Fetch-Site", "same-origin"); r.StatusCode != 200 {
		t.Fatalf("same-origin write: %d", r.StatusCode)
	}
	// 6. An API client without a session gets 401, not a redirect.
	req, _ := http.NewRequest("GET", base+"/app/data", nil)
	req.Header.Set("Accept", "application/json")
	api := &http.Client{Transport: browser.Transport, CheckRedirect: browser.CheckRedirect}
	if resp, err := api.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("API client: %v %v", resp, err)
	}
	// 7. A forged callback (state that is not the browser's) is refused.
	if r := do("GET", base+"/.rampart/callback?code=x&state=forged"); r.StatusCode/100 != 4 {
		t.Fatalf("forged callback: %d", r.StatusCode)
	}
	// 8. Logout ends the session.
	do("GET", base+"/.rampart/logout")
	if r := do("GET", base+"/app/home"); r.StatusCode != http.StatusFound {
		t.Fatalf("after logout: %d", r.StatusCode)
	}
	if s := op.Seen(); len(s.Refusals) != 0 || s.Replays != 0 {
		t.Fatalf("provider refused: %+v", s)
	}
}
