// Package logging builds Rampart's slog loggers. Every logger goes through one
// redaction hook (Redactor) so that secrets and, later, PII never reach a log
// line in clear text; attribute keys that name credentials are masked whatever
// their value.
package logging

import (
	"bufio"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Redacted replaces a masked value.
const Redacted = "[redacted]"

// Redactor rewrites a string attribute value before it is written. The default
// masks credential-looking values; the PII detectors plug in here.
type Redactor func(key, value string) string

// Options configure a logger.
type Options struct {
	Level slog.Leveler
	// Redact is applied to every string attribute after the built-in key rule.
	Redact Redactor
}

// New returns a JSON logger writing to w through the redaction hook.
func New(w io.Writer, o Options) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       o.Level,
		ReplaceAttr: replacer(o.Redact),
	}))
}

func replacer(extra Redactor) func([]string, slog.Attr) slog.Attr {
	return func(_ []string, a slog.Attr) slog.Attr {
		if SensitiveKey(a.Key) {
			return slog.String(a.Key, Redacted)
		}
		if a.Value.Kind() == slog.KindString {
			v := a.Value.String()
			if LooksLikeToken(v) {
				return slog.String(a.Key, Redacted)
			}
			if extra != nil {
				if r := extra(a.Key, v); r != v {
					return slog.String(a.Key, r)
				}
			}
		}
		return a
	}
}

// sensitiveWords are substrings of attribute keys, header names and query
// parameter names whose values are credentials.
var sensitiveWords = []string{
	"authorization", "cookie", "password", "passwd", "pwd", "secret", "token",
	"api_key", "apikey", "api-key", "x-api-key", "credential", "session", "signature",
	"private", "jwt", "assertion", "otp",
}

// sensitiveExact are names that are credentials only when they are the whole name.
var sensitiveExact = []string{"key", "code", "sig", "auth", "pass", "client_secret"}

// SensitiveKey reports whether a key, header or parameter name names a credential.
func SensitiveKey(k string) bool {
	if k == "" {
		return false
	}
	for _, e := range sensitiveExact {
		if strings.EqualFold(k, e) {
			return true
		}
	}
	for _, w := range sensitiveWords {
		if containsFold(k, w) {
			return true
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

// LooksLikeToken reports values that are bearer credentials whatever their key:
// "Bearer ..." / "Basic ..." headers and JWTs (three base64url parts starting "eyJ").
func LooksLikeToken(v string) bool {
	if len(v) < 8 {
		return false
	}
	if hasPrefixFold(v, "bearer ") || hasPrefixFold(v, "basic ") {
		return true
	}
	if strings.HasPrefix(v, "eyJ") && strings.Count(v, ".") >= 2 {
		return true
	}
	if i := strings.Index(v, "eyJ"); i > 0 && strings.Count(v[i:], ".") >= 2 {
		return true
	}
	return false
}

func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

// SanitizeQuery masks the values of credential-named parameters and of values
// that look like tokens in a raw query string. It returns q itself when nothing
// needs masking.
func SanitizeQuery(q string) string {
	if q == "" {
		return q
	}
	if !needsSanitizing(q) {
		return q
	}
	var b strings.Builder
	b.Grow(len(q))
	for i, part := range strings.Split(q, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		k, v, hasV := strings.Cut(part, "=")
		b.WriteString(k)
		if !hasV {
			continue
		}
		b.WriteByte('=')
		if SensitiveKey(unescapeName(k)) || LooksLikeToken(v) || LooksLikeToken(unescapeName(v)) {
			b.WriteString(Redacted)
		} else {
			b.WriteString(v)
		}
	}
	return b.String()
}

func needsSanitizing(q string) bool {
	for part := range strings.SplitSeq(q, "&") {
		k, v, _ := strings.Cut(part, "=")
		if SensitiveKey(unescapeName(k)) || LooksLikeToken(v) || LooksLikeToken(unescapeName(v)) {
			return true
		}
	}
	return false
}

// unescapeName decodes %XX and '+' enough to recognise a parameter name; invalid
// escapes are left as they are (this is for matching, not for output).
func unescapeName(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// BufferedWriter batches log writes and flushes them on an interval, so that a
// busy gateway does not make one write system call per request. Use it for the
// access log, not for data that must survive a crash.
type BufferedWriter struct {
	mu     sync.Mutex
	bw     *bufio.Writer
	stop   chan struct{}
	done   chan struct{}
	closed bool
}

// NewBufferedWriter wraps dst with a buffer of size bytes flushed every interval.
func NewBufferedWriter(dst io.Writer, size int, interval time.Duration) *BufferedWriter {
	b := &BufferedWriter{bw: bufio.NewWriterSize(dst, size), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushLoop(interval)
	return b
}

func (b *BufferedWriter) flushLoop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.Flush()
		case <-b.stop:
			return
		}
	}
}

// Write buffers p. After Close it writes through.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.bw.Write(p)
	if b.closed && err == nil {
		err = b.bw.Flush()
	}
	return n, err
}

// Flush writes out what is buffered.
func (b *BufferedWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bw.Flush()
}

// Close stops the flusher and flushes.
func (b *BufferedWriter) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return b.Flush()
}
