package redact

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// corpusCase is one line of testdata/corpus.txt: the text with the marks
// removed and the findings the marks asked for.
type corpusCase struct {
	line  int
	label string
	text  string
	want  []Finding
}

// loadCorpus reads testdata/corpus.txt (see its header for the format).
func loadCorpus(t testing.TB) []corpusCase {
	t.Helper()
	f, err := os.Open("testdata/corpus.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		label, marked, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("corpus.txt:%d: no tab after the label", n)
		}
		c := corpusCase{line: n, label: label}
		var b strings.Builder
		for {
			open := strings.Index(marked, "«")
			if open < 0 {
				b.WriteString(marked)
				break
			}
			b.WriteString(marked[:open])
			rest := marked[open+len("«"):]
			end := strings.Index(rest, "»")
			name, value, ok := strings.Cut(rest[:max(end, 0)], "|")
			if end < 0 || !ok {
				t.Fatalf("corpus.txt:%d: bad mark in %q", n, marked)
			}
			k, err := ParseKind(name)
			if err != nil {
				t.Fatalf("corpus.txt:%d: %v", n, err)
			}
			c.want = append(c.want, Finding{Kind: k, Start: b.Len(), End: b.Len() + len(value)})
			b.WriteString(value)
			marked = rest[end+len("»"):]
		}
		c.text = b.String()
		if strings.HasPrefix(label, "neg-") != (len(c.want) == 0) {
			t.Fatalf("corpus.txt:%d: label %q does not match its marks", n, label)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestCorpus runs every detector over the corpus and checks each finding's
// kind and span: every marked value is found exactly (hits), nothing else is
// (false positives).
func TestCorpus(t *testing.T) {
	r, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	hits := map[Kind]int{}
	want := map[Kind]int{}
	negLines := map[string]int{}
	falsePos, misses := 0, 0
	for _, c := range loadCorpus(t) {
		got := r.Findings(c.text)
		for _, w := range c.want {
			want[w.Kind]++
			if slices.Contains(got, w) {
				hits[w.Kind]++
			} else {
				misses++
				t.Errorf("corpus.txt:%d: missed %s %q in %q; found %s", c.line, w.Kind, c.text[w.Start:w.End], c.text, describe(c.text, got))
			}
		}
		for _, g := range got {
			if !slices.Contains(c.want, g) {
				falsePos++
				t.Errorf("corpus.txt:%d: false positive %s %q in %q", c.line, g.Kind, c.text[g.Start:g.End], c.text)
			}
		}
		if len(c.want) == 0 {
			negLines[c.label]++
		}
		// The masked text keeps everything outside the findings.
		if len(got) == 0 && r.String(c.text) != c.text {
			t.Errorf("corpus.txt:%d: String changed a line without findings", c.line)
		}
	}
	var sb strings.Builder
	total := 0
	for k := Kind(1); k < kindEnd; k++ {
		fmt.Fprintf(&sb, "\n  %-10s %3d of %3d", k, hits[k], want[k])
		total += hits[k]
		if want[k] < 3 {
			t.Errorf("corpus has %d true positives for %s, want several", want[k], k)
		}
	}
	negs := 0
	for _, n := range negLines {
		negs += n
	}
	t.Logf("corpus: hits per kind:%s\n  total      %3d, missed %d, false positives %d on %d negative lines in %d categories",
		sb.String(), total, misses, falsePos, negs, len(negLines))
}

func describe(s string, fs []Finding) string {
	if len(fs) == 0 {
		return "nothing"
	}
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s %q", f.Kind, s[f.Start:f.End]))
	}
	return strings.Join(parts, ", ")
}
