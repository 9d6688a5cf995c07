package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Shared pieces of small test configurations, one line each so that the
// expected line numbers in tests stay easy to read.
const (
	okUpstream = `upstreams: {u: {targets: ["http://127.0.0.1:9001"]}}`
	okRoute    = `routes: [{name: r, match: {path: /r}, upstream: u, auth: none}]`
	minimal    = okUpstream + "\n" + okRoute + "\n"
)

func noEnv(string) (string, bool) { return "", false }

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse("t.yaml", []byte(src), noEnv)
	if err != nil {
		t.Fatalf("Parse:\n%v\nconfig:\n%s", err, src)
	}
	return cfg
}

// fullSecret is the HS256 secret testdata/full.yaml reads from ${LEGACY_ISSUER_HMAC_SECRET}.
const fullSecret = "0123456789abcdef0123456789abcdef"

// fullCookieKey is the login session key testdata/full.yaml reads from
// ${SESSION_COOKIE_KEY}: base64 of 32 bytes.
const fullCookieKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func TestLoadFull(t *testing.T) {
	t.Setenv("LEGACY_ISSUER_HMAC_SECRET", fullSecret)
	t.Setenv("SESSION_COOKIE_KEY", fullCookieKey)
	t.Setenv("RAMPART_JOIN_TOKEN", "join-token-from-the-environment")
	cfg, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Gateway
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", cfg.DataDir, "/var/lib/rampart"},
		{"listen", g.Listen, "0.0.0.0:443"},
		{"min_version (a YAML number)", g.TLS.MinVersion, "1.3"},
		{"max_body", g.Limits.MaxBody, Size(8 << 20)},
		{"max_header", g.Limits.MaxHeader, Size(32 << 10)},
		{"write_timeout", g.Limits.WriteTimeout.Std(), 5 * time.Minute},
		{"hsts.max_age", g.HSTS.MaxAge.Std(), 8760 * time.Hour},
		{"empty security header", g.SecurityHeaders["X-Frame-Options"], ""},
		{"security header", g.SecurityHeaders["Content-Security-Policy"], "default-src 'none'"},
		{"trusted_proxies", g.TrustedProxies, []string{"10.0.0.0/8", "192.168.1.10", "2001:db8::/32"}},
		{"targets", cfg.Upstreams["accounts"].Targets, []string{"https://10.0.0.5:9001", "https://10.0.0.6:9001"}},
		{"eject_for", cfg.Upstreams["accounts"].Passive.EjectFor.Std(), time.Minute},
		{"server_name", cfg.Upstreams["accounts"].TLS.ServerName, "accounts.internal"},
		{"host is lowercased", cfg.Routes[0].Match.Host, "api.example.com"},
		{"methods", cfg.Routes[0].Match.Methods, []string{"GET", "HEAD"}},
		{"auth none", cfg.Routes[1].Auth, Auth{Set: true, None: true}},
		{"websocket", cfg.Routes[1].WebSocket, true},
		// orders sets only targets: the rest are defaults.
		{"default retries", cfg.Upstreams["orders"].Retries, 1},
		{"default try_timeout", cfg.Upstreams["orders"].TryTimeout.Std(), 10 * time.Second},
		{"no health defaults without a path", cfg.Upstreams["orders"].Health, Health{}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestSourceLines(t *testing.T) {
	t.Setenv("LEGACY_ISSUER_HMAC_SECRET", fullSecret)
	t.Setenv("SESSION_COOKIE_KEY", fullCookieKey)
	t.Setenv("RAMPART_JOIN_TOKEN", "join-token-from-the-environment")
	cfg, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source.File != "testdata/full.yaml" {
		t.Errorf("Source.File = %q", cfg.Source.File)
	}
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	// Each path's line must hold the text that set it.
	for path, text := range map[string]string{
		"gateway":                                  "gateway:",
		"gateway.limits.max_body":                  "max_body: 8MiB",
		"gateway.trusted_proxies[1]":               "- 192.168.1.10",
		"upstreams.accounts":                       "accounts:",
		"upstreams.accounts.targets[1]":            "- https://10.0.0.6:9001",
		"upstreams.accounts.health.path":           "path: /healthz",
		"routes[1]":                                "- name: orders-live",
		"routes[1].match.path":                     "/orders/live",
		"routes[2].match.path":                     `"/static/*"`,
		"routes[0].match.methods[1]":               "methods: [GET, HEAD]",
		"gateway.security_headers.X-Frame-Options": `X-Frame-Options: ""`,
	} {
		l, ok := cfg.Source.Lines[path]
		if !ok {
			t.Errorf("no line for %s", path)
			continue
		}
		if !strings.Contains(lines[l-1], text) {
			t.Errorf("%s: line %d is %q, want it to contain %q", path, l, lines[l-1], text)
		}
	}
	// Later stages locate their errors through Source.
	e := cfg.Source.Errorf("routes[2].match.path", "ambiguous with %s", "routes[1]")
	want := `testdata/full.yaml:` + strconv.Itoa(cfg.Source.Lines["routes[2].match.path"]) + `: routes[2].match.path: ambiguous with routes[1]`
	if e.Error() != want {
		t.Errorf("Errorf = %q, want %q", e.Error(), want)
	}
	// A key that was not written falls back to its nearest parent.
	if e := cfg.Source.Errorf("routes[2].match.methods", "x"); e.Line != cfg.Source.Lines["routes[2].match"] {
		t.Errorf("fallback line %d, want %d", e.Line, cfg.Source.Lines["routes[2].match"])
	}
}

// TestFullUsesEveryKey keeps testdata/full.yaml a complete example: every key
// of the schema must appear in it.
func TestFullUsesEveryKey(t *testing.T) {
	t.Setenv("LEGACY_ISSUER_HMAC_SECRET", fullSecret)
	t.Setenv("SESSION_COOKIE_KEY", fullCookieKey)
	t.Setenv("RAMPART_JOIN_TOKEN", "join-token-from-the-environment")
	cfg, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for p := range cfg.Source.Lines {
		seen[docKey(p)] = true
	}
	for _, k := range schemaKeys() {
		if !seen[k] {
			t.Errorf("testdata/full.yaml does not use %s", k)
		}
	}
}

func TestDefaults(t *testing.T) {
	cfg := mustParse(t, `
upstreams:
  u: {targets: ["http://127.0.0.1:9001"], health: {path: /healthz}}
  v: {targets: ["http://127.0.0.1:9002"]}
gateway: {hsts: {enabled: true}}
`+okRoute)
	// Every entry of the table is applied where it applies.
	for _, dv := range defaults() {
		each(reflect.ValueOf(cfg).Elem(), strings.Split(dv.Key, "."), "", func(_, field reflect.Value, path string) {
			if dv.When != "" && (strings.HasPrefix(path, "upstreams.v.") || strings.HasPrefix(path, "login.") || strings.HasPrefix(path, "routes[")) {
				if !field.IsZero() {
					t.Errorf("%s = %v, want zero: %s only applies with %s", path, field.Interface(), dv.Key, dv.When)
				}
				return
			}
			want := reflect.New(field.Type()).Elem()
			if err := setScalar(want, dv.Value); err != nil {
				t.Fatalf("%s: %v", dv.Key, err)
			}
			if field.Interface() != want.Interface() {
				t.Errorf("%s = %v, want %v", path, field.Interface(), want.Interface())
			}
		})
	}
	if cfg.DataDir != "" {
		t.Errorf("data_dir = %q, want empty (the CLI resolves it)", cfg.DataDir)
	}
}

// Login's defaults apply once a login issuer is set.
func TestLoginDefaults(t *testing.T) {
	env := func(name string) (string, bool) { return fullCookieKey, name == "KEY" }
	cfg, err := Parse("t.yaml", []byte(`
upstreams: {u: {targets: ["http://127.0.0.1:9001"]}}
issuers: [{name: corp, issuer: "https://sso.example", jwks_uri: "https://sso.example/jwks", audiences: [api], algorithms: [ES256]}]
login: {issuer: corp, client_id: gw, redirect_url: "https://gw.example/.rampart/callback", cookie_key: "${KEY}"}
routes: [{name: r, match: {path: /r}, upstream: u, auth: {login: true}}]
`), env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Login.LogoutPath != "/.rampart/logout" || cfg.Login.SessionTTL.Std() != 8*time.Hour {
		t.Fatalf("login defaults: %+v", cfg.Login)
	}
}

// TestExplicitZeroIsKept: a written value is never replaced by a default, so
// "retries: 0" really turns retries off, and "read_timeout: 0s" is refused
// instead of silently becoming 60s.
func TestExplicitZeroIsKept(t *testing.T) {
	cfg := mustParse(t, `upstreams: {u: {targets: ["http://127.0.0.1:9001"], retries: 0, passive: {consecutive_failures: 0}}}
`+okRoute)
	u := cfg.Upstreams["u"]
	if u.Retries != 0 || u.Passive.ConsecutiveFailures != 0 {
		t.Errorf("retries %d, passive.consecutive_failures %d: want the written zeros", u.Retries, u.Passive.ConsecutiveFailures)
	}
	_, err := Parse("t.yaml", []byte("gateway: {limits: {read_timeout: 0s}}\n"+minimal), noEnv)
	want := "t.yaml:1: gateway.limits.read_timeout: must be greater than 0 (an unbounded wait lets slow clients hold connections open)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestTryTimeoutDefaultFollowsTimeout(t *testing.T) {
	cfg := mustParse(t, `upstreams: {u: {targets: ["http://127.0.0.1:9001"], timeout: 3s}}
`+okRoute)
	if got := cfg.Upstreams["u"].TryTimeout.Std(); got != 3*time.Second {
		t.Errorf("try_timeout = %v, want 3s (the default is capped at timeout)", got)
	}
}

func TestDefaultsTable(t *testing.T) {
	seen := make(map[string]bool)
	for _, dv := range defaults() {
		if seen[dv.Key] {
			t.Errorf("%s is listed twice", dv.Key)
		}
		seen[dv.Key] = true
		found := 0
		cfg := &Config{Upstreams: map[string]*Upstream{"x": {}}, Issuers: []Issuer{{}}, Routes: []Route{{}}}
		each(reflect.ValueOf(cfg).Elem(), strings.Split(dv.Key, "."), "", func(parent, field reflect.Value, _ string) {
			found++
			if err := setScalar(field, dv.Value); err != nil {
				t.Errorf("%s: value %q: %v", dv.Key, dv.Value, err)
			}
			if dv.When != "" {
				if _, ok := yamlFields(parent.Type())[dv.When]; !ok {
					t.Errorf("%s: when %q is not a sibling key", dv.Key, dv.When)
				}
			}
		})
		if found != 1 {
			t.Errorf("%s reaches %d fields, want 1", dv.Key, found)
		}
	}
}

func TestLoadFileProblems(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", maxFileSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
	}{
		{filepath.Join(dir, "missing.yaml"), filepath.Join(dir, "missing.yaml") + ": cannot open the file: does not exist"},
		{dir, dir + ": is not a regular file"},
		{big, big + ": is larger than 4194304 bytes"},
	}
	for _, tt := range tests {
		_, err := Load(tt.path)
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 1 || errs[0].File != tt.path {
			t.Errorf("Load(%s) = %v, want one located Error", tt.path, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Load(%s) = %q, want %q", tt.path, err, tt.want)
		}
	}
}

func TestLoadUsesEnvironment(t *testing.T) {
	t.Setenv("RAMPART_TEST_UPSTREAM", "127.0.0.1:9009")
	path := filepath.Join(t.TempDir(), "c.yaml")
	src := `upstreams: {u: {targets: ["http://${RAMPART_TEST_UPSTREAM}"]}}` + "\n" + okRoute + "\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Upstreams["u"].Targets[0]; got != "http://127.0.0.1:9009" {
		t.Errorf("target = %q", got)
	}
}
