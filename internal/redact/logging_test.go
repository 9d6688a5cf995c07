package redact_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/logging"
	"github.com/rampart-sec/rampart/internal/redact"
)

// TestAccessLogHook plugs Field into the access log's redaction hook, as
// the gateway will: PII in the values is masked, the line stays JSON, and
// honest values are kept.
func TestAccessLogHook(t *testing.T) {
	r, err := redact.New(redact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	logging.NewAccessLog(&buf, r.Field).Log(&logging.AccessRecord{
		Time:      time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC),
		RequestID: "5f0c2a9e7b1d3c4a6e8f0b2d",
		ClientIP:  "203.0.113.7",
		Method:    "GET",
		Host:      "api.example.com",
		Path:      "/v1/cards/4111111111111111",
		Query:     logging.SanitizeQuery("email=alice%40example.com&page=2"),
		Proto:     "HTTP/2.0",
		Status:    200,
		Route:     "cards",
		Error:     "upstream: key AKIAIOSFODNN7EXAMPLE rejected for +44 20 7946 0958",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
	})
	line := buf.String()
	for _, leak := range []string{"4111111111111111", "alice%40example.com", "AKIAIOSFODNN7EXAMPLE", "7946 0958"} {
		if strings.Contains(line, leak) {
			t.Errorf("access log leaks %q: %s", leak, line)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, line)
	}
	want := map[string]any{
		"path":       "/v1/cards/[REDACTED:card]",
		"query":      "email=[REDACTED:email]&page=2",
		"request_id": "5f0c2a9e7b1d3c4a6e8f0b2d",
		"client_ip":  "203.0.113.7",
		"user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
		"error":      "upstream: key [REDACTED:api_key] rejected for [REDACTED:phone]",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

// TestSlogHook plugs Field into logging.New's hook.
func TestSlogHook(t *testing.T) {
	r, err := redact.New(redact.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	logging.New(&buf, logging.Options{Redact: r.Field}).Info("x", "who", "bob@example.org", "iban", "GB82 WEST 1234 5698 7654 32")
	if out := buf.String(); strings.Contains(out, "bob@example.org") || strings.Contains(out, "GB82") {
		t.Errorf("log leaks: %s", out)
	}
}
