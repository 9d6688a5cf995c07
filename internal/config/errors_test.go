package config

import (
	"errors"
	"strings"
	"testing"
)

// TestBrokenConfigs: each configuration has one mistake, and the loader
// must report exactly this "file:line: path: message".
func TestBrokenConfigs(t *testing.T) {
	env := func(name string) (string, bool) {
		if name == "DEFINED" {
			return "value", true
		}
		return "", false
	}
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"unknown key with a suggestion",
			"gateway: {lsten: \":8443\"}\n" + minimal,
			`t.yaml:1: gateway.lsten: unknown key (did you mean "listen"?)`},
		{"camelCase key",
			"gateway:\n  limits: {maxBody: 1MiB}\n" + minimal,
			`t.yaml:2: gateway.limits.maxBody: unknown key (did you mean "max_body"?)`},
		{"unknown key lists what is allowed",
			okUpstream + "\nroutes: [{name: r, match: {path: /r}, upstream: u, auth: none, alow: 'true'}]\n",
			`t.yaml:2: routes[0].alow: unknown key (did you mean "allow"?)`},
		{"mapping where a list belongs",
			okUpstream + "\nroutes: {name: r}\n",
			`t.yaml:2: routes: expected a list, got a mapping`},
		{"string where a mapping belongs",
			"gateway: on\n" + minimal,
			`t.yaml:1: gateway: expected a mapping, got a string`},
		{"duplicate key",
			"log:\n  level: info\n  level: debug\n" + minimal,
			`t.yaml:3: log.level: duplicate key (first set at line 2)`},
		{"alias",
			"log: &l {level: info}\nx: *l\n" + minimal,
			"t.yaml:2: aliases are not allowed\nt.yaml:2: x: unknown key (allowed here: api_keys, data_dir, gateway, identity, issuers, log, login, rate_limits, response_cache, routes, token, transit, upstreams)"},
		{"second document",
			minimal + "---\nlog: {level: info}\n",
			`t.yaml:3: multiple YAML documents are not allowed (remove the second "---")`},
		{"duration without a unit",
			"gateway: {shutdown_timeout: 30}\n" + minimal,
			`t.yaml:1: gateway.shutdown_timeout: duration "30" has no unit; write it with one, as in "30s" or "30ms"`},
		{"negative duration",
			"gateway: {limits: {read_timeout: -5s}}\n" + minimal,
			`t.yaml:1: gateway.limits.read_timeout: duration "-5s" is negative`},
		{"duration in days",
			"gateway: {hsts: {enabled: true, max_age: 365d}}\n" + minimal,
			`t.yaml:1: gateway.hsts.max_age: "365d" is not a duration (or is too long); write a number with a unit (ns, us, ms, s, m, h), as in "30s" or "1h30m"`},
		{"size with a lowercase unit",
			"gateway: {limits: {max_body: 1mb}}\n" + minimal,
			`t.yaml:1: gateway.limits.max_body: "1mb" is not a size; write a whole number of bytes, optionally with a unit (KiB, MiB, GiB, TiB, or KB, MB, GB, TB), as in "16KiB"`},
		{"size overflowing int64",
			"gateway: {limits: {max_body: 9000000000GiB}}\n" + minimal,
			`t.yaml:1: gateway.limits.max_body: size "9000000000GiB" is too large`},
		{"negative size",
			"gateway: {limits: {max_body: -1}}\n" + minimal,
			`t.yaml:1: gateway.limits.max_body: size "-1" is negative`},
		{"yes is not a boolean",
			"gateway: {hsts: {enabled: yes}}\n" + minimal,
			`t.yaml:1: gateway.hsts.enabled: expected true or false, got "yes"`},
		{"integer out of range",
			"gateway: {limits: {max_connections: 99999999999999999999}}\n" + minimal,
			`t.yaml:1: gateway.limits.max_connections: number 99999999999999999999 is out of range`},
		{"quoted number",
			"upstreams: {u: {targets: [\"http://127.0.0.1:9001\"], retries: \"2\"}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.retries: expected a whole number, got a string`},
		{"undefined environment variable",
			"gateway: {tls: {cert: \"${EDGE_CERT}\", key: \"${DEFINED}\"}}\n" + minimal,
			`t.yaml:1: gateway.tls.cert: environment variable EDGE_CERT is not set` + "\n" +
				`t.yaml:1: gateway.tls.key: file "${DEFINED}" does not exist`},
		{"unterminated reference",
			"gateway: {listen: \"${PORT\"}\n" + minimal,
			`t.yaml:1: gateway.listen: unterminated "${" (write "$${" for a literal "${")`},
		{"route naming an undefined issuer",
			okUpstream + "\nissuers: [{name: rampart, issuer: https://id.example, jwks_uri: https://id.example/jwks, audiences: [api], algorithms: [EdDSA]}]" +
				"\nroutes: [{name: r, match: {path: /r}, upstream: u, auth: {issuers: [rampat], scopes: [a b]}}]\n",
			`t.yaml:3: routes[0].auth.issuers[0]: "rampat" is not defined in issuers (did you mean "rampart"?)` + "\n" +
				`t.yaml:3: routes[0].auth.scopes[0]: must be a non-empty scope token (no spaces, quotes or backslashes)`},
		{"mtls without client certificates at the edge, and a rule that accepts nothing",
			okUpstream + "\nroutes:\n  - {name: r, match: {path: /r}, upstream: u, auth: {mtls: true, api_keys: true}}\n  - {name: s, match: {path: /s}, upstream: u, auth: {scopes: [a]}}\n",
			`t.yaml:3: routes[0].auth.mtls: needs gateway.tls.client_certs (mode and ca_file)` + "\n" +
				`t.yaml:4: routes[1].auth: says nothing to accept: set issuers, mtls: true, api_keys: true or login: true (a protected route must say which credentials it accepts)`},
		{"login settings",
			okUpstream + "\nissuers: [{name: corp, issuer: http://sso.example, jwks_uri: https://sso.example/jwks, audiences: [api], algorithms: [ES256]}]\nlogin: {issuer: corp, redirect_url: /callback, cookie_key: c2hvcnQ=, logout_path: x}\nroutes:\n  - {name: r, match: {path: /r}, upstream: u, auth: {login: true}}\n",
			`t.yaml:3: login.issuer: issuer corp: its issuer URL must be https (OpenID discovery starts there)` + "\n" +
				`t.yaml:3: login.client_id: is required: the gateway's client id at the provider` + "\n" +
				`t.yaml:3: login.redirect_url: must be the absolute https URL of the callback registered at the provider (http only on a loopback host), with a path` + "\n" +
				`t.yaml:3: login.logout_path: must be a path starting with / and differ from the callback path` + "\n" +
				`t.yaml:3: login.cookie_key: must come from the environment: write it as ${NAME}`},
		{"rate limit settings",
			okUpstream + "\nrate_limits: {store: redis, on_redis_error: maybe, max_keys: 10}\nroutes:\n  - {name: r, match: {path: /r}, upstream: u, auth: none, rate_limit: {key: principal, rate: 0/s, burst: -1}}\n  - {name: s, match: {path: /s}, upstream: u, auth: none, rate_limit: {key: 'cookie:x', rate: 10/x}}\n",
			`t.yaml:2: rate_limits.redis.addr: is required with store: redis (host:port)` + "\n" +
				`t.yaml:2: rate_limits.on_redis_error: must be "deny" (answer 503) or "allow" (let requests through), got "maybe"` + "\n" +
				`t.yaml:2: rate_limits.max_keys: must be between 1000 and 10000000` + "\n" +
				`t.yaml:4: routes[0].rate_limit.rate: parse rate "0/s": count must be at least 1` + "\n" +
				`t.yaml:4: routes[0].rate_limit.key: principal needs a protected route (auth is none here): use client_ip` + "\n" +
				`t.yaml:4: routes[0].rate_limit.burst: must be between 1 and 1000000 (0: the rate's count)` + "\n" +
				`t.yaml:5: routes[1].rate_limit.rate: parse rate "10/x": unit must be s, m, h or d` + "\n" +
				`t.yaml:5: routes[1].rate_limit.key: must be "client_ip", "principal", "header:NAME" or "expr", got "cookie:x"`},
		{"waf settings",
			okUpstream + "\nroutes:\n  - {name: r, match: {path: /r}, upstream: u, auth: none, validate: {waf: {max_args: 5}}}\n" +
				"  - {name: s, match: {path: /s}, upstream: u, auth: none, validate: {waf: {paranoia: 5, max_args: -1, body_limit: 20MiB}}}\n",
			`t.yaml:3: routes[0].validate.waf.paranoia: is required to turn the WAF on (1 to 4; 1 is the CRS default)` + "\n" +
				`t.yaml:4: routes[1].validate.waf.paranoia: must be between 1 and 4` + "\n" +
				`t.yaml:4: routes[1].validate.waf.body_limit: must be at most 16MiB (0: 128KiB)` + "\n" +
				`t.yaml:4: routes[1].validate.waf.max_args: must be between 1 and 100000 (0: 1000)`},
		{"rate limit key expressions",
			okUpstream + "\nroutes:\n  - {name: r, match: {path: /r}, upstream: u, auth: none, rate_limit: {key: expr, expr: 'principal.subject', rate: 1/s}}\n" +
				"  - {name: s, match: {path: /s}, upstream: u, auth: none, rate_limit: {key: expr, expr: 'request.headerz', rate: 1/s}}\n" +
				"  - {name: x, match: {path: /x}, upstream: u, auth: none, rate_limit: {key: expr, rate: 1/s}}\n" +
				"  - {name: y, match: {path: /y}, upstream: u, auth: none, rate_limit: {expr: 'request.path', rate: 1/s}}\n",
			`t.yaml:3: routes[0].rate_limit.expr: reads principal, which needs a protected route (auth is none here)` + "\n" +
				`t.yaml:4: routes[1].rate_limit.expr: rate limit key: 1:8: undefined field 'headerz'` + "\n" +
				`t.yaml:5: routes[2].rate_limit.expr: is required with key: expr (a CEL expression of type string)` + "\n" +
				`t.yaml:6: routes[3].rate_limit.expr: only applies with key: expr`},
		{"mask settings",
			okUpstream + "\nroutes:\n  - {name: r, match: {path: /r}, upstream: u, auth: none, mask: {fields: [ssn, SSN, ''], unless_scopes: [pii], style: stars, max_body: 1GiB}}\n  - {name: s, match: {path: /s}, upstream: u, auth: none, mask: {style: full}}\n",
			`t.yaml:3: routes[0].mask.fields[1]: "SSN" is listed twice (names match case-insensitively)` + "\n" +
				`t.yaml:3: routes[0].mask.fields[2]: must be a JSON field name of 1 to 128 characters` + "\n" +
				`t.yaml:3: routes[0].mask.unless_scopes: needs a protected route (auth is none here, so no caller has a scope)` + "\n" +
				`t.yaml:3: routes[0].mask.style: must be "full" or "last_four", got "stars"` + "\n" +
				`t.yaml:3: routes[0].mask.max_body: must be between 1B and 64MiB` + "\n" +
				`t.yaml:4: routes[1].mask.fields: is required in a mask (the JSON field names to hide)`},
		{"workload identity and upstream mTLS",
			"identity: {trust_domain: 'Bad Domain', ca: http://ca.internal:8445, join_token: plain, cert_file: x.pem}\n" +
				"upstreams:\n  a: {targets: ['http://10.0.0.1:80'], mtls: {spiffe_id: 'spiffe://other.local/a'}}\n  u: {targets: ['https://10.0.0.2'], mtls: {spiffe_id: 'https://b'}}\n" + okRoute + "\n",
			`t.yaml:1: identity.trust_domain: "Bad Domain" is not a trust domain name (lowercase letters, digits, '.', '-' and '_'): trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores` + "\n" +
				`t.yaml:1: identity.ca: must be the https base URL of ` + "`rampart ca serve`" + ` (e.g. https://ca.internal:8445), got "http://ca.internal:8445"` + "\n" +
				`t.yaml:1: identity.bundle_file: is required: the CA's root certificates (` + "`rampart ca bundle`" + `), which authenticate the CA` + "\n" +
				`t.yaml:1: identity.join_token: must come from the environment: write it as ${NAME}` + "\n" +
				`t.yaml:1: identity.cert_file: cert_file and key_file go together` + "\n" +
				`t.yaml:3: upstreams.a.mtls.spiffe_id: is in trust domain "other.local", not identity.trust_domain "Bad Domain"` + "\n" +
				`t.yaml:3: upstreams.a.targets: targets[0] must be https:// with mtls (no plaintext fallback)` + "\n" +
				`t.yaml:4: upstreams.u.mtls.spiffe_id: "https://b" is not a SPIFFE ID (spiffe://trust-domain/path): scheme is missing or invalid`},
		{"transit settings",
			okUpstream + "\nissuers: [{name: idp, issuer: https://id.example, audiences: [api], introspection: {endpoint: https://id.example/i, client_id: gw}}]\ntransit: {issuers: [idp, nope], max_batch: 0}\n" + okRoute + "\n",
			`t.yaml:2: issuers[0].introspection.client_secret: is required (write it as ${NAME} so it stays out of the file)` + "\n" +
				`t.yaml:3: transit.issuers[0]: issuer idp has no key set: the transit API verifies JWT access tokens` + "\n" +
				`t.yaml:3: transit.issuers[1]: "nope" is not defined in issuers` + "\n" +
				`t.yaml:3: transit.max_batch: must be between 1 and 10000`},
		{"response cache settings",
			okUpstream + "\nresponse_cache: {store: disk, max_entries: 1}\nroutes:\n  - {name: r, match: {path: /r}, upstream: u, auth: none, cache: {ttl: 10ms, scope: private, vary: [Cookie, 'a b']}}\n  - {name: s, match: {path: /s}, upstream: u, auth: none, cache: {scope: public}}\n",
			`t.yaml:2: response_cache.store: must be "memory" or "redis", got "disk"` + "\n" +
				`t.yaml:2: response_cache.max_entries: must be between 100 and 10000000` + "\n" +
				`t.yaml:4: routes[0].cache.ttl: must be between 1s and 24h` + "\n" +
				`t.yaml:4: routes[0].cache.scope: private keys answers by the principal, and this route has none (auth is none): use public` + "\n" +
				`t.yaml:4: routes[0].cache.vary[0]: Cookie carries credentials: use scope: private, which keys by the verified principal` + "\n" +
				`t.yaml:4: routes[0].cache.vary[1]: "a b" is not a header name` + "\n" +
				`t.yaml:5: routes[1].cache.ttl: is required in a cache (how long answers are kept, e.g. 30s)`},
		{"a login route without login",
			okUpstream + "\nroutes:\n  - {name: r, match: {path: /r}, upstream: u, auth: {login: true}}\n",
			`t.yaml:3: routes[0].auth.login: needs the login section (an OpenID provider to send browsers to)`},
		{"client certificates and API key settings",
			"gateway:\n  tls:\n    client_certs: {mode: sometimes}\napi_keys: {header: Authorization}\n" + okUpstream + "\n" + okRoute + "\n",
			`t.yaml:3: gateway.tls.client_certs.mode: must be "optional" or "required", got "sometimes"` + "\n" +
				`t.yaml:4: api_keys.header: "Authorization" is reserved: use a header of its own, such as X-API-Key`},
		{"introspection settings",
			okUpstream + "\nissuers:\n  - name: idp\n    issuer: https://id.example\n    audiences: [api]\n    introspection: {endpoint: http://id.example/introspect, client_secret: plain, cache_ttl: 2h}\n" + okRoute + "\n",
			`t.yaml:6: issuers[0].introspection.endpoint: "http://id.example/introspect" must use https (tokens and the client secret would cross the network in clear); http is allowed only to a loopback address` + "\n" +
				`t.yaml:6: issuers[0].introspection.client_id: is required: the gateway authenticates to the endpoint` + "\n" +
				`t.yaml:6: issuers[0].introspection.client_secret: must come from the environment: write it as ${NAME}` + "\n" +
				`t.yaml:6: issuers[0].introspection.cache_ttl: must be between 1s and 1h`},
		{"issuer problems",
			okUpstream + "\nissuers:\n  - name: idp\n    issuer: https://id.example\n    jwks_uri: http://id.example/jwks\n    algorithms: [none, RS256, HS256]\n    roles_claim: 'a..b'\n    leeway: 1h\n" + okRoute + "\n",
			`t.yaml:3: issuers[0].audiences: at least one audience is required: tokens minted for another service must not be accepted here` + "\n" +
				`t.yaml:5: issuers[0].jwks_uri: "http://id.example/jwks" must use https (keys fetched over plain HTTP can be replaced in transit); http is allowed only to a loopback address` + "\n" +
				`t.yaml:6: issuers[0].algorithms[0]: "none" is not a supported algorithm (EdDSA, ES256, ES384, RS256, PS256, HS256)` + "\n" +
				`t.yaml:6: issuers[0].algorithms: HS256 cannot be combined with public-key algorithms in one issuer` + "\n" +
				`t.yaml:7: issuers[0].roles_claim: "a..b" is not a claim path (names joined by '.', as in "realm_access.roles")` + "\n" +
				`t.yaml:8: issuers[0].leeway: must be between 0s and 5m`},
		{"route without auth fails closed",
			okUpstream + "\nroutes:\n  - name: r\n    match: {path: /r}\n    upstream: u\n",
			`t.yaml:3: routes[0].auth: auth is required (fail closed); use "auth: none" for a public route`},
		{"auth with another word",
			okUpstream + "\nroutes: [{name: r, match: {path: /r}, upstream: u, auth: public}]\n",
			`t.yaml:2: routes[0].auth: expected "none" or a mapping (issuers, scopes, roles), got "public"`},
		{"listen without a port",
			"gateway: {listen: \"0.0.0.0\"}\n" + minimal,
			`t.yaml:1: gateway.listen: "0.0.0.0" is not host:port (as in ":8443" or "127.0.0.1:8443")`},
		{"port out of range",
			"gateway: {listen: \":84430\"}\n" + minimal,
			`t.yaml:1: gateway.listen: ":84430" has an invalid port (a number from 0 to 65535)`},
		{"admin on the gateway's address",
			"gateway: {listen: \":9901\", admin: \"127.0.0.1:9901\"}\n" + minimal,
			`t.yaml:1: gateway.admin: must not be the same address as gateway.listen`},
		{"trusted proxy that is not an address",
			"gateway: {trusted_proxies: [10.0.0.0/8, lb.internal]}\n" + minimal,
			`t.yaml:1: gateway.trusted_proxies[1]: "lb.internal" is not an IP address or CIDR (as in "10.0.0.0/8")`},
		{"trusting every address",
			"gateway: {trusted_proxies: [0.0.0.0/0]}\n" + minimal,
			`t.yaml:1: gateway.trusted_proxies[0]: "0.0.0.0/0" trusts X-Forwarded-For from every address, so any client could choose its own IP; list your proxies' addresses`},
		{"certificate without key",
			"gateway:\n  tls: {cert: testdata/edge.crt}\n" + minimal,
			`t.yaml:2: gateway.tls.key: is required when tls.cert is set`},
		{"missing certificate file",
			"gateway:\n  tls:\n    cert: testdata/nope.crt\n    key: testdata/edge.key\n" + minimal,
			`t.yaml:3: gateway.tls.cert: file "testdata/nope.crt" does not exist`},
		{"redirect with TLS disabled",
			"gateway: {tls: {disabled: true}, redirect_http: \":80\"}\n" + minimal,
			`t.yaml:1: gateway.redirect_http: redirects to HTTPS, but gateway.tls.disabled is true`},
		{"TLS 1.1",
			"gateway: {tls: {min_version: 1.1}}\n" + minimal,
			`t.yaml:1: gateway.tls.min_version: must be "1.2" or "1.3" (TLS 1.0 and 1.1 are deprecated by RFC 8996)`},
		{"header limit too small",
			"gateway: {limits: {max_header: 512}}\n" + minimal,
			`t.yaml:1: gateway.limits.max_header: must be between 1KiB and 1MiB`},
		{"too many HTTP/2 streams",
			"gateway: {limits: {max_concurrent_streams: 5000}}\n" + minimal,
			`t.yaml:1: gateway.limits.max_concurrent_streams: must be between 1 and 1000`},
		{"header value with CRLF",
			"gateway:\n  security_headers: {X-Team: \"a\\r\\nSet-Cookie: x=1\"}\n" + minimal,
			`t.yaml:2: gateway.security_headers.X-Team: value must not contain control characters (CR, LF, NUL, ...)`},
		{"header name with a space",
			"gateway:\n  security_headers: {\"X Team\": a}\n" + minimal,
			"t.yaml:2: gateway.security_headers[\"X Team\"]: is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)"},
		{"framing header",
			"gateway:\n  security_headers: {Transfer-Encoding: chunked}\n" + minimal,
			`t.yaml:2: gateway.security_headers.Transfer-Encoding: Transfer-Encoding describes one message's framing and cannot be set on every response`},
		{"log level",
			"log: {level: verbose}\n" + minimal,
			`t.yaml:1: log.level: must be debug, info, warn or error, got "verbose"`},
		{"no upstreams",
			okRoute + "\n",
			"t.yaml:1: routes[0].upstream: \"u\" is not defined in upstreams\nt.yaml: upstreams: at least one upstream is required"},
		{"upstream name",
			"upstreams: {Accounts: {targets: [\"http://127.0.0.1:9001\"]}}\n" + okRoute + "\n",
			"t.yaml:1: upstreams.Accounts: \"Accounts\" is not a valid upstream name (1 to 63 lowercase letters, digits, '_' and '-', starting with a letter or digit)\n" +
				`t.yaml:2: routes[0].upstream: "u" is not defined in upstreams`},
		{"upstream without targets",
			"upstreams: {u: {balance: round_robin}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.targets: at least one target is required`},
		{"target without scheme",
			"upstreams: {u: {targets: [\"10.0.0.5:9001\"]}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.targets[0]: "10.0.0.5:9001" must start with http:// or https:// (write a base URL, as in "https://10.0.0.5:9001")`},
		{"target with credentials",
			"upstreams: {u: {targets: [\"https://svc:hunter2@10.0.0.5\"]}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.targets[0]: "https://svc:hunter2@10.0.0.5" must not contain user info (credentials in URLs end up in logs)`},
		{"target with a path",
			"upstreams: {u: {targets: [\"http://10.0.0.5/api\"]}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.targets[0]: "http://10.0.0.5/api" must not have a path (routes forward the request's own path)`},
		{"target with a query",
			"upstreams: {u: {targets: [\"http://10.0.0.5/?a=1\"]}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.targets[0]: "http://10.0.0.5/?a=1" must not have a query or fragment`},
		{"duplicate target",
			"upstreams:\n  u:\n    targets:\n      - http://svc.internal\n      - HTTP://SVC.internal:80/\n" + okRoute + "\n",
			`t.yaml:5: upstreams.u.targets[1]: duplicate target (same as targets[0])`},
		{"balance",
			"upstreams: {u: {targets: [\"http://127.0.0.1:9001\"], balance: random}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.balance: must be round_robin or least_requests, got "random"`},
		{"too many retries",
			"upstreams: {u: {targets: [\"http://127.0.0.1:9001\"], retries: 10}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.retries: must be between 0 and 5`},
		{"try_timeout longer than timeout",
			"upstreams: {u: {targets: [\"http://127.0.0.1:9001\"], timeout: 5s, try_timeout: 6s}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.try_timeout: must not be longer than timeout, which bounds all attempts together`},
		{"health path without slash",
			"upstreams: {u: {targets: [\"http://127.0.0.1:9001\"], health: {path: healthz}}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.health.path: must start with '/'`},
		{"health threshold zero",
			"upstreams: {u: {targets: [\"http://127.0.0.1:9001\"], health: {path: /h, healthy_threshold: 0}}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.health.healthy_threshold: must be at least 1`},
		{"health settings without a path",
			"upstreams: {u: {targets: [\"http://127.0.0.1:9001\"], health: {interval: 1s}}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.health.interval: has no effect without health.path (no active checks run)`},
		{"TLS settings for plain HTTP targets",
			"upstreams: {u: {targets: [\"http://127.0.0.1:9001\"], tls: {server_name: svc.internal}}}\n" + okRoute + "\n",
			`t.yaml:1: upstreams.u.tls: applies only to https:// targets, and this upstream has none`},
		{"no routes",
			okUpstream + "\n",
			`t.yaml: routes: at least one route is required`},
		{"route without name",
			okUpstream + "\nroutes: [{match: {path: /r}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].name: is required`},
		{"duplicate route name",
			okUpstream + "\nroutes:\n  - {name: r, match: {path: /a}, upstream: u, auth: none}\n  - {name: r, match: {path: /b}, upstream: u, auth: none}\n",
			`t.yaml:4: routes[1].name: duplicate route name (also routes[0])`},
		{"route path without slash",
			okUpstream + "\nroutes: [{name: r, match: {path: accounts}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.path: must start with '/'`},
		{"encoded route path",
			okUpstream + "\nroutes: [{name: r, match: {path: /admin%2F}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.path: must not contain '%' (write the decoded path; requests are matched after decoding)`},
		{"dot segment",
			okUpstream + "\nroutes: [{name: r, match: {path: /public/../admin}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.path: must not contain '.' or '..' segments`},
		{"query in route path",
			okUpstream + "\nroutes: [{name: r, match: {path: \"/search?q=1\"}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.path: must not contain '?' or '#' (routes match the path only)`},
		{"backslash in route path",
			okUpstream + "\nroutes: [{name: r, match: {path: '/admin\\x'}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.path: must not contain '\'`},
		{"wildcard not last",
			okUpstream + "\nroutes: [{name: r, match: {path: /static/*/x}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.path: '*' is allowed only as the last segment, as in "/static/*"`},
		{"wildcard inside a segment",
			okUpstream + "\nroutes: [{name: r, match: {path: /static*}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.path: '*' must be a whole segment, as in "/static/*"`},
		{"parameter inside a segment",
			okUpstream + "\nroutes: [{name: r, match: {path: \"/files/{name}.txt\"}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.path: a {param} must be a whole segment, as in "/accounts/{id}"`},
		{"parameter twice",
			okUpstream + "\nroutes: [{name: r, match: {path: \"/a/{id}/b/{id}\"}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.path: a parameter name appears twice`},
		{"parameter name",
			okUpstream + "\nroutes: [{name: r, match: {path: \"/a/{1st}\"}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.path: parameter names are letters, digits and '_', not starting with a digit`},
		{"host with a port",
			okUpstream + "\nroutes: [{name: r, match: {path: /r, host: \"api.example.com:8443\"}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.host: "api.example.com:8443" must not include a port (the port is ignored when matching; IPv6 addresses go in brackets)`},
		{"wildcard host in the middle",
			okUpstream + "\nroutes: [{name: r, match: {path: /r, host: \"api.*.com\"}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.host: "api.*.com" may use '*' only as the whole first label, as in "*.example.com"`},
		{"CONNECT",
			okUpstream + "\nroutes: [{name: r, match: {path: /r, methods: [CONNECT]}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.methods[0]: CONNECT is refused: a tunnel would bypass every route policy`},
		{"TRACE",
			okUpstream + "\nroutes: [{name: r, match: {path: /r, methods: [GET, TRACE]}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.methods[1]: TRACE is refused: it echoes requests, credentials included, back to the caller`},
		{"lowercase method",
			okUpstream + "\nroutes: [{name: r, match: {path: /r, methods: [get]}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.methods[0]: methods are uppercase: write GET`},
		{"duplicate method",
			okUpstream + "\nroutes: [{name: r, match: {path: /r, methods: [GET, POST, GET]}, upstream: u, auth: none}]\n",
			`t.yaml:2: routes[0].match.methods[2]: GET is listed twice`},
		{"unknown upstream with a suggestion",
			"upstreams: {accounts: {targets: [\"http://127.0.0.1:9001\"]}}\nroutes: [{name: r, match: {path: /r}, upstream: acounts, auth: none}]\n",
			`t.yaml:2: routes[0].upstream: "acounts" is not defined in upstreams (did you mean "accounts"?)`},
		{"YAML syntax",
			"gateway:\n  listen: \"\\q\"\n" + minimal,
			`t.yaml:2: invalid YAML: found unknown escape character`},
		{"YAML tag",
			"data_dir: !!binary L3Zhci9saWI=\n" + minimal,
			`t.yaml:1: data_dir: YAML tag "!!binary" is not allowed`},
		{"top level list",
			"- gateway\n",
			`t.yaml:1: expected a mapping of keys (gateway, upstreams, routes, ...) at the top level, got a list`},
		{"empty file",
			"# nothing yet\n",
			`t.yaml: the file is empty (see docs/config.md for a minimal configuration)`},
	}
	seen := make(map[string]bool)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if seen[tt.want] {
				t.Fatalf("two cases want the same error")
			}
			seen[tt.want] = true
			cfg, err := Parse("t.yaml", []byte(tt.src), env)
			if err == nil {
				t.Fatalf("accepted:\n%s", tt.src)
			}
			if cfg != nil {
				t.Errorf("returned a configuration with errors")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want Errors", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s\nconfig:\n%s", got, tt.want, tt.src)
			}
		})
	}
}

// TestAllProblemsAtOnce: one load reports every mistake, decoding and
// validation alike, in line order.
func TestAllProblemsAtOnce(t *testing.T) {
	src := `routes:
  - name: read
    match: {path: "/accounts/{id}", methods: [GET]}
    upstream: accounts
    auth: none
  - name: read
    match: {path: /orders/*/items}
    upstream: ordrs
upstreams:
  accounts:
    targets: [https://10.0.0.5:9001]
    retries: 7
    timout: 5s
gateway:
  listen: ":8443"
  admin: ":8443"
  limits: {max_body: 0, read_timeout: 10}
log: {level: loud}
`
	want := []string{
		`t.yaml:6: routes[1].name: duplicate route name (also routes[0])`,
		`t.yaml:6: routes[1].auth: auth is required (fail closed); use "auth: none" for a public route`,
		`t.yaml:7: routes[1].match.path: '*' is allowed only as the last segment, as in "/static/*"`,
		`t.yaml:8: routes[1].upstream: "ordrs" is not defined in upstreams`,
		`t.yaml:12: upstreams.accounts.retries: must be between 0 and 5`,
		`t.yaml:13: upstreams.accounts.timout: unknown key (did you mean "timeout"?)`,
		`t.yaml:16: gateway.admin: must not be the same address as gateway.listen`,
		`t.yaml:17: gateway.limits.read_timeout: duration "10" has no unit; write it with one, as in "10s" or "10ms"`,
		`t.yaml:17: gateway.limits.max_body: must be greater than 0`,
		`t.yaml:18: log.level: must be debug, info, warn or error, got "loud"`,
	}
	_, err := Parse("t.yaml", []byte(src), noEnv)
	if err == nil {
		t.Fatal("accepted")
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, e := range err.(Errors) {
		if e.File != "t.yaml" || e.Line == 0 || e.Path == "" {
			t.Errorf("problem %d is not located: %+v", i, e)
		}
	}
}

// TestErrorCap: a file with thousands of mistakes yields a bounded list.
func TestErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("routes:\n")
	for range 5000 {
		b.WriteString("  - {name: r, match: {path: x}, upstream: u, auth: none}\n")
	}
	_, err := Parse("t.yaml", []byte(b.String()), noEnv)
	errs, ok := err.(Errors)
	if !ok {
		t.Fatalf("got %v", err)
	}
	if len(errs) != maxErrors+1 || !strings.HasPrefix(errs[maxErrors].Msg, "too many problems") {
		t.Errorf("%d problems, last %q; want %d and a note", len(errs), errs[len(errs)-1].Msg, maxErrors)
	}
}
