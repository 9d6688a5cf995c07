package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/rampart-sec/rampart/internal/identity"
	"github.com/rampart-sec/rampart/internal/token/store"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

// tokenSteps show the token service, request validation, the transit API
// and revocation. They come last: the final one revokes the demo client.
func (t *tour) tokenSteps(ts *tokenService, status func(int, ...string) func(*http.Response, string) error) []step {
	curl := "curl -s --cacert " + t.addrs.CAFile
	secretFile := filepath.Join(ts.dir, demoCLI+".secret")
	getToken := "TOKEN=$(" + curl + " -u " + demoCLI + `:$(cat ` + secretFile + `) -d grant_type=client_credentials -d 'scope=orders:read keys:pii:encrypt' ` +
		ts.issuer + `/oauth2/token | sed -E 's/.*"access_token":"([^"]+)".*/\1/')`
	bearer := func(method, path, ctype, body string) func(string) (*http.Request, error) {
		return func(base string) (*http.Request, error) {
			tok, err := t.clientToken(ts)
			if err != nil {
				return nil, err
			}
			r, err := http.NewRequest(method, base+path, strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			r.URL.Opaque = path
			r.Header.Set("Authorization", "Bearer "+tok)
			if ctype != "" {
				r.Header.Set("Content-Type", ctype)
			}
			return r, nil
		}
	}
	post := func(path, body string) string {
		return curl + ` -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '` + body + `' ` + t.base + path
	}
	return []step{
		{
			title: "The token service (rampart token) issues a client-credentials token; the gateway accepts it on /orders",
			curl:  getToken + "\n    " + curl + ` -H "Authorization: Bearer $TOKEN" ` + t.base + "/orders",
			req:   bearer(http.MethodGet, "/orders", "", ""),
			want:  status(200, `"item":"notebook"`),
		},
		{
			title: "An order that breaks the OpenAPI schema (qty must be an integer) is refused before the service sees it",
			curl:  post("/orders", `{"item":"pen","qty":"lots"}`),
			req:   bearer(http.MethodPost, "/orders", "application/json", `{"item":"pen","qty":"lots"}`),
			want:  status(400, `"error":"bad_request"`, `"request_id"`),
		},
		{
			title: "...so is a field the schema does not declare (reject_unknown_fields)",
			curl:  post("/orders", `{"item":"pen","qty":1,"price":0}`),
			req:   bearer(http.MethodPost, "/orders", "application/json", `{"item":"pen","qty":1,"price":0}`),
			want:  status(400, `"error":"bad_request"`),
		},
		{
			title: "A SQL injection attempt is blocked by the WAF (OWASP CRS): 403 and a waf_match event naming the rules",
			curl:  curl + ` -H "Authorization: Bearer $TOKEN" "` + t.base + `/orders?q=1%27%20OR%20%271%27=%271%27--"`,
			req:   bearer(http.MethodGet, "/orders?q=1%27%20OR%20%271%27=%271%27--", "", ""),
			want:  status(403, `"error":"forbidden"`),
		},
		{
			title: "A valid order goes through",
			curl:  post("/orders", `{"account":"42","item":"pen","qty":3}`),
			req:   bearer(http.MethodPost, "/orders", "application/json", `{"account":"42","item":"pen","qty":3}`),
			want:  status(201, `"item":"pen"`),
		},
		{
			title: "The transit API encrypts with the pii keyring (scope keys:pii:encrypt); the service never holds the key",
			curl:  post("/v1/transit/encrypt/pii", `{"plaintext":"MDc4LTA1LTExMjA="}`),
			req:   bearer(http.MethodPost, "/v1/transit/encrypt/pii", "application/json", `{"plaintext":"MDc4LTA1LTExMjA="}`),
			want:  status(200, `"ciphertext":"rampart:v1:`),
		},
		{
			title: "...but this client may not decrypt (no keys:pii:decrypt): 403, with the request id of its keys_transit_forbidden event",
			curl:  post("/v1/transit/decrypt/pii", `{"ciphertext":"rampart:v1:AAAA"}`),
			req:   bearer(http.MethodPost, "/v1/transit/decrypt/pii", "application/json", `{"ciphertext":"rampart:v1:AAAA"}`),
			want:  status(403, `"error":"forbidden"`, `"request_id":"`),
		},
		{
			title: "The workload CA limits join calls per address (10 at once, 30 a minute): a flood of token guesses gets 429 (svid_refused, reason rate_limited)",
			// The CA's certificate names a SPIFFE ID, not a host, which curl
			// cannot check (hence -k); sdk/mtls and this step's check do.
			curl:  "for i in $(seq 11); do curl -s -k -d '{\"token\":\"rjt_guess\",\"csr\":\"\"}' " + t.caURL + "/v1/join; echo; done",
			local: t.joinFlood,
		},
		{
			title: "Services talk over mTLS only: orders reads order 1001's account from accounts (its sidecar allows orders GET /accounts/{id})",
			curl:  curl + ` -H "Authorization: Bearer $TOKEN" ` + t.base + "/orders/1001/account",
			req:   bearer(http.MethodGet, "/orders/1001/account", "", ""),
			want:  status(200, `"name":"Ada Lovelace"`),
		},
		{
			title: "...and nothing else: its call for the payment details is refused by the accounts sidecar (a mesh_denied event); orders answers 502",
			curl:  curl + ` -H "Authorization: Bearer $TOKEN" ` + t.base + "/orders/1001/payment",
			req:   bearer(http.MethodGet, "/orders/1001/payment", "", ""),
			want:  status(502, `"accounts_status":403`),
		},
		{
			title: "Browser login: /me in a browser goes to the token service's login page; after it, the gateway holds a session",
			curl: "open " + t.base + "/me in a browser and sign in as alice (password in " + filepath.Join(ts.dir, "alice.password") +
				"); the session cookie is the gateway's, the service never sees it",
			local: func() error { return t.browserLogin(ts) },
		},
		{
			title: "Revoking the client at the token service reaches the gateway through the revocation feed: its token stops working",
			curl: "rampart token clients revoke " + demoCLI + " --store " + ts.storePath + " --key-file " + filepath.Join(ts.dir, "kek") +
				"\n    " + curl + ` -i -H "Authorization: Bearer $TOKEN" ` + t.base + "/orders",
			local: func() error { return t.revokeClient(ts) },
		},
	}
}

// clientToken gets (once) an access token for the demo client.
func (t *tour) clientToken(ts *tokenService) (string, error) {
	if t.ccToken != "" {
		return t.ccToken, nil
	}
	c, err := t.client(nil)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest(http.MethodPost, ts.issuer+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read keys:pii:encrypt"}}.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(demoCLI, ts.secrets[demoCLI])
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		return "", fmt.Errorf("client credentials grant: status %d: %v", resp.StatusCode, err)
	}
	t.ccToken = out.AccessToken
	return t.ccToken, nil
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// browserLogin does what a browser does: follow the gateway to the login
// page, sign in as alice, come back through the callback and read /me with
// the session cookie.
func (t *tour) browserLogin(ts *tokenService) error {
	base, err := t.client(nil)
	if err != nil {
		return err
	}
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Transport: base.Transport, Jar: jar, Timeout: 10 * time.Second}
	get := func(u string) (*http.Response, string, error) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := b.Do(req)
		if err != nil {
			return nil, "", err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return resp, string(body), nil
	}
	resp, page, err := get(t.base + "/me")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
		return fmt.Errorf("/me in a browser: status %d at %s, want the login page", resp.StatusCode, resp.Request.URL)
	}
	form := url.Values{"username": {"alice"}, "password": {ts.passwords["alice"]}}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], htmlUnescape(m[2]))
	}
	resp, err = b.PostForm(ts.issuer+"/login", form)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"subject":"42"`) || !strings.Contains(string(body), `"method":"session"`) {
		return fmt.Errorf("after login: status %d %q, want alice's /me through a session", resp.StatusCode, clip(string(body)))
	}
	return nil
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`).Replace(s)
}

// revokeClient revokes the demo client in the token store (what `rampart
// token clients revoke` does) and waits for the gateway to refuse its token.
func (t *tour) revokeClient(ts *tokenService) error {
	tok, err := t.clientToken(ts)
	if err != nil {
		return err
	}
	st, err := store.Open(context.Background(), ts.storePath, store.Options{KEK: ts.kek})
	if err != nil {
		return err
	}
	now := time.Now()
	err = st.RevokeClient(context.Background(), demoCLI, now, now.Add(time.Hour))
	st.Close()
	if err != nil {
		return err
	}
	c, err := t.client(nil)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, t.base+"/orders", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			return nil
		}
	}
	return errors.New("the revoked client's token still works after 10 s")
}

// joinFlood sends the CA join calls with a made-up token until it answers
// 429; more than the limit's burst (10) of them is a failure.
func (t *tour) joinFlood() error {
	bundle, err := x509bundle.Load(demoTD, t.meshBundle)
	if err != nil {
		return fmt.Errorf("read the CA bundle: %w", err)
	}
	caID := spiffeid.RequireFromPath(demoTD, "/rampart/ca")
	c := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsconfig.TLSClientConfig(bundle, tlsconfig.AuthorizeID(caID))}}
	for i := 1; i <= identity.DefaultJoinLimit.Burst+1; i++ {
		resp, err := c.Post(t.caURL+"/v1/join", "application/json", strings.NewReader(`{"token":"rjt_guess","csr":""}`))
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusBadRequest, http.StatusUnauthorized:
			continue
		case http.StatusTooManyRequests:
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"rate_limited"`) {
				return fmt.Errorf("429 without Retry-After or reason: %q", clip(string(body)))
			}
			return nil
		default:
			return fmt.Errorf("join guess %d: status %d (body %q)", i, resp.StatusCode, clip(string(body)))
		}
	}
	return fmt.Errorf("%d join guesses were all answered; want 429 after %d", identity.DefaultJoinLimit.Burst+1, identity.DefaultJoinLimit.Burst)
}
