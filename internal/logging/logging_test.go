package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLoggerMasksCredentials(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, Options{Redact: func(k, v string) string {
		return strings.ReplaceAll(v, "alice@example.com", "[email]")
	}})
	jwt := "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	log.Info("req",
		"authorization", "Bearer abc.def.ghi",
		"Cookie", "sid=123",
		"client_secret", "s3cr3t",
		"note", "forwarded "+jwt,
		"who", "alice@example.com",
		"path", "/orders/42",
	)
	out := buf.String()
	for _, leak := range []string{"abc.def.ghi", "sid=123", "s3cr3t", jwt, "alice@example.com"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q: %s", leak, out)
		}
	}
	for _, keep := range []string{"/orders/42", "[email]", `"authorization":"[redacted]"`} {
		if !strings.Contains(out, keep) {
			t.Errorf("log lost %q: %s", keep, out)
		}
	}
}

func TestSanitizeQuery(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"page=2&sort=asc", "page=2&sort=asc"},
		{"access_token=abc&page=2", "access_token=[redacted]&page=2"},
		{"api_key=k1", "api_key=[redacted]"},
		{"API%5FKEY=k1", "API%5FKEY=[redacted]"},
		{"code=xyz&state=s", "code=[redacted]&state=s"},
		{"q=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "q=[redacted]"},
		{"flag&key=v", "flag&key=[redacted]"},
		{"keyboard=qwerty", "keyboard=qwerty"},
		{"order_id=123e4567-e89b-12d3-a456-426614174000", "order_id=123e4567-e89b-12d3-a456-426614174000"},
	}
	for _, c := range cases {
		if got := SanitizeQuery(c.in); got != c.want {
			t.Errorf("SanitizeQuery(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSanitizeQueryCleanDoesNotAllocate(t *testing.T) {
	q := "page=2&sort=asc&limit=50"
	if n := testing.AllocsPerRun(100, func() { _ = SanitizeQuery(q) }); n != 0 {
		t.Fatalf("allocs = %v", n)
	}
}

func TestBufferedWriterFlushesOnIntervalAndClose(t *testing.T) {
	var mu lockedBuffer
	w := NewBufferedWriter(&mu, 4096, 10*time.Millisecond)
	w.Write([]byte("one\n"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(mu.String(), "one") {
		if time.Now().After(deadline) {
			t.Fatal("interval flush never happened")
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.Write([]byte("two\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mu.String(), "two") {
		t.Fatal("close did not flush")
	}
	w.Write([]byte("three\n")) // after close: written through
	if !strings.Contains(mu.String(), "three") {
		t.Fatal("write after close lost")
	}
}

func TestLevel(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, Options{Level: slog.LevelWarn}).Info("hidden")
	if buf.Len() != 0 {
		t.Fatal("info logged at warn level")
	}
}
