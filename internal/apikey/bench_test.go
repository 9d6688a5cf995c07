package apikey

import (
	"fmt"
	"testing"
)

// BenchmarkVerify measures one request's key check in a store of 1,000
// keys: a good key, a wrong secret and an unknown id should all cost about
// one HMAC-SHA256.
func BenchmarkVerify(b *testing.B) {
	s, _, _ := newTestStore(b)
	var keys []string
	for i := range 1000 {
		key, _ := mustCreateFast(b, s, fmt.Sprintf("client-%d", i))
		keys = append(keys, key)
	}
	good := keys[500]
	cases := map[string]string{
		"good":         good,
		"wrong_secret": withWrongSecret(good),
		"unknown_id":   "rk_" + "aaaaaaaaaaaaaaaa" + good[19:],
		"malformed":    good[:40],
	}
	for _, name := range []string{"good", "wrong_secret", "unknown_id", "malformed"} {
		key := cases[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Verify(key)
			}
		})
	}
	b.Run("good_parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Verify(good); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// mustCreateFast adds a key without writing the file each time, which
// would make setting up a thousand keys take most of the benchmark's time.
func mustCreateFast(b *testing.B, s *Store, name string) (string, Record) {
	b.Helper()
	key, id, secret, err := newKey()
	if err != nil {
		b.Fatal(err)
	}
	rec := Record{ID: id, Name: name, Hash: hashSecret(s.pepper, secret), Created: s.now().UTC()}
	recs := append(s.List(), rec)
	snap, err := buildSnapshot(recs, fileID{})
	if err != nil {
		b.Fatal(err)
	}
	s.snap.Store(snap)
	return key, rec
}
