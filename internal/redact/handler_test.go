package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

const (
	hEmail = "alice@example.com"
	hCard  = "4111 1111 1111 1111"
	hJWT   = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	hKey   = "AKIAIOSFODNN7EXAMPLE"
	hPhone = "+44 20 7946 0958"
)

type account struct {
	Owner string `json:"owner"`
	Card  string `json:"card"`
	Note  string `json:"note"`
}

type lazy struct{ v string }

func (l lazy) LogValue() slog.Value { return slog.StringValue(l.v) }

type stringer struct{ v string }

func (s stringer) String() string { return s.v }

func TestHandlerMasksEverything(t *testing.T) {
	r := mustNew(t, Options{})
	var buf bytes.Buffer
	log := slog.New(r.Handler(slog.NewJSONHandler(&buf, nil)))
	log = log.With("client", hEmail).WithGroup("req").With("auth", "Bearer "+hJWT)
	log.Info("login by "+hEmail+" with card "+hCard,
		"path", "/v1/orders/42",
		"status", 200,
		"user", slog.GroupValue(
			slog.String("email", hEmail),
			slog.Group("billing", slog.String("card", hCard), slog.String("phone", hPhone), slog.Int("items", 3)),
		),
		"password", "hunter2",
		"pin", 1234,
		"pan", int64(4111111111111111),
		"err", errors.New("upstream rejected key "+hKey),
		"lazy", lazy{hEmail},
		"stringer", stringer{"card " + hCard},
		"raw", []byte("token "+hJWT),
		"account", account{Owner: hEmail, Card: hCard, Note: "vip"},
		"digest", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
	)
	out := buf.String()
	for _, leak := range []string{hEmail, hCard, hJWT, hKey, hPhone, "hunter2", "1234,", "4111111111111111"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q:\n%s", leak, out)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	req := m["req"].(map[string]any)
	user := req["user"].(map[string]any)
	billing := user["billing"].(map[string]any)
	acct := req["account"].(map[string]any)
	for path, got := range map[string]any{
		"msg":                   m["msg"],
		"client":                m["client"],
		"req.auth":              req["auth"],
		"req.user.email":        user["email"],
		"req.user.billing.card": billing["card"],
		"req.password":          req["password"],
		"req.pin":               req["pin"],
		"req.pan":               req["pan"],
		"req.err":               req["err"],
		"req.lazy":              req["lazy"],
		"req.account.card":      acct["card"],
	} {
		if s, ok := got.(string); !ok || !strings.Contains(s, "[REDACTED:") {
			t.Errorf("%s = %v, want it masked", path, got)
		}
	}
	// What is not sensitive is untouched, types included.
	if req["path"] != "/v1/orders/42" || req["status"] != float64(200) || billing["items"] != float64(3) || acct["note"] != "vip" {
		t.Errorf("honest values changed: %s", out)
	}
	if req["digest"] != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Errorf("digest masked: %v", req["digest"])
	}
	if want := "login by [REDACTED:email] with card [REDACTED:card]"; m["msg"] != want {
		t.Errorf("msg = %q, want %q", m["msg"], want)
	}
}

// TestHandlerPassesCleanRecordsThrough: a record with nothing to mask is the
// record the next handler gets, attributes and all.
func TestHandlerPassesCleanRecordsThrough(t *testing.T) {
	r := mustNew(t, Options{})
	var plain, masked bytes.Buffer
	args := []any{"path", "/v1/orders/42", "status", 200, "ms", 12.5, "ok", true, "g", slog.GroupValue(slog.String("k", "v"))}
	slog.New(slog.NewJSONHandler(&plain, nil)).Info("done", args...)
	slog.New(r.Handler(slog.NewJSONHandler(&masked, nil))).Info("done", args...)
	// Drop the times, which differ.
	trim := func(b *bytes.Buffer) string { _, rest, _ := strings.Cut(b.String(), `"level"`); return rest }
	if trim(&plain) != trim(&masked) {
		t.Errorf("clean record changed:\n%s\n%s", plain.String(), masked.String())
	}
}

func TestHandlerEnabledFollowsNext(t *testing.T) {
	r := mustNew(t, Options{})
	h := r.Handler(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.Enabled(context.Background(), slog.LevelInfo) || !h.Enabled(context.Background(), slog.LevelError) {
		t.Error("Enabled does not follow the next handler's level")
	}
}

func TestHandlerTextOutput(t *testing.T) {
	r := mustNew(t, Options{})
	var buf bytes.Buffer
	slog.New(r.Handler(slog.NewTextHandler(&buf, nil))).Info("x", "account", account{Owner: hEmail})
	if strings.Contains(buf.String(), hEmail) || !strings.Contains(buf.String(), "[REDACTED:email]") {
		t.Errorf("text handler output: %s", buf.String())
	}
}
