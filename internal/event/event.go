// Package event defines Rampart's security event and the in-process bus that fans
// events out to sinks (metrics and the log now; detection and the audit log later).
//
// Emitting never blocks the request path: the bus has a bounded queue and counts
// what it had to drop, so an attack flood cannot slow honest requests down by
// making the gateway wait on its own logging.
package event

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Type names what happened. Types are stable: detection rules and dashboards key on them.
type Type string

// Event types emitted by the gateway.
const (
	BadRequest       Type = "bad_request"        // malformed path, absolute-form target, invalid framing
	ProtocolRefused  Type = "protocol_refused"   // CONNECT, h2c, prior-knowledge HTTP/2, upgrades a route does not allow
	RouteNotFound    Type = "route_not_found"    // no route for host+path (scanners)
	MethodNotAllowed Type = "method_not_allowed" // path matched, method did not
	LimitExceeded    Type = "limit_exceeded"     // header or body too large
	SpoofedHeader    Type = "spoofed_header"     // client sent identity headers only the gateway may set
	UpstreamFailure  Type = "upstream_failure"   // no healthy target, circuit open, upstream error
	UpstreamHealth   Type = "upstream_health"    // a target changed health
	ConfigReload     Type = "config_reload"      // config reloaded or a reload refused
	TLSReload        Type = "tls_reload"         // certificate reloaded or a reload refused
	AuthnFailed      Type = "authn_failed"       // missing, malformed, forged, expired or unknown credential (401)
	AuthzDenied      Type = "authz_denied"       // verified identity lacks a scope or role, or the allow policy said no (403)
	KeySetFailure    Type = "keyset_failure"     // an issuer's JWKS could not be fetched or parsed; the last good set is kept
	RateLimited      Type = "rate_limited"       // a caller went over a route's rate limit (429)
	RateLimitStore   Type = "rate_limit_store"   // the shared rate-limit store (Redis) did not answer; on_redis_error decided
	ValidationFailed Type = "validation_failed"  // a request broke its route's content rules: media type, JSON limits, OpenAPI schema
	WAFMatch         Type = "waf_match"          // the WAF blocked a request (or, in detection-only mode, would have); the detail names the rule ids
	RevocationFeed   Type = "revocation_feed"    // an issuer's revocation feed could not be read: revoked tokens may still pass
	CacheRefused     Type = "cache_refused"      // a response was not cached: its Vary named an unkeyed header (poisoning), or the cache store failed
	MaskRefused      Type = "mask_refused"       // a response on a masking route could not be masked (not JSON, compressed, too large) and was refused
)

// Severity orders events for alerting.
type Severity uint8

// Severities, lowest first.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "unknown"
}

// Event is one security-relevant fact. Reason is a short stable code; Detail is
// free text for the log and must already be free of secrets.
type Event struct {
	Time      time.Time
	Type      Type
	Severity  Severity
	Route     string
	ClientIP  string
	Principal string
	RequestID string
	Reason    string
	Detail    string
}

// Sink receives events from the bus, one at a time, off the request path.
type Sink interface {
	Handle(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Handle calls f(e).
func (f SinkFunc) Handle(e Event) { f(e) }

// Emitter is what request handlers depend on.
type Emitter interface {
	Emit(Event)
}

// Bus queues events and delivers them to its sinks in order.
type Bus struct {
	queue   chan Event
	mu      sync.RWMutex
	sinks   []Sink
	dropped atomic.Uint64
	done    chan struct{}
	once    sync.Once
}

// NewBus returns a bus with a queue of the given size. Call Run to deliver.
func NewBus(size int, sinks ...Sink) *Bus {
	if size < 1 {
		size = 1
	}
	return &Bus{queue: make(chan Event, size), sinks: sinks, done: make(chan struct{})}
}

// Subscribe adds a sink; it receives events emitted from now on.
func (b *Bus) Subscribe(s Sink) {
	b.mu.Lock()
	b.sinks = append(b.sinks, s)
	b.mu.Unlock()
}

// Emit queues e without blocking; when the queue is full the event is counted
// as dropped. A zero Time is set to now.
func (b *Bus) Emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	select {
	case b.queue <- e:
	default:
		b.dropped.Add(1)
	}
}

// Dropped reports how many events were dropped because the queue was full.
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }

// Run delivers events until ctx is done, then delivers what is still queued and returns.
func (b *Bus) Run(ctx context.Context) {
	defer b.once.Do(func() { close(b.done) })
	for {
		select {
		case e := <-b.queue:
			b.deliver(e)
		case <-ctx.Done():
			for {
				select {
				case e := <-b.queue:
					b.deliver(e)
				default:
					return
				}
			}
		}
	}
}

// Done is closed when Run has returned.
func (b *Bus) Done() <-chan struct{} { return b.done }

func (b *Bus) deliver(e Event) {
	b.mu.RLock()
	sinks := b.sinks
	b.mu.RUnlock()
	for _, s := range sinks {
		s.Handle(e)
	}
}
