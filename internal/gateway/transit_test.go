package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rampart-sec/rampart/internal/keys"
	"github.com/rampart-sec/rampart/internal/keys/transit"
)

// The transit API mounted on the gateway: a client with the key's encrypt
// scope encrypts, one without decrypt cannot decrypt, the canonical path is
// what the API sees, and other paths still go through the routes.
func TestTransitOnGateway(t *testing.T) {
	kek := make([]byte, 32)
	rand.Read(kek)
	t.Setenv(keys.KEKEnv, base64.StdEncoding.EncodeToString(kek))
	dir := t.TempDir()
	aead, err := keys.LoadKEK(base64.StdEncoding.EncodeToString(kek), "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.Open(dir, aead)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create("pii", keys.AEAD); err != nil {
		t.Fatal(err)
	}

	idp := newTestIdP(t)
	up := newUpstream(t, "accounts", nil)
	g := startGateway(t, authConfig(idp.srv.URL, up.addr)+fmt.Sprintf("transit: {issuers: [idp], dir: %q}\n", dir))
	waitIssuer(t, g.addrs.Admin, "idp")

	post := func(path, tok, body string) (int, string) {
		status, _, resp := raw(t, g.addrs.Gateway, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test.local\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", path, tok, len(body), body))
		return status, resp
	}
	writer := idp.token(t, idp.key, "svc-orders", "keys:pii:encrypt")
	status, body := post("/v1/transit/encrypt/pii", writer, `{"plaintext":"MDc4LTA1LTExMjA="}`)
	var enc struct {
		Data struct {
			Ciphertext string `json:"ciphertext"`
		} `json:"data"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &enc) != nil || !strings.HasPrefix(enc.Data.Ciphertext, "rampart:v1:") {
		t.Fatalf("encrypt: %d %s", status, body)
	}
	decrypt := fmt.Sprintf(`{"ciphertext":%q}`, enc.Data.Ciphertext)
	// The refusal carries the gateway's request id (not one the client
	// made up), as its event does.
	status, hdr, body := raw(t, g.addrs.Gateway, fmt.Sprintf("POST /v1/transit/decrypt/pii HTTP/1.1\r\nHost: test.local\r\nAuthorization: Bearer %s\r\n"+
		"X-Request-Id: forged-by-client\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", writer, len(decrypt), decrypt))
	var refused struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	json.Unmarshal([]byte(body), &refused)
	if status != 403 || refused.Error != "forbidden" {
		t.Fatalf("decrypt without keys:pii:decrypt: %d %s", status, body)
	}
	if id := hdr.Get("X-Request-Id"); id == "" || id == "forged-by-client" || refused.RequestID != id {
		t.Fatalf("request id %q in the header, %q in the body", id, refused.RequestID)
	}
	ev := g.events.waitFor(t, transit.EventForbidden, "")
	if ev.RequestID != refused.RequestID || ev.ClientIP != "127.0.0.1" {
		t.Fatalf("event %+v, want request id %s and the client address", ev, refused.RequestID)
	}
	reader := idp.token(t, idp.key, "svc-billing", "keys:pii:decrypt")
	// Dot segments are resolved before the API sees the path.
	if status, body := post("/v1/transit/x/../decrypt/pii", reader, decrypt); status != 200 || !strings.Contains(body, `"plaintext":"MDc4LTA1LTExMjA="`) {
		t.Fatalf("decrypt: %d %s", status, body)
	}
	if status, _ := post("/v1/transit/encrypt/pii", "not-a-token", `{"plaintext":"eA=="}`); status != 401 {
		t.Fatalf("bad token: %d", status)
	}
	// Outside the prefix, routing is unchanged.
	if status, _, _ := raw(t, g.addrs.Gateway, get("/v1/transitx")); status != 200 {
		t.Fatalf("a public route next to the prefix: %d", status)
	}
}
