package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func sampleRecord() *AccessRecord {
	return &AccessRecord{
		Time: time.Date(2026, 11, 23, 1, 2, 3, 456789000, time.UTC), RequestID: "3hzfq3yh05fh3dj8a5jgwka3",
		ClientIP: "203.0.113.7", Method: "GET", Host: "api.example.com", Path: "/api/v1/orders/42",
		Query: "page=2", Proto: "HTTP/1.1", Status: 200, Bytes: 64, Duration: 1234567 * time.Nanosecond,
		Route: "orders", UserAgent: "curl/8.5.0",
	}
}

// slogAccess logs r the generic way, through New: the reference shape.
func slogAccess(l *slog.Logger, r *AccessRecord) {
	l.LogAttrs(context.Background(), slog.LevelInfo, "access",
		slog.String("request_id", r.RequestID), slog.String("client_ip", r.ClientIP),
		slog.String("method", r.Method), slog.String("host", r.Host), slog.String("path", r.Path),
		slog.String("query", r.Query), slog.String("proto", r.Proto), slog.Int("status", r.Status),
		slog.Int64("bytes", r.Bytes), slog.Float64("duration_ms", float64(r.Duration.Microseconds())/1000),
		slog.String("route", r.Route), slog.String("error", r.Error), slog.String("user_agent", r.UserAgent))
}

func decodeLine(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("not one JSON object: %v: %s", err, line)
	}
	return m
}

func TestAccessLogHasTheSlogShape(t *testing.T) {
	r := sampleRecord()
	var fast, ref bytes.Buffer
	NewAccessLog(&fast, nil).Log(r)
	slogAccess(New(&ref, Options{}), r)
	got, want := decodeLine(t, fast.Bytes()), decodeLine(t, ref.Bytes())
	delete(want, "time") // slog stamps its own time
	if got["time"] != "2026-11-23T01:02:03.456789Z" {
		t.Errorf("time = %v", got["time"])
	}
	delete(got, "time")
	if len(got) != len(want) {
		t.Errorf("keys: got %d, want %d: %v vs %v", len(got), len(want), got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	if !bytes.HasSuffix(fast.Bytes(), []byte("}\n")) || bytes.Count(fast.Bytes(), []byte("\n")) != 1 {
		t.Errorf("not exactly one line: %q", fast.String())
	}
}

func TestAccessLogRedactsCredentialValues(t *testing.T) {
	r := sampleRecord()
	jwt := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	r.Path = "/callback/" + jwt
	r.UserAgent = "Bearer abcdefghijklmnop"
	r.Host = "alice@example.com"
	var buf bytes.Buffer
	NewAccessLog(&buf, func(key, v string) string { // a PII detector plugs in here
		if strings.Contains(v, "@") {
			return Redacted
		}
		return v
	}).Log(r)
	line := buf.String()
	for _, secret := range []string{jwt, "abcdefghijklmnop", "alice@example.com"} {
		if strings.Contains(line, secret) {
			t.Errorf("access log line contains %q: %s", secret, line)
		}
	}
	m := decodeLine(t, buf.Bytes())
	if m["path"] != Redacted || m["user_agent"] != Redacted || m["host"] != Redacted {
		t.Errorf("not redacted: %v", m)
	}
	if m["route"] != "orders" || m["client_ip"] != "203.0.113.7" {
		t.Errorf("honest values changed: %v", m)
	}
}

func TestAccessKeysNameNoCredential(t *testing.T) {
	// Only values are redacted in the access log; that is sound only while no
	// key is itself a credential name.
	for _, k := range AccessKeys {
		if SensitiveKey(k) {
			t.Errorf("access log key %q is a credential name", k)
		}
	}
}

func TestAppendJSONStringEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"plain":              `"plain"`,
		"q\"b\\s":            `"q\"b\\s"`,
		"nl\ncr\rtab\t":      `"nl\ncr\rtab\t"`,
		"nul\x00esc\x1b":     `"nul\u0000esc\u001b"`,
		"bad\xffutf8":        `"bad\ufffdutf8"`,
		"ls\u2028ps\u2029":   `"ls\u2028ps\u2029"`,
		"unicode é 日本":       `"unicode é 日本"`,
		"<script>&amp;</sc>": `"<script>&amp;</sc>"`,
	} {
		if got := string(AppendJSONString(nil, in)); got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x1f\x7f", "\xff\xfe", "\u2028", "é\xc3", "日本語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("invalid JSON %s for %q: %v", out, s, err)
		}
		ref, _ := json.Marshal(s)
		var want string
		json.Unmarshal(ref, &want)
		if got != want {
			t.Fatalf("%q decodes to %q, encoding/json's to %q", s, got, want)
		}
		if bytes.ContainsAny(out, "\n\r") {
			t.Fatalf("raw line break in %q", out)
		}
	})
}

func BenchmarkAccessLog(b *testing.B) {
	l, r := NewAccessLog(io.Discard, nil), sampleRecord()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(r)
	}
}

// BenchmarkAccessLogSlog is the same line through the generic slog logger.
func BenchmarkAccessLogSlog(b *testing.B) {
	l, r := New(io.Discard, Options{}), sampleRecord()
	b.ReportAllocs()
	for b.Loop() {
		slogAccess(l, r)
	}
}
