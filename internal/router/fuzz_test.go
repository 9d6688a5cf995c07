package router

import (
	"strings"
	"testing"

	"github.com/rampart-sec/rampart/internal/canonpath"
)

func FuzzMatch(f *testing.F) {
	r, err := New(precedenceSpecs)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct {
		host, path, method string
		semi               bool
	}{
		{"api.example.com:443", "/admin", "GET", false},
		{"[::1]:80", "/local", "GET", false},
		{"a.eu.example.com.", "/ADMIN/", "POST", false},
		{"", "/accounts/7/statements/latest", "HEAD", false},
		{"", "/static/x;y", "GET", true},
		{"[", "//", "", false},
		{"x:y:z", "/a/b/c/", "PROPFIND", false},
		{"", "/p/1/2/3/4/5/6/7/8/9", "GET", false},
	} {
		f.Add(s.host, s.path, s.method, s.semi)
	}
	f.Fuzz(func(t *testing.T, host, path, method string, semi bool) {
		var p1, p2 Params
		i1, r1, a1 := r.Match(host, path, method, semi, &p1)
		i2, r2, a2 := r.Match(host, path, method, semi, &p2)
		if i1 != i2 || r1 != r2 || a1 != a2 || p1 != p2 {
			t.Fatalf("Match not deterministic: %d %v %q / %d %v %q", i1, r1, a1, i2, r2, a2)
		}
		checkResult(t, i1, r1, a1, &p1)

		canon, csemi, err := canonpath.Canonical(path)
		if err != nil {
			return
		}
		idx, res, allow := r.Match(host, canon, method, csemi, &p1)
		checkResult(t, idx, res, allow, &p1)
		// Case and a trailing slash never change which route is chosen.
		for _, variant := range []string{strings.ToUpper(canon), strings.ToLower(canon), canon + "/"} {
			if vi, vr, va := r.Match(strings.ToUpper(host), variant, method, csemi, &p2); vi != idx || vr != res || va != allow {
				t.Fatalf("Match(%q) = %d %v %q but Match(%q) = %d %v %q", canon, idx, res, allow, variant, vi, vr, va)
			}
		}
	})
}

func checkResult(t *testing.T, idx int, res Result, allow string, p *Params) {
	t.Helper()
	switch res {
	case Found:
		if idx < 0 || idx >= len(precedenceSpecs) {
			t.Fatalf("found index %d out of range", idx)
		}
		if want := strings.Count(precedenceSpecs[idx].Path, "{"); p.Len() != want {
			t.Fatalf("route %d: %d params, want %d", idx, p.Len(), want)
		}
		for i := 0; i < p.Len(); i++ {
			if _, v := p.At(i); v == "" || strings.Contains(v, "/") {
				t.Fatalf("param %d = %q", i, v)
			}
		}
	case SemicolonNotAllowed:
		if idx < 0 || precedenceSpecs[idx].AllowSemicolon {
			t.Fatalf("semicolon refused by route %d", idx)
		}
	case MethodNotAllowed:
		if idx != -1 || allow == "" {
			t.Fatalf("405 with index %d, allow %q", idx, allow)
		}
	case NotFound:
		if idx != -1 {
			t.Fatalf("not found with index %d", idx)
		}
	default:
		t.Fatalf("unknown result %d", res)
	}
	if res != MethodNotAllowed && allow != "" {
		t.Fatalf("allow %q on %v", allow, res)
	}
	if res != Found && p.Len() != 0 {
		t.Fatalf("params on %v", res)
	}
}
