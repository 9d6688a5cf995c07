package apikey

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/rampart-sec/rampart/internal/authn"
)

// FuzzVerify feeds arbitrary strings to Verify on a store holding one key.
// It must never panic; only that exact key may verify; a string that parses
// must be the one canonical spelling of its id and secret (checked against
// encoding/base64 in strict mode); and every refusal is an *authn.Error
// whose code matches its reason.
func FuzzVerify(f *testing.F) {
	s, _, _ := newTestStore(f)
	good, _ := mustCreate(f, s, "ci", []string{"r"}, []string{"s"}, 0)
	f.Add(good)
	f.Add(good + "x")
	f.Add(good[:len(good)-1])
	f.Add(withWrongSecret(good))
	f.Add("rk_aaaaaaaaaaaaaaaa_" + strings.Repeat("A", 43))
	f.Add("rk_aaaaaaaaaaaaaaaa_" + strings.Repeat("_", 43))
	f.Add("rk_aaaaaaaaaaaaaaaa_" + strings.Repeat("A", 42) + "B")
	f.Add("rk_aaaaaaaaaaaaaaaa_" + strings.Repeat("A", 41) + "\nA")
	f.Add("rk_")
	f.Add("")
	f.Fuzz(func(t *testing.T, key string) {
		p, err := s.Verify(key)
		if err == nil {
			if key != good || p.Subject != "ci" {
				t.Fatalf("Verify(%q) = %+v", key, p)
			}
			return
		}
		var ae *authn.Error
		if p != nil || !errors.As(err, &ae) {
			t.Fatalf("Verify(%q) = %+v, %v", key, p, err)
		}
		if (ae.Reason == authn.ReasonMalformed) != (ae.Code == "invalid_request") {
			t.Fatalf("Verify(%q): reason %s with code %s", key, ae.Reason, ae.Code)
		}

		var secret [secretSize]byte
		id, ok := parseKey(key, &secret)
		if ok != (ae.Reason != authn.ReasonMalformed) {
			t.Fatalf("Verify(%q) said %s but parseKey ok=%v", key, ae.Reason, ok)
		}
		if !ok {
			return
		}
		if canon := keyPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret[:]); canon != key {
			t.Fatalf("parseKey accepted %q, a spelling of %q", key, canon)
		}
		ref, err := base64.RawURLEncoding.Strict().DecodeString(key[20:])
		if err != nil || string(ref) != string(secret[:]) {
			t.Fatalf("parseKey(%q) decoded %x; encoding/base64 says %x, %v", key, secret, ref, err)
		}
	})
}
