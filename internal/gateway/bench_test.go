package gateway

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/idtoken"
	"github.com/rampart-sec/rampart/internal/logging"
	"github.com/rampart-sec/rampart/internal/metrics"
)

// These benchmarks call the handler in-process against a real loopback
// upstream, next to a bare httputil.ReverseProxy against the same upstream, so
// the difference is the gateway's own per-request cost (checks, headers,
// metrics, access log to io.Discard). bench/ measures the whole system.

func benchUpstream(b *testing.B) string {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "0123456789012345678901234567890123456789012345678901234567890123")
	}))
	b.Cleanup(up.Close)
	return up.URL
}

func BenchmarkBareReverseProxy(b *testing.B) {
	u, _ := url.Parse(benchUpstream(b))
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	runHandlerBench(b, p)
}

func BenchmarkGatewayHandler(b *testing.B) {
	up := benchUpstream(b)
	dir := b.TempDir()
	path := filepath.Join(dir, "g.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(`
gateway: {tls: {disabled: true}}
upstreams: {up: {targets: [%q]}}
routes:
  - {name: bench, match: {path: "/*"}, upstream: up, auth: none}
`, up)), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	bus := event.NewBus(1024)
	deps := Deps{Events: bus, Metrics: metrics.New(nil), Log: slog.New(slog.DiscardHandler),
		Access: logging.NewAccessLog(io.Discard, nil)}
	tbl, err := Compile(cfg, deps)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tbl.Close)
	runHandlerBench(b, NewHandler(tbl, deps))
}

// BenchmarkGatewayHandlerJWT is the same with a protected route: a bearer
// token (cached after the first request), a scope, a CEL rule and the
// identity token to the upstream.
func BenchmarkGatewayHandlerJWT(b *testing.B) {
	up := benchUpstream(b)
	dir := b.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "EdDSA", Use: "sig"}}})
	os.WriteFile(filepath.Join(dir, "jwks.json"), jwks, 0o600)
	path := filepath.Join(dir, "g.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(`
gateway: {tls: {disabled: true}}
issuers:
  - {name: idp, issuer: "https://idp.test", jwks_file: %q, audiences: [api], algorithms: [EdDSA], token_type: at+jwt}
upstreams: {up: {targets: [%q]}}
routes:
  - name: bench
    match: {path: "/*"}
    upstream: up
    auth: {issuers: [idp], scopes: [orders:read]}
    allow: 'principal.subject == "42" || "admin" in principal.roles'
`, filepath.Join(dir, "jwks.json"), up)), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	_, idKey, _ := ed25519.GenerateKey(rand.Reader)
	bus := event.NewBus(1024)
	deps := Deps{Events: bus, Metrics: metrics.New(nil), Log: slog.New(slog.DiscardHandler),
		Access: logging.NewAccessLog(io.Discard, nil), Identity: idtoken.NewSigner(idKey, "", IdentityTTL)}
	tbl, err := Compile(cfg, deps)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tbl.Close)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("at+jwt"))
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{"iss": "https://idp.test", "aud": "api", "sub": "42", "scope": "orders:read",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	obj, _ := signer.Sign(claims)
	tok, _ := obj.CompactSerialize()
	runHandlerBench(b, NewHandler(tbl, deps), "Authorization", "Bearer "+tok)
}

func runHandlerBench(b *testing.B, h http.Handler, header ...string) {
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/orders/42?page=2", nil) // origin-form, as a server receives it
		r.Host = "gw.local"
		r.RemoteAddr = "203.0.113.7:40000"
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	}
}

// BenchmarkGatewayHandlerValidatedPOST is a small JSON order through a route
// with a local rate limit and OpenAPI validation (reject_unknown_fields),
// next to BenchmarkGatewayHandlerPOST, the same route without them.
func BenchmarkGatewayHandlerValidatedPOST(b *testing.B) {
	benchPOST(b, `
    rate_limit: {rate: 1000000/s, burst: 1000000}
    validate: {openapi: %q, reject_unknown_fields: true}`)
}

func BenchmarkGatewayHandlerPOST(b *testing.B) { benchPOST(b, "") }

func benchPOST(b *testing.B, extra string) {
	up := benchUpstream(b)
	dir := b.TempDir()
	spec := filepath.Join(dir, "orders.yaml")
	os.WriteFile(spec, []byte(ordersSpec), 0o600)
	if extra != "" {
		extra = fmt.Sprintf(extra, spec)
	}
	path := filepath.Join(dir, "g.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf(`
gateway: {tls: {disabled: true}}
upstreams: {up: {targets: [%q]}}
routes:
  - name: bench
    match: {path: /orders}
    upstream: up
    auth: none%s
`, up, extra)), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	deps := Deps{Events: event.NewBus(1024), Metrics: metrics.New(nil), Log: slog.New(slog.DiscardHandler),
		Access: logging.NewAccessLog(io.Discard, nil)}
	tbl, err := Compile(cfg, deps)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tbl.Close)
	h := NewHandler(tbl, deps)
	body := `{"item":"notebook","qty":2}`
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
		r.Host = "gw.local"
		r.RemoteAddr = "203.0.113.7:40000"
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	}
}
