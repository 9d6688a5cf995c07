package gateway

import (
	"strings"
	"testing"
	"time"
)

// PII in a request never reaches the access log in clear: an e-mail in the
// path, a card number and an IBAN in the query.
func TestAccessLogRedactsPII(t *testing.T) {
	up := newUpstream(t, "public", nil)
	g := startGateway(t, plainConfig(up.addr, up.addr, ""))
	raw(t, g.addrs.Gateway, get("/users/ada.lovelace@example.com/cards?pan=4111111111111111&iban=GB82WEST12345698765432"))
	var line string
	for deadline := time.Now().Add(5 * time.Second); ; {
		if line = g.access.String(); strings.Contains(line, "/users/") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line: %q", line)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, pii := range []string{"ada.lovelace@example.com", "4111111111111111", "GB82WEST12345698765432"} {
		if strings.Contains(line, pii) {
			t.Fatalf("access log holds %s in clear: %s", pii, line)
		}
	}
	if !strings.Contains(line, "REDACTED") {
		t.Fatalf("nothing masked: %s", line)
	}
}
