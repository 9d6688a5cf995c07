package config

import (
	"math"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30s", 30 * time.Second, true},
		{"1h30m", 90 * time.Minute, true},
		{"250ms", 250 * time.Millisecond, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"0", 0, true},
		{"0s", 0, true},
		{"30", 0, false},    // which unit?
		{"1.5", 0, false},   // same
		{"-1s", 0, false},   // negative
		{"-0s", 0, false},   // negative spelling
		{"1d", 0, false},    // no day unit
		{"", 0, false},      // empty
		{"s", 0, false},     // no number
		{"1s 2s", 0, false}, // space
		{"99999999999h", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err == nil) != tt.ok || got.Std() != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got.Std(), err, tt.want, tt.ok)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"512", 512, true},
		{"0", 0, true},
		{"512B", 512, true},
		{"16KiB", 16 << 10, true},
		{"1MiB", 1 << 20, true},
		{"2GiB", 2 << 30, true},
		{"1TiB", 1 << 40, true},
		{"1KB", 1000, true},
		{"1MB", 1000000, true},
		{"1GB", 1000000000, true},
		{"8388607TiB", 8388607 << 40, true}, // the largest whole TiB count
		{"8388608TiB", 0, false},            // 2^63: overflows int64
		{"9223372036854775807", math.MaxInt64, true},
		{"9223372036854775808", 0, false},
		{"-1", 0, false},
		{"-1KiB", 0, false},
		{"1.5MiB", 0, false},
		{"1mb", 0, false},
		{"1 MiB", 0, false},
		{"MiB", 0, false},
		{"", 0, false},
		{"0x10", 0, false},
		{"+5", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestScalarKinds(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"true", "gateway: {hsts: {enabled: true}}", ""},
		{"false", "gateway: {hsts: {enabled: false}}", ""},
		{"True", "gateway: {hsts: {enabled: True}}", `t.yaml:1: gateway.hsts.enabled: expected true or false, got "True"`},
		{"on", "gateway: {hsts: {enabled: on}}", `t.yaml:1: gateway.hsts.enabled: expected true or false, got "on"`},
		{"1", "gateway: {hsts: {enabled: 1}}", `t.yaml:1: gateway.hsts.enabled: expected true or false, got "1"`},
		{"quoted true", `gateway: {hsts: {enabled: "true"}}`, `t.yaml:1: gateway.hsts.enabled: expected true or false, got "true"`},
		{"bool as string", "log: {level: true}", `t.yaml:1: log.level: expected a string, got a boolean (quote it if you mean the text "true")`},
		{"number as string", "data_dir: 2024", ""},
		{"list as string", "data_dir: [a]", `t.yaml:1: data_dir: expected a string, got a list`},
		{"octal-looking int", "gateway: {limits: {max_connections: 0100}}", `t.yaml:1: gateway.limits.max_connections: number "0100" has a leading zero, which some YAML tools read as octal; remove it`},
		{"float int", "gateway: {limits: {max_connections: 1.5}}", `t.yaml:1: gateway.limits.max_connections: expected a whole decimal number, got "1.5"`},
		{"empty int", "gateway: {limits: {max_connections: }}", `t.yaml:1: gateway.limits.max_connections: expected a whole number, got nothing`},
		{"int from env", "gateway: {limits: {max_connections: \"${N}\"}}", `t.yaml:1: gateway.limits.max_connections: expected a whole number, got a string (${...} is expanded only in string values)`},
		{"empty duration", "gateway: {shutdown_timeout: ~}", `t.yaml:1: gateway.shutdown_timeout: expected a duration, got nothing (write one, as in "30s")`},
		{"empty size", "gateway: {limits: {max_body: }}", `t.yaml:1: gateway.limits.max_body: expected a size, got nothing (write one, as in "1MiB")`},
		{"empty auth", "routes: [{name: r, match: {path: /r}, upstream: u, auth: }]", `t.yaml:1: routes[0].auth: expected "none" or a mapping (issuers, scopes, roles), got nothing`},
		{"list auth", "routes: [{name: r, match: {path: /r}, upstream: u, auth: [none]}]", `t.yaml:1: routes[0].auth: expected "none" or a mapping (issuers, scopes, roles), got a list`},
		{"null section", "gateway:\nlog: ~", ""},
		{"application tag", "data_dir: !vault secret/x", `t.yaml:1: data_dir: YAML tag "!vault" is not allowed`},
		{"non-string key", "? [a]\n: 1", `t.yaml:1: keys must be plain strings`},
	}
	for _, tt := range tests {
		src := tt.src + "\n" + minimal
		if tt.name == "empty auth" || tt.name == "list auth" {
			src = tt.src + "\n" + okUpstream + "\n"
		}
		_, err := Parse("t.yaml", []byte(src), noEnv)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestBillionLaughs: aliases are refused before anything could expand them,
// so the classic exponential document costs nothing.
func TestBillionLaughs(t *testing.T) {
	src := `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
routes: *i
`
	_, err := Parse("t.yaml", []byte(src), noEnv)
	errs, ok := err.(Errors)
	if !ok {
		t.Fatalf("got %v", err)
	}
	aliasLines := 0
	for _, e := range errs {
		if e.Msg == "aliases are not allowed" {
			aliasLines++
		}
	}
	if aliasLines != 9 {
		t.Errorf("%d alias problems, want one per line with aliases (9):\n%v", aliasLines, err)
	}
	if len(errs) > maxErrors+1 {
		t.Errorf("%d problems: the list must stay bounded", len(errs))
	}
	// The honest form of the same idea, written out, is accepted.
	mustParse(t, minimal)
}

func TestSuggest(t *testing.T) {
	keys := []string{"listen", "tls", "admin", "trusted_proxies", "limits", "redirect_http", "hsts", "security_headers", "shutdown_timeout"}
	tests := map[string]string{
		"lsten":           "listen",
		"Listen":          "listen",
		"trusted_proxy":   "trusted_proxies",
		"securityHeaders": "security_headers",
		"tsl":             "tls",
		"x":               "",
		"database":        "",
		"limit":           "limits",
	}
	for in, want := range tests {
		if got := suggest(in, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
