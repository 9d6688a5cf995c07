package config

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as "30s", "5m", "1h30m".
type Duration time.Duration

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// parseDuration parses a non-negative duration with units. "0" is the only
// number accepted without a unit: a bare "30" could mean seconds or
// milliseconds, and guessing wrong silently changes a security limit.
// Errors quote only s, which the caller passes as written in the file.
func parseDuration(s string) (Duration, error) {
	if s == "0" {
		return 0, nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, fmt.Errorf("duration %q has no unit; write it with one, as in \"%ss\" or \"%sms\"", s, s, s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (or is too long); write a number with a unit (ns, us, ms, s, m, h), as in \"30s\" or \"1h30m\"", s)
	}
	return Duration(d), nil
}

// Size is a byte count written as "512", "16KiB", "1MiB", "2GiB" (or KB/MB/GB, decimal).
type Size int64

// sizeUnits are the accepted suffixes of a Size, longest first so that "KiB"
// is tried before "B".
func sizeUnits() []struct {
	suffix string
	mult   int64
} {
	return []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"B", 1},
	}
}

// parseSize parses a non-negative byte count: a whole number, optionally
// followed by B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB
// (powers of 1000). Errors quote only s.
func parseSize(s string) (Size, error) {
	num, mult := s, int64(1)
	for _, u := range sizeUnits() {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		if strings.HasPrefix(num, "-") {
			return 0, fmt.Errorf("size %q is negative", s)
		}
		return 0, fmt.Errorf("%q is not a size; write a whole number of bytes, optionally with a unit (KiB, MiB, GiB, TiB, or KB, MB, GB, TB), as in \"16KiB\"", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n * mult), nil
}

// Error is one configuration problem, located in the file.
type Error struct {
	File string
	Line int
	// Path is the key path, for example routes[2].match.path.
	Path string
	Msg  string
}

// Error formats the problem as "file:line: path: message".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
		if e.Line > 0 {
			fmt.Fprintf(&b, "%d:", e.Line)
		}
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one configuration, in file order.
type Errors []*Error

// sortByLine orders es by line, keeping the order of problems on one line;
// problems without a line (a missing top-level key) come last.
func (es Errors) sortByLine() {
	sort.SliceStable(es, func(i, j int) bool {
		li, lj := es[i].Line, es[j].Line
		if li == 0 || lj == 0 {
			return lj == 0 && li != 0
		}
		return li < lj
	})
}

// Error lists the problems one per line.
func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Source remembers the file and the line of every key path that was loaded.
type Source struct {
	File  string
	Lines map[string]int
}

// Errorf returns an Error located at the key path (its line if known, else the
// nearest known parent's line).
func (s *Source) Errorf(path, format string, args ...any) *Error {
	e := &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	if s == nil {
		return e
	}
	e.File = s.File
	for p := path; p != ""; p = parent(p) {
		if l, ok := s.Lines[p]; ok {
			e.Line = l
			break
		}
	}
	return e
}

// parent returns the key path one level up: routes[2].match -> routes[2] -> routes.
func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}
