package transit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/keys"
	"github.com/rampart-sec/rampart/internal/requestid"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// The gateway's verifier is an Authenticator.
var _ Authenticator = (*authn.Verifier)(nil)

// tokens is a fake Authenticator: token → principal.
type tokens map[string]*principal.Principal

func (t tokens) Verify(_ context.Context, tok string, _ []string) (*principal.Principal, error) {
	if p, ok := t[tok]; ok {
		return p, nil
	}
	return nil, errors.New("bad token")
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Emit(e event.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) last(t *testing.T) event.Event {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		t.Fatal("no event")
	}
	return r.events[len(r.events)-1]
}

type fixture struct {
	srv    *httptest.Server
	keys   *keys.Manager
	events *recorder
}

func newManager(t testing.TB) *keys.Manager {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	kek, err := keys.LoadKEK(base64.StdEncoding.EncodeToString(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.Open(filepath.Join(t.TempDir(), "keys"), kek)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create("users", keys.AEAD); err != nil {
		t.Fatal(err)
	}
	return m
}

func newFixture(t *testing.T, auth Authenticator) *fixture {
	t.Helper()
	m := newManager(t)
	if auth == nil {
		all := []string{"keys:users:encrypt", "keys:users:decrypt", "keys:users:rewrap", "keys:users:datakey",
			"keys:nope:encrypt"}
		auth = tokens{
			"full":    {Subject: "billing", Scopes: all},
			"encrypt": {Subject: "writer", Scopes: []string{"keys:users:encrypt"}},
		}
	}
	rec := &recorder{}
	h, err := New(Options{Keys: m, Auth: auth, Issuers: []string{"rampart"}, Events: rec, MaxBody: 64 << 10, MaxBatch: 10})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, keys: m, events: rec}
}

// call posts body and decodes the JSON answer.
func (f *fixture) call(t *testing.T, token, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: status %d, body %q", path, resp.StatusCode, b)
	}
	return resp.StatusCode, out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func data(t *testing.T, out map[string]any) map[string]any {
	t.Helper()
	d, ok := out["data"].(map[string]any)
	if !ok {
		t.Fatalf("no data in %v", out)
	}
	return d
}

func TestEncryptDecryptRewrap(t *testing.T) {
	f := newFixture(t, nil)
	st, out := f.call(t, "full", "/v1/transit/encrypt/users", `{"plaintext":"`+b64("4111")+`","context":"`+b64("row1")+`"}`)
	if st != 200 {
		t.Fatalf("encrypt %d %v", st, out)
	}
	ct := data(t, out)["ciphertext"].(string)
	if !strings.HasPrefix(ct, "rampart:v1:") || data(t, out)["key_version"].(float64) != 1 {
		t.Fatalf("encrypt: %v", out)
	}
	ev := f.events.last(t)
	if ev.Type != EventOp || ev.Principal != "billing" || ev.Reason != "ok" || !strings.Contains(ev.Detail, "key=\"users\" op=encrypt items=1") {
		t.Fatalf("event %+v", ev)
	}
	if strings.Contains(ev.Detail, "4111") || strings.Contains(ev.Detail, ct) {
		t.Fatalf("event carries data: %+v", ev)
	}

	st, out = f.call(t, "full", "/v1/transit/decrypt/users", `{"ciphertext":"`+ct+`","context":"`+b64("row1")+`"}`)
	if st != 200 || data(t, out)["plaintext"] != b64("4111") {
		t.Fatalf("decrypt %d %v", st, out)
	}

	f.keys.Rotate("users")
	st, out = f.call(t, "full", "/v1/transit/rewrap/users", `{"ciphertext":"`+ct+`","context":"`+b64("row1")+`"}`)
	if st != 200 || !strings.HasPrefix(data(t, out)["ciphertext"].(string), "rampart:v2:") {
		t.Fatalf("rewrap %d %v", st, out)
	}
	f.keys.SetMinDecryptionVersion("users", 2)
	st, out = f.call(t, "full", "/v1/transit/decrypt/users", `{"ciphertext":"`+ct+`","context":"`+b64("row1")+`"}`)
	if st != 400 || out["error"] != "version_too_old" {
		t.Fatalf("old version %d %v", st, out)
	}
}

// An empty plaintext decrypts to an empty plaintext, present in the answer.
func TestEmptyPlaintext(t *testing.T) {
	f := newFixture(t, nil)
	_, out := f.call(t, "full", "/v1/transit/encrypt/users", `{"plaintext":""}`)
	ct := data(t, out)["ciphertext"].(string)
	st, out := f.call(t, "full", "/v1/transit/decrypt/users", `{"ciphertext":"`+ct+`"}`)
	if pt, ok := data(t, out)["plaintext"]; st != 200 || !ok || pt != "" {
		t.Fatalf("%d %v", st, out)
	}
}

func TestAuthRefusals(t *testing.T) {
	f := newFixture(t, nil)
	body := `{"plaintext":"` + b64("x") + `"}`
	for _, tc := range []struct {
		name, token, path string
		status            int
		code              string
		ev                event.Type
	}{
		{"no token", "", "/v1/transit/encrypt/users", 401, "unauthorized", EventUnauthenticated},
		{"bad token", "forged", "/v1/transit/encrypt/users", 401, "unauthorized", EventUnauthenticated},
		{"scope for another op", "encrypt", "/v1/transit/decrypt/users", 403, "forbidden", EventForbidden},
		{"scope for another key", "encrypt", "/v1/transit/encrypt/orders", 403, "forbidden", EventForbidden},
		{"no datakey scope", "encrypt", "/v1/transit/datakey/plaintext/users", 403, "forbidden", EventForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := f.call(t, tc.token, tc.path, body)
			if st != tc.status || out["error"] != tc.code {
				t.Fatalf("got %d %v", st, out)
			}
			ev := f.events.last(t)
			if ev.Type != tc.ev || ev.Severity != event.Medium {
				t.Fatalf("event %+v", ev)
			}
		})
	}
	// The legitimate call with the right scope passes.
	if st, out := f.call(t, "encrypt", "/v1/transit/encrypt/users", body); st != 200 {
		t.Fatalf("legit %d %v", st, out)
	}
	if ev := f.events.last(t); ev.Principal != "writer" || ev.Type != EventOp {
		t.Fatalf("event %+v", ev)
	}
}

func TestRequestRefusals(t *testing.T) {
	f := newFixture(t, nil)
	ct, _ := f.keys.Encrypt("users", []byte("x"), nil)
	tampered := ct[:len(ct)-6] + "AAAA" + ct[len(ct)-2:]
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"unknown key", "/v1/transit/encrypt/nope", `{"plaintext":""}`, 404, "unknown_key"},
		{"invalid key name", "/v1/transit/encrypt/us%0Aers", `{"plaintext":""}`, 404, "unknown_key"},
		{"malformed ciphertext", "/v1/transit/decrypt/users", `{"ciphertext":"vault:v1:AAAA"}`, 400, "bad_ciphertext"},
		{"tampered ciphertext", "/v1/transit/decrypt/users", `{"ciphertext":"` + tampered + `"}`, 400, "decrypt_failed"},
		{"wrong context", "/v1/transit/decrypt/users", `{"ciphertext":"` + ct + `","context":"` + b64("other") + `"}`, 400, "decrypt_failed"},
		{"bad base64", "/v1/transit/encrypt/users", `{"plaintext":"***"}`, 400, "bad_input"},
		{"unknown field", "/v1/transit/encrypt/users", `{"plaintext":"","nonce":"AAAA"}`, 400, "bad_request"},
		{"not json", "/v1/transit/encrypt/users", `plaintext=x`, 400, "bad_request"},
		{"too large", "/v1/transit/encrypt/users", `{"plaintext":"` + strings.Repeat("A", 70<<10) + `"}`, 413, "too_large"},
		{"batch too large", "/v1/transit/encrypt/users", `{"batch_input":[` + strings.Repeat(`{},`, 10) + `{}]}`, 400, "batch_too_large"},
		{"batch and single", "/v1/transit/encrypt/users", `{"plaintext":"eA==","batch_input":[{}]}`, 400, "bad_request"},
		{"bad bits", "/v1/transit/datakey/wrapped/users", `{"bits":100}`, 400, "bad_input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A client's own X-Request-Id is not believed: the refusal
			// and its event carry the id the server made.
			st, out := f.call(t, "full", tc.path, tc.body, "X-Request-Id", "forged-id")
			if st != tc.status || out["error"] != tc.code || len(out) != 2 {
				t.Fatalf("got %d %v", st, out)
			}
			ev := f.events.last(t)
			if ev.Reason != tc.code {
				t.Fatalf("event %+v", ev)
			}
			if id, _ := out["request_id"].(string); !requestid.Valid(id) || id == "forged-id" || id != ev.RequestID {
				t.Fatalf("request id %q in the answer, %q in the event", id, ev.RequestID)
			}
		})
	}
	if ev := f.events.last(t); ev.Severity != event.Info {
		t.Fatalf("bad_input event severity %v", ev.Severity)
	}
}

func TestBatchMixed(t *testing.T) {
	f := newFixture(t, nil)
	good, _ := f.keys.Encrypt("users", []byte("one"), []byte("c1"))
	other, _ := f.keys.Encrypt("users", []byte("two"), nil)
	body := `{"batch_input":[
		{"ciphertext":"` + good + `","context":"` + b64("c1") + `"},
		{"ciphertext":"garbage"},
		{"ciphertext":"` + other + `","context":"` + b64("c1") + `"},
		{"ciphertext":"` + other + `"}]}`
	st, out := f.call(t, "full", "/v1/transit/decrypt/users", body)
	if st != 200 {
		t.Fatalf("%d %v", st, out)
	}
	res := data(t, out)["batch_results"].([]any)
	want := []string{"plaintext:" + b64("one"), "error:bad_ciphertext", "error:decrypt_failed", "plaintext:" + b64("two")}
	for i, r := range res {
		m := r.(map[string]any)
		got := ""
		for k, v := range m {
			got = k + ":" + v.(string)
		}
		if len(m) != 1 || got != want[i] {
			t.Errorf("item %d: %v, want %s", i, m, want[i])
		}
	}
	ev := f.events.last(t)
	if ev.Severity != event.Low || ev.Reason != "decrypt_failed" || !strings.Contains(ev.Detail, "items=4 failed=2") {
		t.Fatalf("event %+v", ev)
	}

	st, out = f.call(t, "full", "/v1/transit/encrypt/users", `{"batch_input":[{"plaintext":"`+b64("a")+`"},{"plaintext":"!"}]}`)
	res = data(t, out)["batch_results"].([]any)
	if st != 200 || len(res) != 2 || res[1].(map[string]any)["error"] != "bad_input" {
		t.Fatalf("%d %v", st, out)
	}
}

func TestDataKey(t *testing.T) {
	f := newFixture(t, nil)
	st, out := f.call(t, "full", "/v1/transit/datakey/plaintext/users", `{"context":"`+b64("svc")+`"}`)
	d := data(t, out)
	key, _ := base64.StdEncoding.DecodeString(d["plaintext"].(string))
	if st != 200 || len(key) != 32 {
		t.Fatalf("%d %v", st, out)
	}
	got, err := f.keys.Decrypt("users", d["ciphertext"].(string), []byte("svc"))
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("unwrap: %v", err)
	}
	st, out = f.call(t, "full", "/v1/transit/datakey/wrapped/users", `{"bits":512}`)
	if d := data(t, out); st != 200 || d["plaintext"] != nil || d["ciphertext"] == nil {
		t.Fatalf("wrapped %d %v", st, out)
	}
}

func TestMethodAndPath(t *testing.T) {
	f := newFixture(t, nil)
	resp, err := f.srv.Client().Get(f.srv.URL + "/v1/transit/encrypt/users")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}

// With the gateway's real verifier: a client-credentials token with the
// key's scope passes, the same token for another key does not.
func TestWithAuthnVerifier(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	v, err := authn.NewVerifier([]authn.IssuerConfig{{
		Name: "rampart", Issuer: "https://idp.test", HMACSecret: secret,
		Audiences: []string{"keys"}, Algorithms: []string{"HS256"},
	}}, authn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := json.Marshal(map[string]any{"iss": "https://idp.test", "aud": "keys", "sub": "billing",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "scope": "keys:users:encrypt"})
	jws, err := signer.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jws.CompactSerialize()

	f := newFixture(t, v)
	if st, out := f.call(t, tok, "/v1/transit/encrypt/users", `{"plaintext":""}`); st != 200 {
		t.Fatalf("legit: %d %v", st, out)
	}
	if st, _ := f.call(t, tok, "/v1/transit/decrypt/users", `{"ciphertext":"rampart:v1:AAAA"}`); st != 403 {
		t.Fatalf("decrypt with encrypt scope: %d", st)
	}
	if st, _ := f.call(t, tok[:len(tok)-2]+"xx", "/v1/transit/encrypt/users", `{"plaintext":""}`); st != 401 {
		t.Fatalf("forged token: %d", st)
	}
}

// A batch for a key that does not exist fails as a whole.
func TestBatchUnknownKey(t *testing.T) {
	f := newFixture(t, nil)
	st, out := f.call(t, "full", "/v1/transit/encrypt/nope", `{"batch_input":[{"plaintext":""}]}`)
	if st != 404 || out["error"] != "unknown_key" {
		t.Fatalf("%d %v", st, out)
	}
}
