package config

import "testing"

// TestHonestConfigs is the other half of TestBrokenConfigs: for each rule,
// the legitimate form is accepted.
func TestHonestConfigs(t *testing.T) {
	route := func(match string) string {
		return okUpstream + "\nroutes: [{name: r, match: " + match + ", upstream: u, auth: none}]\n"
	}
	tests := []struct {
		name, src string
	}{
		{"public route", minimal},
		{"path template", route(`{path: "/accounts/{id}/orders/{order_id}"}`)},
		{"prefix", route(`{path: "/static/*"}`)},
		{"everything", route(`{path: "/*"}`)},
		{"root", route(`{path: /}`)},
		{"unicode and punctuation", route(`{path: "/café/a.b-c_d~e;v=1", allow_semicolon: true}`)},
		{"exact host", route(`{path: /r, host: API.Example.com.}`)},
		{"wildcard host", route(`{path: /r, host: "*.example.com"}`)},
		{"IPv4 host", route(`{path: /r, host: 192.0.2.1}`)},
		{"IPv6 host", route(`{path: /r, host: "[2001:db8::1]"}`)},
		{"every allowed method", route(`{path: /r, methods: [GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS]}`)},
		{"no methods means all", route(`{path: /r, methods: []}`)},
		{"route names", okUpstream + "\nroutes: [{name: v1.read_all-2, match: {path: /r}, upstream: u, auth: none}]\n"},
		{"upstream names", "upstreams: {orders_v2-eu: {targets: [\"http://127.0.0.1:1\"]}}\nroutes: [{name: r, match: {path: /r}, upstream: orders_v2-eu, auth: none}]\n"},
		{"https targets with TLS settings", "upstreams: {u: {targets: [\"https://10.0.0.5:9001/\", \"https://[2001:db8::5]\"], tls: {ca_file: testdata/ca.pem, server_name: svc.internal}}}\n" + okRoute + "\n"},
		{"same host, other scheme or port", "upstreams: {u: {targets: [\"http://svc\", \"https://svc\", \"http://svc:8080\"]}}\n" + okRoute + "\n"},
		{"retries off and at the cap", "upstreams: {u: {targets: [\"http://a\"], retries: 0}, v: {targets: [\"http://b\"], retries: 5}}\n" + okRoute + "\n"},
		{"try_timeout equal to timeout", "upstreams: {u: {targets: [\"http://a\"], timeout: 5s, try_timeout: 5s}}\n" + okRoute + "\n"},
		{"health with query", "upstreams: {u: {targets: [\"http://a\"], health: {path: \"/healthz?full=1\", healthy_threshold: 1}}}\n" + okRoute + "\n"},
		{"listen forms", "gateway: {listen: \"[::1]:8443\", admin: \"localhost:9901\", redirect_http: \"0.0.0.0:8080\"}\n" + minimal},
		{"ephemeral ports may repeat", "gateway: {listen: \"127.0.0.1:0\", admin: \"127.0.0.1:0\", tls: {disabled: true}}\n" + minimal},
		{"admin on another interface", "gateway: {listen: \"10.0.0.1:8443\", admin: \"127.0.0.1:8443\"}\n" + minimal},
		{"trusted proxies", "gateway: {trusted_proxies: [10.0.0.0/8, 192.168.1.1, \"::1\", \"fd00::/8\", 203.0.113.7/32]}\n" + minimal},
		{"TLS files", "gateway: {tls: {cert: testdata/edge.crt, key: testdata/edge.key, min_version: \"1.2\"}}\n" + minimal},
		{"limits at their bounds", "gateway: {limits: {max_body: 1, max_header: 1KiB, max_connections: 1, max_concurrent_streams: 1000, write_timeout: 0}}\n" + minimal},
		{"header limit at the top", "gateway: {limits: {max_header: 1MiB, max_concurrent_streams: 1}}\n" + minimal},
		{"security headers", "gateway: {security_headers: {Permissions-Policy: \"camera=(), geolocation=()\", X-Frame-Options: \"\", X-Tab: \"a\\tb\"}}\n" + minimal},
		{"log levels and sinks", "log: {level: warn, access: \"off\"}\n" + minimal},
		{"literal dollar brace", "gateway: {security_headers: {X-Template: \"$${not_expanded}\"}}\n" + minimal},
		{"comments", "# comment\n" + minimal + "# trailing\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustParse(t, tt.src)
		})
	}
}

func TestHostIsNormalized(t *testing.T) {
	cfg := mustParse(t, okUpstream+"\nroutes: [{name: r, match: {path: /r, host: \"*.API.Example.COM.\"}, upstream: u, auth: none}]\n")
	if got := cfg.Routes[0].Match.Host; got != "*.api.example.com" {
		t.Errorf("host = %q, want lowercase without the final dot", got)
	}
}
