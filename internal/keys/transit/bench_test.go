package transit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkTransitEncrypt is one 64-byte encrypt through the handler
// (authentication by a fake verifier, scope check, JSON, event), without
// the network.
func BenchmarkTransitEncrypt(b *testing.B) {
	item := `{"plaintext":"` + b64(strings.Repeat("x", 64)) + `","context":"` + b64("row-1") + `"}`
	b.Run("single", func(b *testing.B) { benchEncrypt(b, item) })
	// A batch of 100 items: the per-call costs (token, JSON, event) are paid once.
	batch := `{"batch_input":[` + strings.Repeat(item+",", 99) + item + `]}`
	b.Run("batch100", func(b *testing.B) { benchEncrypt(b, batch) })
}

func benchEncrypt(b *testing.B, body string) {
	h, err := New(Options{Keys: newManager(b), Issuers: []string{"rampart"},
		Auth: tokens{"t": {Subject: "svc", Scopes: []string{"keys:users:encrypt"}}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/transit/encrypt/users", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer t")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
