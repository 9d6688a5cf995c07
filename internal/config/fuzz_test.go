package config

import (
	"os"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, and every problem it reports is located in
// the file it was given.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(full),
		minimal,
		"gateway: {listen: \"${PORT}\", lsten: x}\n" + minimal,
		"a: &a [1]\nb: *a\n",
		"routes: [{name: r, match: {path: \"/a/{id}/*\", methods: [get, TRACE]}, upstream: x, auth: {issuers: [a]}}]\n",
		"upstreams: {u: {targets: [\"http://u:p@h/x?y#z\", \"http://[::1]:99999\"]}}\n",
		"gateway: {limits: {max_body: 9999999999999GiB, read_timeout: 30}}\n---\nx: 1\n",
		"log:\n  level: info\n  level: debug\n",
		"? [a]\n: b\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	env := func(name string) (string, bool) {
		if strings.HasPrefix(name, "SET") {
			return "10.0.0.1:80\r\n${X}", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data, env)
		if err == nil {
			if cfg == nil || cfg.Source == nil || cfg.Source.File != "fuzz.yaml" {
				t.Fatalf("accepted without a Source: %+v", cfg)
			}
			return
		}
		if cfg != nil {
			t.Fatal("returned a configuration with errors")
		}
		errs, ok := err.(Errors)
		if !ok || len(errs) == 0 {
			t.Fatalf("error %T %v, want non-empty Errors", err, err)
		}
		if len(errs) > maxErrors+1 {
			t.Fatalf("%d problems, more than the cap", len(errs))
		}
		last := 0
		for _, e := range errs {
			if e.File != "fuzz.yaml" {
				t.Fatalf("problem without the file: %+v", e)
			}
			if e.Line < 0 || (e.Line > 0 && e.Line < last) {
				t.Fatalf("problems out of line order: %v", err)
			}
			if e.Line > 0 {
				last = e.Line
			}
		}
	})
}
