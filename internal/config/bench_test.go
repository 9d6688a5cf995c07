package config

import (
	"os"
	"testing"
)

// BenchmarkParseFull measures a load of the example with every key: it runs
// at start and on every reload, never per request.
func BenchmarkParseFull(b *testing.B) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		b.Fatal(err)
	}
	env := func(name string) (string, bool) {
		if name == "SESSION_COOKIE_KEY" {
			return fullCookieKey, true
		}
		return "0123456789abcdef0123456789abcdef", true
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("full.yaml", data, env); err != nil {
			b.Fatal(err)
		}
	}
}
