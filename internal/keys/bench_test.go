package keys

import (
	"bytes"
	"testing"

	"github.com/rampart-sec/rampart/sdk/fieldcrypt"
)

// BenchmarkManagedFieldcrypt64 is BenchmarkFieldcrypt64 over a keyring of
// this package (tink keyset primitives, looked up per call).
func BenchmarkManagedFieldcrypt64(b *testing.B) {
	m, _, _ := newManager(b)
	mustCreate(b, m, "pii", AEAD)
	k, _ := m.Keyring("pii")
	c, err := fieldcrypt.New(fieldcrypt.Options{Keyring: k})
	if err != nil {
		b.Fatal(err)
	}
	pt := bytes.Repeat([]byte("x"), 64)
	b.ReportAllocs()
	for b.Loop() {
		ct, err := c.Encrypt("record-123", "Email", pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Decrypt("record-123", "Email", ct); err != nil {
			b.Fatal(err)
		}
	}
}
