package upstream

import (
	"context"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// TestNoGoroutineLeaks runs health checks, timeouts, retries and streaming
// through a pool, closes everything and waits for the goroutine count to
// come back down.
func TestNoGoroutineLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	// A sub-test so that its cleanups (servers, pool) run before counting.
	t.Run("traffic", func(t *testing.T) {
		ok := newHealthBackend(t, "ok")
		hung := newBackend(t, "hung", hangUntilGone(t))
		dying := newBackend(t, "dying", dropConnection)
		p := newPool(t, Options{
			Targets:    urls(ok.backend, hung, dying),
			Health:     HealthOptions{Path: healthPath, Interval: 5 * time.Millisecond},
			TryTimeout: 100 * time.Millisecond,
			Timeout:    time.Second,
			Retries:    2,
		})
		p.Start(context.Background())
		waitFor(t, "a health check", func() bool { return ok.passed.Load() > 0 })
		for range 6 {
			resp, err := p.RoundTrip(newRequest(t, context.Background(), http.MethodGet, "/", nil))
			if err == nil {
				resp.Body.Close()
			}
		}
		p.Close()
	})
	waitFor(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}
