package requestid

import (
	"strings"
	"testing"
)

func TestNewAndValid(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := New()
		if len(id) != 24 || !Valid(id) || seen[id] {
			t.Fatalf("New() = %q: want 24 valid characters, never repeated", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", strings.Repeat("a", 65), "a b", "id\nforged: line", "<script>", "ü"} {
		if Valid(bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
	for _, good := range []string{"abc", "A-1_b.2", strings.Repeat("z", 64)} {
		if !Valid(good) {
			t.Errorf("Valid(%q) = false", good)
		}
	}
}
