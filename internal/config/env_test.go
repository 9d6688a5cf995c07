package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"HOST": "db.internal", "EMPTY": "", "A_1": "x"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "${HOST}", want: "db.internal"},
		{in: "http://${HOST}:${A_1}/", want: "http://db.internal:x/"},
		{in: "${EMPTY}", want: ""},
		{in: "$${HOST}", want: "${HOST}"},
		{in: "a$${b}${A_1}", want: "a${b}x"},
		{in: "$HOST and $ and $$", want: "$HOST and $ and $$"},
		{in: "${MISSING}", err: "environment variable MISSING is not set"},
		{in: "${HOST", err: `unterminated "${" (write "$${" for a literal "${")`},
		{in: "${}", err: `"${}" is not a valid environment variable reference (names are letters, digits and '_', not starting with a digit; write "$${" for a literal "${")`},
		{in: "${1X}", err: `"${1X}" is not a valid environment variable reference (names are letters, digits and '_', not starting with a digit; write "$${" for a literal "${")`},
		{in: "${A-B}", err: `"${A-B}" is not a valid environment variable reference (names are letters, digits and '_', not starting with a digit; write "$${" for a literal "${")`},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, lookup)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("expand(%q) error = %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	// Expansion is one pass: a value containing "${" is not expanded again.
	env["NESTED"] = "${HOST}"
	if got, err := expand("${NESTED}", lookup); err != nil || got != "${HOST}" {
		t.Errorf("nested: %q, %v", got, err)
	}
}

// TestEnvValuesAreUsed is the honest side of TestSecretNeverInErrors: a
// valid secret from the environment lands in the configuration.
func TestEnvValuesAreUsed(t *testing.T) {
	env := map[string]string{"UP": "10.0.0.7:9001", "TEAM_TOKEN": "t0k3n", "ADMIN": "127.0.0.1:9999", "BODY": "2MiB"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := Parse("t.yaml", []byte(`gateway:
  admin: ${ADMIN}
  limits: {max_body: "${BODY}"}
  security_headers: {X-Team: "Bearer ${TEAM_TOKEN}"}
upstreams: {u: {targets: ["https://${UP}"]}}
`+okRoute), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.Admin != "127.0.0.1:9999" || cfg.Gateway.Limits.MaxBody != 2<<20 ||
		cfg.Gateway.SecurityHeaders["X-Team"] != "Bearer t0k3n" || cfg.Upstreams["u"].Targets[0] != "https://10.0.0.7:9001" {
		t.Errorf("expanded values not used: %+v %v", cfg.Gateway, cfg.Upstreams["u"].Targets)
	}
}

// TestSecretNeverInErrors: a value from the environment that makes a key
// invalid is reported by its ${NAME} reference, never by its value, wherever
// the mistake is found (decoding, validation, file checks).
func TestSecretNeverInErrors(t *testing.T) {
	const secret = "Hunter2 s3cr3t\r\n%/../" // invalid in every field below
	lookup := func(k string) (string, bool) {
		if k == "SECRET" {
			return secret, true
		}
		return "", false
	}
	tests := []struct {
		key, src string
	}{
		{"gateway.listen", `gateway: {listen: "${SECRET}"}`},
		{"gateway.admin", `gateway: {admin: "x${SECRET}:1"}`},
		{"gateway.redirect_http", `gateway: {redirect_http: "${SECRET}:80"}`},
		{"gateway.trusted_proxies[0]", `gateway: {trusted_proxies: ["10.${SECRET}/8"]}`},
		{"gateway.tls.cert", `gateway: {tls: {cert: "${SECRET}", key: testdata/edge.key}}`},
		{"gateway.tls.min_version", `gateway: {tls: {min_version: "${SECRET}"}}`},
		{"gateway.limits.max_body", `gateway: {limits: {max_body: "${SECRET}"}}`},
		{"gateway.limits.read_timeout", `gateway: {limits: {read_timeout: "${SECRET}"}}`},
		{"gateway.security_headers.X-Api-Key", `gateway: {security_headers: {X-Api-Key: "${SECRET}"}}`},
		{"log.level", `log: {level: "${SECRET}"}`},
		{"log.access", `log: {access: "${SECRET}"}`},
		{"upstreams.v.targets[0]", `upstreams: {v: {targets: ["https://${SECRET}"]}}`},
		{"upstreams.v.targets[0]", `upstreams: {v: {targets: ["https://svc:${SECRET}@10.0.0.1"]}}`},
		{"upstreams.v.balance", `upstreams: {v: {targets: ["https://10.0.0.1"], balance: "${SECRET}"}}`},
		{"upstreams.v.tls.ca_file", `upstreams: {v: {targets: ["https://10.0.0.1"], tls: {ca_file: "${SECRET}"}}}`},
		{"upstreams.v.tls.server_name", `upstreams: {v: {targets: ["https://10.0.0.1"], tls: {server_name: "${SECRET}"}}}`},
		{"routes[0].name", `routes: [{name: "${SECRET}", match: {path: /s}, upstream: u, auth: none}]`},
		{"routes[0].match.path", `routes: [{name: s, match: {path: "/a/${SECRET}"}, upstream: u, auth: none}]`},
		{"routes[0].match.host", `routes: [{name: s, match: {path: /s, host: "${SECRET}"}, upstream: u, auth: none}]`},
		{"routes[0].match.methods[0]", `routes: [{name: s, match: {path: /s, methods: ["${SECRET}"]}, upstream: u, auth: none}]`},
		{"routes[0].upstream", `routes: [{name: s, match: {path: /s}, upstream: "${SECRET}", auth: none}]`},
	}
	for _, tt := range tests {
		src := tt.src + "\n"
		if !strings.HasPrefix(tt.src, "upstreams") {
			src += okUpstream + "\n"
		}
		if !strings.HasPrefix(tt.src, "routes") {
			src += okRoute + "\n"
		}
		_, err := Parse("t.yaml", []byte(src), lookup)
		if err == nil {
			t.Errorf("%s: accepted an invalid value", tt.key)
			continue
		}
		found := false
		text := err.Error()
		for _, e := range err.(Errors) {
			found = found || e.Path == tt.key
			text += fmt.Sprintf("%+v", *e)
		}
		if !found {
			t.Errorf("%s: no problem reported there: %v", tt.key, err)
		}
		for _, part := range []string{secret, "Hunter2", "s3cr3t"} {
			if strings.Contains(text, part) {
				t.Errorf("%s: the error reveals the secret: %v", tt.key, err)
			}
		}
	}
}
