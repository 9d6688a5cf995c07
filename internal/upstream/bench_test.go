package upstream

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkRoundTrip measures one proxied GET through the pool with every
// feature on, next to a bare http.Transport against the same upstream.
func BenchmarkRoundTrip(b *testing.B) {
	up := newBackend(b, "b", nil)
	run := func(b *testing.B, rt http.RoundTripper) {
		b.ReportAllocs()
		for b.Loop() {
			req := newRequest(b, context.Background(), http.MethodGet, "/", nil)
			req.URL.Scheme, req.URL.Host = "http", up.url.Host
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("transport", func(b *testing.B) {
		tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
		defer tr.CloseIdleConnections()
		run(b, tr)
	})
	b.Run("pool", func(b *testing.B) {
		p := newPool(b, Options{Targets: urls(up), Timeout: 5 * time.Second, TryTimeout: time.Second, Retries: 2,
			Passive: PassiveOptions{ConsecutiveFailures: 5}, Breaker: BreakerOptions{ConsecutiveFailures: 5, MaxRequests: 100}})
		run(b, p)
	})
}
