package redact

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func mustNew(t testing.TB, o Options) *Redactor {
	t.Helper()
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"unknown kind":          {Kinds: []Kind{kindEnd}},
		"zero kind":             {Kinds: []Kind{0}},
		"unknown style":         {Style: styleEnd},
		"style for bad kind":    {Styles: map[Kind]Style{kindEnd: Full}},
		"unknown style value":   {Styles: map[Kind]Style{Email: styleEnd}},
		"last4 of a jwt":        {Styles: map[Kind]Style{JWT: LastFour}},
		"last4 of a password":   {Styles: map[Kind]Style{Credential: LastFour}},
		"hash without key":      {Style: Hash},
		"hash with short key":   {Styles: map[Kind]Style{Email: Hash}, HashKey: []byte("short")},
		"hash of one, no key":   {Kinds: []Kind{Email}, Styles: map[Kind]Style{Email: Hash}},
		"last4 on unknown kind": {Styles: map[Kind]Style{99: LastFour}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
	// A hash style for a kind that is not detected needs no key.
	if _, err := New(Options{Kinds: []Kind{Card}, Styles: map[Kind]Style{Email: Hash}}); err != nil {
		t.Errorf("hash style of a disabled kind: %v", err)
	}
}

func TestKindAndStyleNames(t *testing.T) {
	for _, k := range AllKinds() {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k, got, err)
		}
	}
	for s := Style(0); s < styleEnd; s++ {
		got, err := ParseStyle(s.String())
		if err != nil || got != s {
			t.Errorf("ParseStyle(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseKind("passport"); err == nil {
		t.Error("ParseKind accepted an unknown name")
	}
	if _, err := ParseStyle("partial"); err == nil {
		t.Error("ParseStyle accepted an unknown name")
	}
	if len(AllKinds()) != int(kindEnd)-1 {
		t.Errorf("AllKinds has %d kinds", len(AllKinds()))
	}
}

func TestStyles(t *testing.T) {
	const in = "card 4111 1111 1111 1111, phone +44 20 7946 0958, mail Alice@Example.com, iban GB82 WEST 1234 5698 7654 32, ssn 536-22-1234, key AKIAIOSFODNN7EXAMPLE"
	cases := []struct {
		name string
		o    Options
		want string
	}{
		{"full", Options{},
			"card [REDACTED:card], phone [REDACTED:phone], mail [REDACTED:email], iban [REDACTED:iban], ssn [REDACTED:ssn], key [REDACTED:api_key]"},
		{"last4 where allowed", Options{Style: LastFour},
			"card ****1111, phone ****0958, mail [REDACTED:email], iban ****5432, ssn ****1234, key [REDACTED:api_key]"},
		{"per kind", Options{Styles: map[Kind]Style{Card: LastFour}},
			"card ****1111, phone [REDACTED:phone], mail [REDACTED:email], iban [REDACTED:iban], ssn [REDACTED:ssn], key [REDACTED:api_key]"},
	}
	for _, c := range cases {
		if got := mustNew(t, c.o).String(in); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

func TestHashStyle(t *testing.T) {
	r := mustNew(t, Options{Style: Hash, HashKey: testKey})
	mask := func(s string) string {
		t.Helper()
		fs := r.Findings(s)
		if len(fs) != 1 {
			t.Fatalf("%q: %d findings", s, len(fs))
		}
		return r.String(s)
	}
	a := mask("4111 1111 1111 1111")
	if len(a) != len("[card:")+12+1 || !strings.HasPrefix(a, "[card:") || !strings.HasSuffix(a, "]") {
		t.Fatalf("hash mask %q", a)
	}
	if _, err := hex.DecodeString(a[6:18]); err != nil {
		t.Fatalf("hash mask %q is not hex", a)
	}
	// One value written two ways hashes the same: operators can correlate.
	for _, same := range []string{"4111-1111-1111-1111", "4111111111111111"} {
		if b := mask(same); b != a {
			t.Errorf("%q hashes to %s, %q to %s", same, b, "4111 1111 1111 1111", a)
		}
	}
	if mask("alice@example.com") != mask("ALICE@Example.COM") || mask("alice@example.com") != mask("alice%40example.com") {
		t.Error("e-mail addresses differing in case or escaping hash differently")
	}
	if mask("5555 5555 5555 4444") == a {
		t.Error("two cards hash the same")
	}
	// The key matters: without it the hash cannot be recomputed.
	other := mustNew(t, Options{Style: Hash, HashKey: []byte("another key of 16+ bytes")})
	if other.String("4111 1111 1111 1111") == a {
		t.Error("the hash does not depend on the key")
	}
	// Concurrent use shares the pooled HMAC states safely.
	done := make(chan string)
	for range 8 {
		go func() { done <- r.String("4111 1111 1111 1111") }()
	}
	for range 8 {
		if got := <-done; got != a {
			t.Errorf("concurrent hash %s, want %s", got, a)
		}
	}
}

func TestOnlyEnabledKinds(t *testing.T) {
	r := mustNew(t, Options{Kinds: []Kind{Email, Card}})
	in := `alice@example.com 4111111111111111 +44 20 7946 0958 {"password":"x"} AKIAIOSFODNN7EXAMPLE`
	want := `[REDACTED:email] [REDACTED:card] +44 20 7946 0958 {"password":"x"} AKIAIOSFODNN7EXAMPLE`
	if got := r.String(in); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestCleanTextIsReturnedWithoutAllocating(t *testing.T) {
	r := mustNew(t, Options{})
	for _, s := range []string{"", "a", accessLine, "plain words, numbers 12 345 and 2026-11-30"} {
		if got := r.String(s); got != s {
			t.Errorf("String(%q) = %q", s, got)
		}
		if n := testing.AllocsPerRun(100, func() { _ = r.String(s) }); n != 0 {
			t.Errorf("String(%q) allocates %.0f times", s, n)
		}
		if n := testing.AllocsPerRun(100, func() { _ = r.Field("user_agent", s) }); n != 0 {
			t.Errorf("Field(%q) allocates %.0f times", s, n)
		}
		buf := make([]byte, 0, 1024)
		if n := testing.AllocsPerRun(100, func() { buf = r.Append(buf[:0], s) }); n != 0 {
			t.Errorf("Append(%q) allocates %.0f times", s, n)
		}
		if r.Findings(s) != nil {
			t.Errorf("Findings(%q) is not nil", s)
		}
	}
}

func TestAppendMatchesString(t *testing.T) {
	r := mustNew(t, Options{})
	for _, c := range loadCorpus(t) {
		got := string(r.Append([]byte("prefix:"), c.text))
		if want := "prefix:" + r.String(c.text); got != want {
			t.Errorf("corpus.txt:%d: Append %q, String %q", c.line, got, want)
		}
	}
}

// TestIdempotent: masking masked text changes nothing, in every style,
// because masks are not detected and credential fields that hold a mask are
// left alone.
func TestIdempotent(t *testing.T) {
	for name, o := range map[string]Options{
		"full":  {},
		"last4": {Style: LastFour},
		"hash":  {Style: Hash, HashKey: testKey},
	} {
		r := mustNew(t, o)
		for _, c := range loadCorpus(t) {
			once := r.String(c.text)
			if twice := r.String(once); twice != once {
				t.Errorf("%s: corpus.txt:%d: not a fixed point:\n once  %s\n twice %s", name, c.line, once, twice)
			}
		}
	}
}

// TestJSONStaysJSON: masking a JSON line gives a JSON line, including a
// credential that was a number and values after escapes.
func TestJSONStaysJSON(t *testing.T) {
	r := mustNew(t, Options{})
	extra := []string{
		`{"pin":1234,"x":1}`,
		`{"log":"{\"pin\":1234}"}`,
		`{"msg":"line1\nalice@example.com"}`,
		`{"msg":"\u0041KIAIOSFODNN7EXAMPLE \ttoken=abc"}`,
		`{"msg":"tab\t4111111111111111"}`,
		`{"pan":4111111111111111}`,
		`{"pan": 4111111111111111 , "phone":447946095812}`,
		`[4111111111111111,5555555555554444]`,
		`{"n":"4111111111111111","m":"x, 4111111111111111, y"}`,
		`{"q":"say \"hi\" 4111111111111111","pan":4111111111111111}`,
	}
	n := 0
	for _, c := range loadCorpus(t) {
		extra = append(extra, c.text)
	}
	for _, s := range extra {
		if !json.Valid([]byte(s)) {
			continue
		}
		n++
		if out := r.String(s); !json.Valid([]byte(out)) {
			t.Errorf("%s\nbecame invalid JSON\n%s", s, out)
		}
	}
	if n < 20 {
		t.Fatalf("only %d JSON lines checked", n)
	}
}

func TestField(t *testing.T) {
	r := mustNew(t, Options{})
	const hexKey = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	cases := []struct{ key, in, want string }{
		{"password", "hunter2", "[REDACTED:credential]"},
		{"Authorization", "Bearer abc.def", "[REDACTED:credential]"},
		{"X-Api-Key", "k1", "[REDACTED:credential]"},
		{"clientSecret", "s", "[REDACTED:credential]"},
		{"password", "", ""},
		{"password", "[REDACTED:credential]", "[REDACTED:credential]"},
		{"digest", hexKey, hexKey},
		{"X-Request-Id", "b02e6ce51244f004a216cd42", "b02e6ce51244f004a216cd42"},
		{"note", hexKey, "[REDACTED:secret]"},
		{"phone", "07946095812", "[REDACTED:phone]"},
		{"order_id", "07946095812", "07946095812"},
		{"path", "/v1/users/alice@example.com/orders", "/v1/users/[REDACTED:email]/orders"},
		{"query", "page=2&password=x", "page=2&password=[REDACTED:credential]"},
		{"token_type", "Bearer", "Bearer"},
	}
	for _, c := range cases {
		if got := r.Field(c.key, c.in); got != c.want {
			t.Errorf("Field(%q, %q) = %q, want %q", c.key, c.in, got, c.want)
		}
	}
}

func TestCredentialKey(t *testing.T) {
	for _, k := range []string{
		"password", "Password", "PASSWORD", "passwd", "pwd", "user_password", "newPassword", "db.password",
		"secret", "client_secret", "clientSecret", "aws_secret_access_key", "token", "access_token", "accessToken",
		"refresh_token", "id_token", "X-Auth-Token", "x-csrf-token", "api_key", "apiKey", "API-KEY", "x-api-key",
		"authorization", "Proxy-Authorization", "cookie", "Set-Cookie", "session_id", "private_key", "passphrase",
		"X-Amz-Signature", "sig", "otp", "pin", "cvv",
	} {
		if !credentialKey(k) {
			t.Errorf("credentialKey(%q) = false", k)
		}
	}
	for _, k := range []string{
		"", "time", "level", "msg", "request_id", "path", "query", "user_agent", "status", "bytes", "route",
		"token_type", "tokens", "token_count", "password_changed_at", "secret_count", "expires_in", "keyboard",
		"key_id", "kid", "author", "session_count", "passenger", "spinner", "stoken",
	} {
		if credentialKey(k) {
			t.Errorf("credentialKey(%q) = true", k)
		}
	}
}

// TestEntropyThresholds measures the high-entropy rule: random keys are
// found, identifiers are not. The rates are the evidence for the
// thresholds in entropy.go.
func TestEntropyThresholds(t *testing.T) {
	const n = 2000
	// Seeded, so that the rates are the same on every run.
	rng := rand.NewChaCha8([32]byte{'r', 'a', 'm', 'p', 'a', 'r', 't'})
	missRate := func(bytes int, enc func([]byte) string) float64 {
		miss := 0
		b := make([]byte, bytes)
		for range n {
			rng.Read(b)
			if !isSecret(enc(b)) {
				miss++
			}
		}
		return float64(miss) / n
	}
	for _, c := range []struct {
		name  string
		bytes int
		enc   func([]byte) string
		max   float64
	}{
		{"base64url 32 chars", 24, base64.RawURLEncoding.EncodeToString, 0.04},
		{"base64 40 chars", 30, base64.StdEncoding.EncodeToString, 0.02},
		{"base64url 43 chars", 32, base64.RawURLEncoding.EncodeToString, 0.01},
		{"base64url 64 chars", 48, base64.RawURLEncoding.EncodeToString, 0.005},
		{"hex 32 chars", 16, hex.EncodeToString, 0.005},
		{"hex 64 chars", 32, hex.EncodeToString, 0.001},
	} {
		rate := missRate(c.bytes, c.enc)
		t.Logf("random %-20s missed %.2f%%", c.name, 100*rate)
		if rate > c.max {
			t.Errorf("random %s: missed %.2f%%, want at most %.2f%%", c.name, 100*rate, 100*c.max)
		}
	}
	for _, id := range []string{
		"AbstractSingletonProxyFactoryBean2Impl", "HandleIncomingRequestWithRetry3Times",
		"TestRedactCorpusWithAllDetectorsEnabled2", "getUserProfileSettingsForAccount2",
		"com_example_payments_v2_CreatePaymentIntentRequest", "XMLHttpRequest2EventTargetPrototypeV8Binding",
		"user_profile_settings_updated_at_v2", "ERR_TOKEN_EXPIRED_RETRY_AFTER_30_SECONDS",
		"X-Forwarded-For-Client-Certificate-Chain-2", "00000000000000000000000000000001",
		"deadbeefdeadbeefdeadbeefdeadbeef", "123e4567-e89b-12d3-a456-426614174000",
	} {
		if isSecret(id) {
			t.Errorf("isSecret(%q) = true", id)
		}
	}
}

// TestOverlapsJoin: when detectors overlap, the mask covers all of them.
func TestOverlapsJoin(t *testing.T) {
	r := mustNew(t, Options{})
	for in, want := range map[string]string{
		"a@b.co@example.com":           "[REDACTED:email]",
		"4111111111111111@example.com": "[REDACTED:email]",
		`{"authorization":"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"}`: `{"authorization":"[REDACTED:credential]"}`,
		// A credential field's value is masked whole, whatever it holds.
		`{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"}`: `{"token":"[REDACTED:credential]"}`,
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestManySpans covers more findings than the scanner keeps inline.
func TestManySpans(t *testing.T) {
	r := mustNew(t, Options{})
	in := strings.Repeat("alice@example.com ", 40)
	fs := r.Findings(in)
	if len(fs) != 40 {
		t.Fatalf("%d findings, want 40", len(fs))
	}
	if got, want := r.String(in), strings.Repeat("[REDACTED:email] ", 40); got != want {
		t.Errorf("got %q", got)
	}
	// Found out of order (an address is found from its '@'), then sorted.
	in = strings.Repeat("4111111111111111 a.b@example.com ", 20)
	prev := -1
	for _, f := range r.Findings(in) {
		if f.Start < prev {
			t.Fatalf("findings out of order: %v", r.Findings(in))
		}
		prev = f.End
	}
}
