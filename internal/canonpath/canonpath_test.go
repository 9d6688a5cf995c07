package canonpath

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unsafe"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		want   string // canonical path when reason is ""
		semi   bool
		reason string
	}{
		// Honest paths come back unchanged.
		{name: "root", raw: "/", want: "/"},
		{name: "plain", raw: "/accounts/7", want: "/accounts/7"},
		{name: "trailing slash kept", raw: "/a/b/", want: "/a/b/"},
		{name: "sub-delims stay raw", raw: "/a!$&'()*+,=:@b", want: "/a!$&'()*+,=:@b"},
		{name: "kept escape", raw: "/a%20b%3F%25", want: "/a%20b%3F%25"},
		{name: "unreserved raw", raw: "/A-z_0.9~", want: "/A-z_0.9~"},
		{name: "dots inside a name", raw: "/a/.well-known/x..y/...", want: "/a/.well-known/x..y/..."},
		{name: "case preserved", raw: "/ADMIN", want: "/ADMIN"},

		// Dot segments and empty segments.
		{name: "dotdot back into public", raw: "/admin/../public", want: "/public"},
		{name: "dotdot into admin", raw: "/public/../admin", want: "/admin"},
		{name: "encoded dotdot", raw: "/a/%2E%2E/b", want: "/b"},
		{name: "mixed encoded dotdot", raw: "/x/.%2e/y", want: "/y"},
		{name: "encoded dotdot above root", raw: "/%2e%2e/admin", reason: ReasonTraversal},
		{name: "etc passwd", raw: "/../../etc/passwd", reason: ReasonTraversal},
		{name: "dotdot above root later", raw: "/a/b/../../..", reason: ReasonTraversal},
		{name: "empty segments do not count as depth", raw: "/a//../..", reason: ReasonTraversal},
		{name: "dot removed", raw: "/a/./b", want: "/a/b"},
		{name: "final dot", raw: "/a/.", want: "/a/"},
		{name: "final dotdot", raw: "/a/..", want: "/"},
		{name: "final dotdot keeps parent", raw: "/a/b/..", want: "/a/"},
		{name: "lone dot", raw: "/.", want: "/"},
		{name: "leading double slash", raw: "//admin", want: "/admin"},
		{name: "inner double slash", raw: "/a//b///c", want: "/a/b/c"},
		{name: "double slash at end", raw: "/a//", want: "/a/"},
		{name: "only slashes", raw: "///", want: "/"},
		{name: "dotdot semicolon (servlet)", raw: "/static/..;/admin", reason: ReasonTraversal},
		{name: "dot semicolon", raw: "/a/.;x/b", reason: ReasonTraversal},
		{name: "encoded dotdot semicolon", raw: "/a/%2e%2e%3b/b", reason: ReasonTraversal},

		// Encoded separators.
		{name: "encoded slash", raw: "/public/..%2fadmin", reason: ReasonEncodedSlash},
		{name: "encoded slash upper", raw: "/admin%2Fsecret", reason: ReasonEncodedSlash},
		{name: "encoded slash in removed segment", raw: "/a%2fb/../c", reason: ReasonEncodedSlash},
		{name: "encoded backslash", raw: "/admin%5csecret", reason: ReasonEncodedBackslash},
		{name: "raw backslash", raw: `/a\b`, reason: ReasonBackslash},
		{name: "backslash dotdot", raw: `/public\..\admin`, reason: ReasonBackslash},

		// Semicolons are reported, not refused.
		{name: "jsessionid", raw: "/a;jsessionid=x", want: "/a;jsessionid=x", semi: true},
		{name: "encoded semicolon", raw: "/a%3bb", want: "/a%3Bb", semi: true},
		{name: "semicolon removed by dotdot", raw: "/a;x/../b", want: "/b"},

		// Control bytes, fragments and other refused bytes.
		{name: "encoded NUL", raw: "/a%00", reason: ReasonControlChar},
		{name: "encoded LF", raw: "/a%0a", reason: ReasonControlChar},
		{name: "encoded DEL", raw: "/a%7F", reason: ReasonControlChar},
		{name: "raw tab", raw: "/a\tb", reason: ReasonControlChar},
		{name: "raw NUL", raw: "/a\x00", reason: ReasonControlChar},
		{name: "raw DEL", raw: "/a\x7f", reason: ReasonControlChar},
		{name: "raw fragment", raw: "/a#frag", reason: ReasonFragment},
		{name: "encoded fragment", raw: "/admin%23.css", reason: ReasonFragment},
		{name: "raw space", raw: "/a b", reason: ReasonInvalidPath},
		{name: "raw question mark", raw: "/a?b", reason: ReasonInvalidPath},
		{name: "empty", raw: "", reason: ReasonInvalidPath},
		{name: "asterisk form", raw: "*", reason: ReasonInvalidPath},
		{name: "relative", raw: "admin", reason: ReasonInvalidPath},
		{name: "absolute form", raw: "http://h/admin", reason: ReasonInvalidPath},

		// Escapes.
		{name: "lone percent", raw: "/%", reason: ReasonInvalidEscape},
		{name: "bad hex", raw: "/%zz", reason: ReasonInvalidEscape},
		{name: "bad second hex", raw: "/%G1", reason: ReasonInvalidEscape},
		{name: "truncated", raw: "/a%4", reason: ReasonInvalidEscape},
		{name: "truncated before slash", raw: "/a%4/b", reason: ReasonInvalidEscape},
		{name: "double encoded dotdot", raw: "/%252e%252e/", reason: ReasonDoubleEncoding},
		{name: "double encoded slash", raw: "/a%252fb", reason: ReasonDoubleEncoding},
		{name: "double encoding via unreserved escapes", raw: "/%25%32%65", reason: ReasonDoubleEncoding},
		{name: "percent then non-hex", raw: "/%25zz", want: "/%25zz"},
		{name: "percent then one hex", raw: "/%25a", want: "/%25a"},
		{name: "tilde decoded", raw: "/%7E", want: "/~"},
		{name: "letters decoded", raw: "/%41%62c", want: "/Abc"},
		{name: "hex uppercased", raw: "/a%3ab%e2%82%ac", want: "/a%3Ab%E2%82%AC"},

		// Raw bytes outside the RFC 3986 path set.
		{name: "utf-8 raw", raw: "/caf\xc3\xa9", want: "/caf%C3%A9"},
		{name: "invalid utf-8 raw", raw: "/\xff", want: "/%FF"},
		{name: "braces and friends", raw: `/{a}|"<>[]^` + "`", want: "/%7Ba%7D%7C%22%3C%3E%5B%5D%5E%60"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, semi, err := Canonical(tt.raw)
			if tt.reason != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Reason != tt.reason {
					t.Fatalf("Canonical(%q) = %q, %v; want reason %q", tt.raw, got, err, tt.reason)
				}
				if got != "" || semi {
					t.Errorf("Canonical(%q) returned %q, %v alongside an error", tt.raw, got, semi)
				}
				return
			}
			if err != nil || got != tt.want || semi != tt.semi {
				t.Fatalf("Canonical(%q) = %q, %v, %v; want %q, %v", tt.raw, got, semi, err, tt.want, tt.semi)
			}
			checkCanonical(t, tt.raw, got, semi)
		})
	}
}

func TestIsPlain(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := c != '.' && isUnreserved(byte(c)) || strings.IndexByte("!$&'()*+,=:@", byte(c)) >= 0
		if isPlain(byte(c)) != want {
			t.Errorf("isPlain(%#x) = %v, want %v", c, !want, want)
		}
	}
}

func TestErrorDoesNotEchoInput(t *testing.T) {
	_, _, err := Canonical("/secret-token-value%2f")
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %v must exist and must not echo the input", err)
	}
}

func TestCleanPathIsReturnedAsIs(t *testing.T) {
	raw := "/accounts/7/statements;v=2"
	got, _, err := Canonical(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got != raw || unsafe.StringData(got) != unsafe.StringData(raw) {
		t.Fatalf("got %q, want raw itself", got)
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _ = Canonical(raw) }); n != 0 {
		t.Errorf("clean path: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _ = Canonical("/a/%2e%2e/b%3a//c/caf\xc3\xa9") }); n > 2 {
		t.Errorf("dirty path: %v allocations, want at most 2", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _ = Canonical("/a%2fb") }); n != 0 {
		t.Errorf("refused path: %v allocations, want 0", n)
	}
}

// checkCanonical asserts the properties every canonical path has.
func checkCanonical(t *testing.T, raw, canon string, semi bool) {
	t.Helper()
	if canon == "" || canon[0] != '/' {
		t.Fatalf("Canonical(%q) = %q: does not start with '/'", raw, canon)
	}
	again, semi2, err := Canonical(canon)
	if err != nil || again != canon || semi2 != semi {
		t.Fatalf("not idempotent: Canonical(%q) = %q, %v, %v; Canonical(%q) = %q, %v, %v",
			raw, canon, semi, nil, canon, again, semi2, err)
	}
	for _, bad := range []string{"//", "/./", "/../", `\`, "#"} {
		if strings.Contains(canon, bad) {
			t.Fatalf("Canonical(%q) = %q contains %q", raw, canon, bad)
		}
	}
	if strings.HasSuffix(canon, "/..") || strings.HasSuffix(canon, "/.") {
		t.Fatalf("Canonical(%q) = %q ends in a dot segment", raw, canon)
	}
	upper := strings.ToUpper(canon)
	for _, bad := range []string{"%2F", "%5C", "%00", "%23"} {
		if strings.Contains(upper, bad) {
			t.Fatalf("Canonical(%q) = %q contains %s", raw, canon, bad)
		}
	}
	for i := 0; i < len(canon); i++ {
		if c := canon[i]; c < 0x20 || c >= 0x7f {
			t.Fatalf("Canonical(%q) = %q contains byte %#x", raw, canon, c)
		}
	}
	decoded, err := url.PathUnescape(canon)
	if err != nil {
		t.Fatalf("Canonical(%q) = %q does not unescape: %v", raw, canon, err)
	}
	for _, seg := range strings.Split(decoded, "/") {
		if seg == "." || seg == ".." {
			t.Fatalf("Canonical(%q) = %q has a dot segment after decoding", raw, canon)
		}
	}
	if (strings.Contains(canon, ";") || strings.Contains(canon, "%3B")) != semi {
		t.Fatalf("Canonical(%q) = %q: semicolon flag %v is wrong", raw, canon, semi)
	}
	// The gateway hands canon to net/url for the upstream request; it must
	// survive that unchanged.
	u, err := url.Parse("http://upstream" + canon)
	if err != nil || u.EscapedPath() != canon || u.Path != decoded {
		t.Fatalf("net/url does not keep %q: %v, EscapedPath %q", canon, err, u.EscapedPath())
	}
	// Re-escaping the decoded form gives canon back, unless canon holds an
	// escape of a character that is also allowed raw (then the decoded form
	// cannot tell which one the client sent).
	if !hasAmbiguousEscape(canon) {
		if re := reescape(decoded); re != canon {
			t.Fatalf("Canonical(%q) = %q; re-escaping its decoded form gives %q", raw, canon, re)
		}
	}
}

// rawAllowed is the set of bytes a canonical path carries unescaped.
func rawAllowed(c byte) bool {
	return isUnreserved(c) || strings.IndexByte("!$&'()*+,;=:@/", c) >= 0
}

func reescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; rawAllowed(c) {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + upperHex[c>>4:c>>4+1] + upperHex[c&15:c&15+1])
		}
	}
	return b.String()
}

func hasAmbiguousEscape(canon string) bool {
	for i := 0; i+2 < len(canon); i++ {
		if canon[i] == '%' && rawAllowed(unhex(canon[i+1])<<4|unhex(canon[i+2])) {
			return true
		}
	}
	return false
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b", "/a/b/", "/admin/../public", "/public/..%2fadmin", "/%2e%2e/admin",
		"/a/%2E%2E/b", "//admin", "/admin%5csecret", `/a\b`, "/a;jsessionid=x", "/a%3bb",
		"/a%00", "/a#frag", "/%", "/%zz", "/%252e%252e/", "/../../etc/passwd",
		"/caf\xc3\xa9", "/%7E", "/a/./b/../c//d/", "/..;/x", "/%25%32%65", "/a%3a%2E",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if raw != "" && raw[0] == '/' {
			// The fast path is only an optimisation of slow.
			if fastSemi, ok := fastClean(raw); ok {
				got, semi, err := slow(raw)
				if err != nil || got != raw || semi != fastSemi {
					t.Fatalf("fastClean(%q) = %v, true but slow = %q, %v, %v", raw, fastSemi, got, semi, err)
				}
			}
		}
		canon, semi, err := Canonical(raw)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Reason == "" {
				t.Fatalf("Canonical(%q): error %v is not an *Error with a reason", raw, err)
			}
			return
		}
		checkCanonical(t, raw, canon, semi)
	})
}
