package canonpath

import "testing"

func BenchmarkCanonical(b *testing.B) {
	cases := []struct{ name, raw string }{
		{"clean", "/api/v1/accounts/12345/statements/2024-06"},
		{"dirty", "/api/v1/./accounts//12345/%73tatements/../statements/caf%c3%a9"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Canonical(c.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
