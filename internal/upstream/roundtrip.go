package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// drainLimit is how much of a 502/503 body is read before a retry so that the
// connection can be reused; anything longer is cheaper to close.
const drainLimit = 4 << 10

// timeoutError is the cause given to a context canceled by Timeout or
// TryTimeout. It matches context.DeadlineExceeded so that callers map it to
// 504 without knowing this package.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string        { return e.msg }
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Timeout marks the error as a timeout for callers that test net.Error.
func (e *timeoutError) Timeout() bool { return true }

// RoundTrip sends req to a target chosen by the balancer and returns the
// target's response with its body streaming. req must already carry the
// outbound path, query and headers; RoundTrip sets only the scheme and host
// (req.Host becomes the target's host so virtual-hosted upstreams work) on a
// shallow copy and never modifies req.
//
// Timeout and TryTimeout stop counting once response headers arrive. The
// caller's context ending aborts the request, is not held against the target
// and is never retried. A failed attempt is retried (on another target while
// one is usable) only if the request is GET, HEAD or OPTIONS without a body
// and without Upgrade, and the attempt got no response or a 502/503.
func (p *Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		return nil, fmt.Errorf("upstream %s: request has no URL", p.name)
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("upstream %s: client gone: %w", p.name, err)
	}
	if n := p.inFlight.Add(1); p.maxInFlight > 0 && n > p.maxInFlight {
		p.inFlight.Add(-1)
		return nil, p.errOverloaded
	}
	probe, err := p.breaker.Allow(p.now())
	if err != nil {
		p.inFlight.Add(-1)
		return nil, p.errCircuitOpen
	}
	resp, o, err := p.send(ctx, req)
	p.breaker.Done(o, probe, p.now())
	if err != nil {
		// On success the response body's Close releases the slot instead.
		p.inFlight.Add(-1)
	}
	return resp, err
}

// send runs the attempts of one request and reports the outcome for the
// circuit breaker.
//
// Each attempt has one context and one timer, armed for whichever ends first:
// the try timeout or what is left of the total timeout; the timer's cause says
// which. (Two nested contexts, one per timeout, cost a measurable share of a
// proxied request.)
func (p *Pool) send(ctx context.Context, req *http.Request) (*http.Response, outcome, error) {
	var deadline time.Time // of the whole sequence; zero: none
	if p.timeout > 0 {
		deadline = time.Now().Add(p.timeout)
	}

	retryable := p.retries > 0 && safeToRetry(req)
	var triedBuf [MaxRetries + 1]*target
	tried := triedBuf[:0]
	result := neutral
	var lastErr error
	for attempt := 0; ; attempt++ {
		limit, cause := p.tryTimeout, p.errTryTimeout
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if attempt > 0 && left <= 0 {
				return nil, failure, fmt.Errorf("upstream %s: %w", p.name, p.errTimeout)
			}
			if limit <= 0 || left <= limit {
				limit, cause = left, p.errTimeout
			}
		}
		if attempt > 0 {
			// Between attempts: a client that left ends the request without
			// charging another target.
			if err := ctx.Err(); err != nil {
				return nil, result, fmt.Errorf("upstream %s: client gone: %w", p.name, err)
			}
		}
		t, probe := p.pick(p.now(), tried)
		if t == nil {
			if lastErr == nil {
				return nil, result, p.errNoTarget
			}
			return nil, result, lastErr
		}
		tried = append(tried, t)
		mayRetry := retryable && attempt < p.retries

		attCtx := ctx
		var cancelAtt context.CancelCauseFunc
		var timer *time.Timer
		if limit > 0 {
			attCtx, cancelAtt = context.WithCancelCause(ctx)
			timer = time.AfterFunc(limit, func() { cancelAtt(cause) })
		}
		releaseAtt := func() {
			if cancelAtt != nil {
				timer.Stop()
				cancelAtt(nil)
			}
			t.inFlight.Add(-1)
		}
		out := req.WithContext(attCtx)
		u := *req.URL
		u.Scheme, u.Host = t.scheme, t.host
		out.URL, out.Host = &u, t.host

		t.inFlight.Add(1)
		resp, err := p.transport.RoundTrip(out)

		if err == nil && mayRetry && retryStatus(resp.StatusCode) && ctx.Err() == nil {
			// The timer is still armed, bounding a slow error body.
			_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
			resp.Body.Close()
			releaseAtt()
			p.record(t, failure, probe)
			result = failure
			lastErr = fmt.Errorf("upstream %s: target %s answered %d", p.name, t.key, resp.StatusCode)
			continue
		}
		if err == nil && timer != nil && !timer.Stop() {
			// The timer fired while the headers arrived; the context is
			// canceled, so the body is unusable.
			resp.Body.Close()
			resp, err = nil, cause
		}

		if err != nil {
			attCause := context.Cause(attCtx)
			releaseAtt()
			switch {
			case ctx.Err() != nil:
				// The client went away: the target is not to blame.
				p.record(t, neutral, probe)
				return nil, neutral, fmt.Errorf("upstream %s: client gone: %w", p.name, ctx.Err())
			case attCause == p.errTimeout || err == p.errTimeout:
				p.record(t, failure, probe)
				return nil, failure, fmt.Errorf("upstream %s: target %s: %w", p.name, t.key, p.errTimeout)
			case attCause == p.errTryTimeout || err == p.errTryTimeout:
				err = p.errTryTimeout
			}
			p.record(t, failure, probe)
			result = failure
			lastErr = fmt.Errorf("upstream %s: target %s: %w", p.name, t.key, err)
			if mayRetry {
				continue
			}
			return nil, failure, lastErr
		}

		o := success
		if failureStatus(resp.StatusCode) {
			o = failure
		}
		p.record(t, o, probe)
		b := &body{rc: resp.Body, pool: p, target: t, cancelAtt: cancelAtt}
		if rw, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
			// ReverseProxy needs a writable body to copy an upgraded connection.
			resp.Body = &rwBody{body: b, w: rw}
		} else {
			resp.Body = b
		}
		return resp, o, nil
	}
}

// record feeds one attempt's outcome to passive ejection.
func (p *Pool) record(t *target, o outcome, probe bool) {
	if t.record(o, probe, p.ejectAfter, p.ejectFor, p.now()) {
		p.notify(t)
	}
}

// safeToRetry: only requests that cannot have changed anything upstream and
// can be sent again byte for byte.
func safeToRetry(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	return (req.Body == nil || req.Body == http.NoBody) && !isUpgrade(req)
}

func retryStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable
}

// failureStatus: the target says it could not serve; other 5xx are the
// application's answer and say nothing about the target's health.
func failureStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// body releases the attempt's contexts and in-flight counts when the caller
// closes the response body.
type body struct {
	rc        io.ReadCloser
	pool      *Pool
	target    *target
	cancelAtt context.CancelCauseFunc
	released  atomic.Bool
}

func (b *body) Read(p []byte) (int, error) { return b.rc.Read(p) }

func (b *body) Close() error {
	err := b.rc.Close()
	if !b.released.Swap(true) {
		if b.cancelAtt != nil {
			b.cancelAtt(nil)
		}
		b.target.inFlight.Add(-1)
		b.pool.inFlight.Add(-1)
	}
	return err
}

// rwBody is the body of a 101 response: the upgraded connection.
type rwBody struct {
	*body
	w io.Writer
}

func (b *rwBody) Write(p []byte) (int, error) { return b.w.Write(p) }

var _ io.ReadWriteCloser = (*rwBody)(nil)
