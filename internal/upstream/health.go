package upstream

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net/http"
	"time"
)

// checkLoop checks t right away, then every jittered interval until ctx ends.
func (p *Pool) checkLoop(ctx context.Context, t *target) {
	defer p.checks.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		p.check(ctx, t)
		timer.Reset(jitter(p.health.Interval))
	}
}

// check runs one health check against t and applies the thresholds.
func (p *Pool) check(ctx context.Context, t *target) {
	cctx, cancel := context.WithTimeout(ctx, p.health.Timeout)
	defer cancel()
	ok := false
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, t.health, nil)
	if err == nil {
		req.Header.Set("User-Agent", "rampart-health-check")
		var resp *http.Response
		if resp, err = p.transport.RoundTrip(req); err == nil {
			ok = resp.StatusCode >= 200 && resp.StatusCode < 400
			// Drain a little so the connection can be reused.
			_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
			resp.Body.Close()
		}
	}
	if ctx.Err() != nil {
		// Shutting down: an aborted check is no verdict.
		return
	}
	if ok {
		t.checkFails = 0
		t.checkPasses++
		if !t.healthy.Load() && t.checkPasses >= p.health.HealthyThreshold {
			t.healthy.Store(true)
			p.notify(t)
		}
		return
	}
	t.checkPasses = 0
	t.checkFails++
	if t.healthy.Load() && t.checkFails >= p.health.UnhealthyThreshold {
		t.healthy.Store(false)
		p.notify(t)
	}
}

// jitter spreads d by ±10% so that many pools and gateways do not check in
// lockstep.
func jitter(d time.Duration) time.Duration {
	spread := uint64(d / 5)
	if spread == 0 {
		return d
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return d - d/10 + time.Duration(binary.LittleEndian.Uint64(b[:])%spread)
}
