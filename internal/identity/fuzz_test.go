package identity

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/rampart-sec/rampart/internal/identity/wire"
)

func pemKey(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// FuzzParseJoinRequest: the join body comes from unauthenticated clients.
// The parser never panics, and what it accepts has a well-formed token and
// a supported key.
func FuzzParseJoinRequest(f *testing.F) {
	csr := csrPEM(f, newKey(f))
	good, _ := json.Marshal(wire.JoinRequest{Token: "rjt_" + "0123456789012345678901234567890123456789abc", CSR: csr})
	f.Add(good)
	f.Add([]byte(`{"token":"rjt_x","csr":""}`))
	f.Add([]byte(`{"token":1}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, pub, err := parseJoinRequest(body)
		if err != nil {
			return
		}
		if !wellFormedToken(tok) || checkPublicKey(pub) != nil {
			t.Fatalf("accepted token %q key %T", tok, pub)
		}
	})
}

// FuzzParseCSR: arbitrary PEM never panics; an accepted CSR has a checked key.
func FuzzParseCSR(f *testing.F) {
	f.Add([]byte(csrPEM(f, newKey(f))))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := ParseCSR(b)
		if err == nil && checkPublicKey(pub) != nil {
			t.Fatalf("accepted key %T", pub)
		}
	})
}
