package router

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/rampart-sec/rampart/internal/canonpath"
)

// TestDocsExamples keeps the table in docs/paths.md true: every row is run
// through canonpath and the router with the routes the page describes.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/paths.md")
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	_, examples, ok := strings.Cut(string(doc), "## Examples")
	if !ok {
		t.Fatal("docs/paths.md has no Examples section")
	}
	specs := []Spec{
		{Path: "/public/*"},
		{Path: "/admin", Methods: []string{"GET"}},
		{Path: "/admin/*", Methods: []string{"GET"}},
		{Path: "/static/*", AllowSemicolon: true},
		{Path: "/accounts/{id}", Methods: []string{"GET"}},
	}
	r := mustNew(t, specs)
	rows := 0
	for _, line := range strings.Split(examples, "\n") {
		cols := strings.Split(line, " | ")
		if len(cols) != 3 || !strings.HasPrefix(line, "| `") {
			continue
		}
		rows++
		method, target, _ := strings.Cut(between(cols[0]), " ")
		wantCanon := between(cols[1])
		result := strings.TrimSuffix(cols[2], " |")

		canon, semi, err := canonpath.Canonical(target)
		if strings.HasPrefix(result, "400 `") && between(result) != "semicolon" {
			var ce *canonpath.Error
			if !errors.As(err, &ce) || ce.Reason != between(result) {
				t.Errorf("%s: Canonical(%q) = %q, %v; docs say %s", line, target, canon, err, result)
			}
			continue
		}
		if err != nil || canon != wantCanon {
			t.Errorf("%s: Canonical(%q) = %q, %v; docs say %q", line, target, canon, err, wantCanon)
			continue
		}
		idx, res, allow := r.Match("", canon, method, semi, nil)
		var got string
		switch res {
		case Found:
			got = "`" + specs[idx].Path + "`"
		case MethodNotAllowed:
			got = "405, `Allow: " + allow + "`"
		case SemicolonNotAllowed:
			got = "400 `semicolon`"
		default:
			got = "404"
		}
		if !strings.HasPrefix(result, got) {
			t.Errorf("%s: got %s", line, got)
		}
	}
	if rows < 20 {
		t.Fatalf("only %d example rows found", rows)
	}
}

// between returns the text between the first pair of backticks in s.
func between(s string) string {
	_, rest, _ := strings.Cut(s, "`")
	v, _, _ := strings.Cut(rest, "`")
	return v
}
