package fieldcrypt

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func randKey(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

type customer struct {
	ID       string
	Email    string `fieldcrypt:"pii"`
	EmailIdx string `fieldcrypt:"blind=Email"`
	SSN      string `fieldcrypt:"pii,deterministic,name=ssn"`
	Phone    string `fieldcrypt:"pii"`
	Plan     string
}

func newCrypter(t testing.TB) (*Crypter, [][]byte) {
	t.Helper()
	aeadKeys := [][]byte{randKey(32)}
	k, err := NewKeyring(Randomized, aeadKeys...)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewKeyring(Deterministic, randKey(64))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Keyring: k, Deterministic: d, IndexKey: randKey(32)})
	if err != nil {
		t.Fatal(err)
	}
	return c, aeadKeys
}

func TestSealOpen(t *testing.T) {
	c, _ := newCrypter(t)
	orig := customer{ID: "c1", Email: "ann@example.com", SSN: "078-05-1120", Plan: "gold"}
	u := orig
	if err := c.Seal(u.ID, &u); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.Email, "rampart:v1:") || !strings.HasPrefix(u.SSN, "rampart:v1:") || u.Plan != "gold" {
		t.Fatalf("sealed: %+v", u)
	}
	if u.Phone != "" {
		t.Fatalf("empty field sealed: %q", u.Phone)
	}
	idx, _ := c.BlindIndex("Email", []byte("ann@example.com"))
	if u.EmailIdx != idx || len(idx) != 22 {
		t.Fatalf("index %q, want %q", u.EmailIdx, idx)
	}
	// Lookups: the deterministic value and the blind index of a query
	// equal what was stored.
	if q, _ := c.EncryptDeterministic("ssn", []byte("078-05-1120")); q != u.SSN {
		t.Fatalf("deterministic lookup %q != %q", q, u.SSN)
	}
	if err := c.Seal(u.ID, &u); err == nil || !strings.Contains(err.Error(), "already sealed") {
		t.Fatalf("double seal: %v", err)
	}
	if err := c.Open(u.ID, &u); err != nil {
		t.Fatal(err)
	}
	orig.EmailIdx = idx
	if u != orig {
		t.Fatalf("opened %+v, want %+v", u, orig)
	}
}

// A sealed value copied to another record or another field does not open,
// and a tampered one does not either; v stays as it was.
func TestBinding(t *testing.T) {
	c, _ := newCrypter(t)
	a := customer{ID: "a", Email: "a@example.com", Phone: "+1 555 0100"}
	b := customer{ID: "b", Email: "b@example.com", Phone: "+1 555 0199"}
	c.Seal(a.ID, &a)
	c.Seal(b.ID, &b)

	row := b
	row.Email = a.Email // copied from another row
	if err := c.Open(row.ID, &row); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("other row: %v", err)
	}
	if row.Email != a.Email || row.Phone != b.Phone {
		t.Fatal("a failed Open changed the struct")
	}
	row = a
	row.Phone = a.Email // copied from another field
	if err := c.Open(row.ID, &row); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("other field: %v", err)
	}
	row = a
	ver, body, _ := ParseCiphertext(a.Email)
	body[0] ^= 0x80
	row.Email = FormatCiphertext(ver, body)
	if err := c.Open(row.ID, &row); !errors.Is(err, ErrDecrypt) || strings.Contains(err.Error(), "a@example.com") {
		t.Fatalf("tampered: %v", err)
	}
	row.Email = "a@example.com"
	if err := c.Open(row.ID, &row); !errors.Is(err, ErrMalformedCiphertext) {
		t.Fatalf("plaintext where a ciphertext belongs: %v", err)
	}
	// The legitimate record opens.
	if err := c.Open(a.ID, &a); err != nil || a.Email != "a@example.com" {
		t.Fatalf("legit: %v %q", err, a.Email)
	}
}

func TestRotate(t *testing.T) {
	c, ks := newCrypter(t)
	u := customer{ID: "c1", Email: "ann@example.com", SSN: "078-05-1120"}
	c.Seal(u.ID, &u)
	oldSSN := u.SSN

	// A new AEAD version; the deterministic keyring stays.
	k2, _ := NewKeyring(Randomized, ks[0], randKey(32))
	c2, _ := New(Options{Keyring: k2, Deterministic: c.o.Deterministic, IndexKey: c.o.IndexKey})
	changed, err := c2.Rotate(u.ID, &u)
	if err != nil || !changed || !strings.HasPrefix(u.Email, "rampart:v2:") || u.SSN != oldSSN {
		t.Fatalf("rotate: %v %v %+v", changed, err, u)
	}
	if changed, err := c2.Rotate(u.ID, &u); err != nil || changed {
		t.Fatalf("second rotate: %v %v", changed, err)
	}
	if err := c2.Open(u.ID, &u); err != nil || u.Email != "ann@example.com" {
		t.Fatalf("open after rotate: %v %+v", err, u)
	}
	// Version 2 is unknown to the old keyring.
	u2 := customer{ID: "c2", Email: "x@example.com"}
	c2.Seal(u2.ID, &u2)
	if err := c.Open(u2.ID, &u2); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("unknown version: %v", err)
	}
}

func TestBlindIndex(t *testing.T) {
	c, _ := newCrypter(t)
	a, _ := c.BlindIndex("Email", []byte("x"))
	b, _ := c.BlindIndex("Email", []byte("x"))
	other, _ := c.BlindIndex("Name", []byte("x"))
	if a != b || a == other {
		t.Fatalf("%q %q %q", a, b, other)
	}
	c2, _ := New(Options{IndexKey: randKey(32), IndexBytes: 8})
	if x, _ := c2.BlindIndex("Email", []byte("x")); x == a || len(x) != 11 {
		t.Fatalf("another key or size: %q", x)
	}
	if _, err := New(Options{IndexKey: randKey(16)}); err == nil {
		t.Fatal("short index key accepted")
	}
	if _, err := New(Options{IndexKey: randKey(32), IndexBytes: 2}); err == nil {
		t.Fatal("2-byte index accepted")
	}
}

func TestTagErrors(t *testing.T) {
	c, _ := newCrypter(t)
	for _, v := range []any{
		&struct {
			A int `fieldcrypt:"pii"`
		}{},
		&struct {
			A string `fieldcrypt:"secret"`
		}{},
		&struct {
			A string `fieldcrypt:"pii,fast"`
		}{},
		&struct {
			A string `fieldcrypt:"blind=B"`
		}{},
		customer{},
		(*customer)(nil),
		&struct{ customer }{},
		&struct{ C *customer }{},
	} {
		if err := c.Seal("r", v); err == nil {
			t.Errorf("%T accepted", v)
		}
	}
}

func TestMissingKeyring(t *testing.T) {
	c, _ := New(Options{IndexKey: randKey(32)})
	u := customer{ID: "1", Email: "x"}
	if err := c.Seal(u.ID, &u); err == nil || u.Email != "x" {
		t.Fatalf("sealed without keyring: %v %+v", err, u)
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("empty options accepted")
	}
	if _, err := NewKeyring(Randomized, randKey(16)); err == nil {
		t.Fatal("16-byte key accepted")
	}
	if _, err := NewKeyring(Deterministic, randKey(32)); err == nil {
		t.Fatal("32-byte SIV key accepted")
	}
}

func TestCiphertextFormat(t *testing.T) {
	body := []byte{1, 2, 3}
	s := FormatCiphertext(42, body)
	if s != "rampart:v42:AQID" {
		t.Fatalf("%q", s)
	}
	v, b, err := ParseCiphertext(s)
	if err != nil || v != 42 || !bytes.Equal(b, body) {
		t.Fatalf("%d %v %v", v, b, err)
	}
	for _, bad := range []string{"", "rampart:v", "rampart:v1", "rampart:v1:", "rampart:v0:AQID", "rampart:v01:AQID",
		"rampart:v-1:AQID", "rampart:v+1:AQID", "rampart:v2147483648:AQID", "rampart:v99999999999:AQID",
		"rampart:v1:AQI", "rampart:v1:AQID\n", "Rampart:v1:AQID", "rampart:v1:AQ-D", "rampart:v1:AQ=D"} {
		if _, _, err := ParseCiphertext(bad); !errors.Is(err, ErrMalformedCiphertext) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParseCiphertext(f *testing.F) {
	f.Add("rampart:v1:AQID")
	f.Add("rampart:v2147483647:AAAA")
	f.Add("rampart:v1:")
	f.Add("rampart:v00:AA==")
	f.Fuzz(func(t *testing.T, s string) {
		v, body, err := ParseCiphertext(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedCiphertext) {
				t.Fatalf("%q: error %v does not wrap ErrMalformedCiphertext", s, err)
			}
			return
		}
		if v < 1 || v > MaxVersion || len(body) == 0 {
			t.Fatalf("%q: version %d, %d bytes", s, v, len(body))
		}
		// One spelling per ciphertext.
		if again := FormatCiphertext(v, body); again != s {
			t.Fatalf("%q formats back as %q", s, again)
		}
		if vv, err := Version(s); err != nil || vv != v {
			t.Fatalf("Version(%q) = %d, %v", s, vv, err)
		}
	})
}

// BenchmarkFieldcrypt64 seals and opens one 64-byte field bound to its
// record (AES-256-GCM).
func BenchmarkFieldcrypt64(b *testing.B) {
	c, _ := newCrypter(b)
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

// BenchmarkSealOpenStruct is the struct path: seal and open a record with
// one randomized, one deterministic field and a blind index.
func BenchmarkSealOpenStruct(b *testing.B) {
	c, _ := newCrypter(b)
	b.ReportAllocs()
	for b.Loop() {
		u := customer{ID: "c1", Email: "ann@example.com", SSN: "078-05-1120"}
		if err := c.Seal(u.ID, &u); err != nil {
			b.Fatal(err)
		}
		if err := c.Open(u.ID, &u); err != nil {
			b.Fatal(err)
		}
	}
}
