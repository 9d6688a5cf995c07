package config

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration written as "30s", "5m", "1h30m".
type Duration time.Duration

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Size is a byte count written as "512", "16KiB", "1MiB", "2GiB" (or KB/MB/GB, decimal).
type Size int64

// Error is one configuration problem, located in the file.
type Error struct {
	File string
	Line int
	// Path is the key path, for example routes[2].match.path.
	Path string
	Msg  string
}

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
