package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
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

func runHandlerBench(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/orders/42?page=2", nil) // origin-form, as a server receives it
		r.Host = "gw.local"
		r.RemoteAddr = "203.0.113.7:40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
	}
}
