// Package upstream sends proxied requests to a pool of upstream targets: it
// balances load, checks health actively and passively, breaks the circuit
// when the whole pool fails, bounds time per attempt and per request, and
// retries only requests that are safe to repeat.
//
// A Pool is an http.RoundTripper meant to be the Transport of an
// httputil.ReverseProxy that has already rewritten the outbound request.
package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-sec/rampart/internal/breaker"
)

// Errors returned by RoundTrip when no attempt is made; a gateway answers
// them with 503. Timeouts satisfy errors.Is(err, context.DeadlineExceeded);
// a caller whose context ended gets an error wrapping its context's error.
var (
	// ErrNoHealthyTarget: every target is unhealthy (active checks) or
	// ejected (passive). The pool never falls back to a known-bad target,
	// not even when all of them are bad.
	ErrNoHealthyTarget = errors.New("no healthy upstream target")
	ErrCircuitOpen     = errors.New("upstream circuit breaker is open")
	ErrOverloaded      = errors.New("upstream pool is at its in-flight request limit")
)

// Pool is a set of upstream targets behind one http.Transport. It is safe for
// concurrent use.
type Pool struct {
	name          string
	targets       []*target
	leastRequests bool
	transport     *http.Transport

	health     HealthOptions
	ejectAfter int
	ejectFor   int64
	// breaker is the pool-wide circuit breaker: ConsecutiveFailures failed
	// requests in a row open it for OpenFor, then one probe request decides.
	breaker     *breaker.Breaker
	maxInFlight int64
	timeout     time.Duration
	tryTimeout  time.Duration
	retries     int
	onChange    func(string, bool)

	// Errors built once so that failing fast does not allocate.
	errNoTarget, errCircuitOpen, errOverloaded error
	errTimeout, errTryTimeout                  error

	epoch    time.Time    // the pool clock: monotonic nanoseconds since epoch
	clock    func() int64 // replaces the pool clock in tests of time windows
	next     atomic.Uint64
	inFlight atomic.Int64

	mu      sync.Mutex // guards started, closed and stop
	started bool
	closed  bool
	stop    context.CancelFunc
	checks  sync.WaitGroup
}

// TargetStatus is a snapshot of one target.
type TargetStatus struct {
	// URL is the target's scheme://host.
	URL string
	// Healthy is the verdict of active health checks (true when checks are off).
	Healthy bool
	// Ejected is true from a passive ejection until a probe request succeeds;
	// once EjectFor has passed the target takes that one probe request.
	Ejected bool
	// InFlight counts requests whose response body is not closed yet.
	InFlight int64
	// ConsecutiveFailures counts passive failures since the last success.
	ConsecutiveFailures int
}

// New validates opts and builds the pool and its transport. It starts no
// goroutine; call Start for active health checks.
func New(opts Options) (*Pool, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	p := &Pool{
		name:          o.Name,
		leastRequests: o.Balance == LeastRequests,
		health:        o.Health,
		ejectAfter:    o.Passive.ConsecutiveFailures,
		ejectFor:      int64(o.Passive.EjectFor),
		breaker:       breaker.New(o.Breaker.ConsecutiveFailures, int64(o.Breaker.OpenFor)),
		maxInFlight:   int64(o.Breaker.MaxRequests),
		timeout:       o.Timeout,
		tryTimeout:    o.TryTimeout,
		retries:       o.Retries,
		onChange:      o.OnHealthChange,
		epoch:         time.Now(),
	}
	prefix := fmt.Sprintf("upstream %s: ", o.Name)
	p.errNoTarget = fmt.Errorf("%s%w", prefix, ErrNoHealthyTarget)
	p.errCircuitOpen = fmt.Errorf("%s%w", prefix, ErrCircuitOpen)
	p.errOverloaded = fmt.Errorf("%s%w", prefix, ErrOverloaded)
	p.errTimeout = &timeoutError{msg: fmt.Sprintf("no response headers within timeout %s", o.Timeout)}
	p.errTryTimeout = &timeoutError{msg: fmt.Sprintf("no response headers within try timeout %s", o.TryTimeout)}
	anyTLS := false
	for _, u := range o.Targets {
		t := &target{
			key:    u.Scheme + "://" + u.Host,
			scheme: u.Scheme,
			host:   u.Host,
		}
		if o.Health.Path != "" {
			t.health = t.key + o.Health.Path
		}
		t.healthy.Store(true)
		t.reported = true
		p.targets = append(p.targets, t)
		anyTLS = anyTLS || u.Scheme == "https"
	}
	p.transport = newTransport(o, anyTLS)
	return p, nil
}

func newTransport(o Options, anyTLS bool) *http.Transport {
	dialer := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	tc := &tls.Config{
		MinVersion:           tls.VersionTLS12,
		RootCAs:              o.RootCAs,
		ServerName:           o.ServerName,
		GetClientCertificate: o.ClientCertificate,
	}
	if o.TLSConfig != nil {
		tc = o.TLSConfig.Clone()
	}
	return &http.Transport{
		// A gateway must never send its traffic through $HTTP_PROXY.
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: o.ConnectTimeout,
		// A custom dialer and TLS config turn HTTP/2 off unless forced; h2 is
		// negotiated by ALPN, so plain-http targets stay on HTTP/1.1.
		ForceAttemptHTTP2:   anyTLS,
		MaxIdleConns:        o.MaxIdlePerHost * len(o.Targets),
		MaxIdleConnsPerHost: o.MaxIdlePerHost,
		IdleConnTimeout:     o.IdleConnTimeout,
		// Bodies pass through untouched: the client negotiated its encoding.
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		ExpectContinueTimeout:  time.Second,
	}
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.name }

// Start begins active health checks, if configured, until ctx is done or
// Close is called. Calls after the first, or after Close, do nothing.
func (p *Pool) Start(ctx context.Context) {
	if p.health.Path == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	ctx, p.stop = context.WithCancel(ctx)
	for _, t := range p.targets {
		p.checks.Add(1)
		go p.checkLoop(ctx, t)
	}
}

// Close stops health checks, waits for them to return and closes idle
// connections. Requests in flight keep working and their connections are
// closed, not kept, when they finish. Close may be called twice.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	stop := p.stop
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
	p.checks.Wait()
	p.transport.CloseIdleConnections()
}

// Status returns a snapshot of every target, in configuration order.
func (p *Pool) Status() []TargetStatus {
	out := make([]TargetStatus, len(p.targets))
	for i, t := range p.targets {
		out[i] = TargetStatus{
			URL:                 t.key,
			Healthy:             t.healthy.Load(),
			Ejected:             t.ejected.Load(),
			InFlight:            t.inFlight.Load(),
			ConsecutiveFailures: t.consecutiveFailures(),
		}
	}
	return out
}

// Ready reports whether at least one target would take a request now. It
// ignores the circuit breaker, which opens and closes on its own within
// OpenFor.
func (p *Pool) Ready() bool {
	now := p.now()
	for _, t := range p.targets {
		if t.usable(now) {
			return true
		}
	}
	return false
}

// CircuitState returns CircuitClosed, CircuitOpen or CircuitHalfOpen.
func (p *Pool) CircuitState() string { return p.breaker.Describe(p.now()) }

// InFlight returns the number of requests in the pool (admitted and whose
// response body is not closed yet).
func (p *Pool) InFlight() int64 { return p.inFlight.Load() }

func (p *Pool) now() int64 {
	if p.clock != nil {
		return p.clock()
	}
	return int64(time.Since(p.epoch))
}

// notify reports t's usable state to OnHealthChange if it changed. Whoever
// holds notifyMu delivers; everyone else only marks work pending and
// returns, so no request ever waits on a slow callback of another.
func (p *Pool) notify(t *target) {
	if p.onChange == nil {
		return
	}
	t.notifyPending.Store(true)
	for t.notifyPending.Load() {
		if !t.notifyMu.TryLock() {
			return
		}
		for t.notifyPending.Swap(false) {
			if up := t.up(); up != t.reported {
				t.reported = up
				p.onChange(t.key, up)
			}
		}
		t.notifyMu.Unlock()
	}
}

// isUpgrade reports whether req asks to switch protocols (WebSocket and
// friends): such a request is never retried.
func isUpgrade(req *http.Request) bool {
	if req.Header.Get("Upgrade") != "" {
		return true
	}
	for _, v := range req.Header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}
