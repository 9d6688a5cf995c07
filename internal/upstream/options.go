package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Balance policies accepted in Options.Balance.
const (
	RoundRobin    = "round_robin"
	LeastRequests = "least_requests"
)

// Defaults applied by New to zero-valued options, so that a pool built from a
// minimal config is safe to put in front of real traffic.
const (
	DefaultHealthInterval     = 10 * time.Second
	DefaultHealthTimeout      = 2 * time.Second
	DefaultHealthyThreshold   = 1
	DefaultUnhealthyThreshold = 3
	DefaultEjectFor           = 30 * time.Second
	DefaultOpenFor            = 10 * time.Second
	DefaultConnectTimeout     = 5 * time.Second
	DefaultMaxIdlePerHost     = 64
	DefaultIdleConnTimeout    = 90 * time.Second

	// MaxRetries bounds Options.Retries: more extra attempts only multiply
	// load on an upstream that is already failing.
	MaxRetries = 10

	maxResponseHeaderBytes = 1 << 20
)

// Options configure a Pool. The zero value of every field except Name and
// Targets is valid and documented on the field.
type Options struct {
	// Name identifies the pool in errors.
	Name string
	// Targets are http or https base URLs without path, query or user info.
	Targets []*url.URL
	// Balance is RoundRobin ("" means RoundRobin) or LeastRequests.
	Balance string
	// Health configures active health checks.
	Health HealthOptions
	// Passive configures ejection of a target after consecutive failures.
	Passive PassiveOptions
	// Breaker configures the pool-wide circuit breaker and concurrency cap.
	Breaker BreakerOptions
	// Timeout bounds all attempts of one request until response headers
	// arrive (0: no bound). Response bodies are never cut.
	Timeout time.Duration
	// TryTimeout bounds one attempt until response headers arrive (0: no bound).
	TryTimeout time.Duration
	// ConnectTimeout bounds the TCP connect and the TLS handshake each
	// (0: DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// Retries is how many extra attempts a safe request may get (see RoundTrip).
	Retries int
	// RootCAs verify https targets; nil means the system roots.
	RootCAs *x509.CertPool
	// ServerName overrides the name sent in SNI and verified in the
	// certificate of every https target.
	ServerName string
	// ClientCertificate, when set, supplies a client certificate for mTLS.
	ClientCertificate func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	// TLSConfig, when set, is the whole client TLS configuration for https
	// targets (workload mTLS: the gateway's SVID, the trust bundle and the
	// expected SPIFFE ID of the upstream); RootCAs, ServerName and
	// ClientCertificate are then ignored.
	TLSConfig *tls.Config
	// MaxIdlePerHost caps idle keep-alive connections per target
	// (0: DefaultMaxIdlePerHost).
	MaxIdlePerHost int
	// IdleConnTimeout closes keep-alive connections idle this long
	// (0: DefaultIdleConnTimeout).
	IdleConnTimeout time.Duration
	// OnHealthChange, when set, is called when a target becomes usable
	// (healthy=true) or unusable (healthy=false) through active checks or
	// passive ejection. Calls for one target are serialized and report the
	// latest state; it is never called while a lock RoundTrip needs is held,
	// but it runs on request goroutines, so it must be quick.
	OnHealthChange func(target string, healthy bool)
}

// HealthOptions configure active health checks.
type HealthOptions struct {
	// Path is requested with GET on each target; "" disables active checks.
	// A 2xx or 3xx answer is healthy.
	Path string
	// Interval between checks of one target, jittered by ±10%
	// (0: DefaultHealthInterval).
	Interval time.Duration
	// Timeout bounds one check (0: DefaultHealthTimeout or Interval if shorter).
	Timeout time.Duration
	// HealthyThreshold is how many consecutive passes make an unhealthy
	// target healthy again (0: DefaultHealthyThreshold).
	HealthyThreshold int
	// UnhealthyThreshold is how many consecutive failures make a healthy
	// target unhealthy (0: DefaultUnhealthyThreshold).
	UnhealthyThreshold int
}

// PassiveOptions configure ejection of targets that fail real requests.
type PassiveOptions struct {
	// ConsecutiveFailures ejects a target after this many failures in a row
	// (connect errors, timeouts, 502/503/504); 0 disables ejection.
	ConsecutiveFailures int
	// EjectFor is how long an ejected target gets no traffic; after it one
	// request probes the target (0: DefaultEjectFor).
	EjectFor time.Duration
}

// BreakerOptions configure the pool-wide circuit breaker.
type BreakerOptions struct {
	// ConsecutiveFailures opens the circuit after this many failed requests
	// in a row across the pool; 0 disables the breaker.
	ConsecutiveFailures int
	// OpenFor is how long an open circuit fails fast before one probe request
	// is let through (0: DefaultOpenFor).
	OpenFor time.Duration
	// MaxRequests caps in-flight requests to the pool (0: no cap).
	MaxRequests int
}

// normalize validates opts and fills defaults into a copy.
func (o Options) normalize() (Options, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if o.Name == "" {
		bad("name is empty")
	}
	if len(o.Targets) == 0 {
		bad("no targets")
	}
	seen := make(map[string]bool, len(o.Targets))
	for i, u := range o.Targets {
		if err := checkTarget(u); err != nil {
			bad("targets[%d]: %w", i, err)
			continue
		}
		key := strings.ToLower(u.Scheme + "://" + u.Host)
		if seen[key] {
			bad("targets[%d]: duplicate target %s", i, key)
		}
		seen[key] = true
	}
	switch o.Balance {
	case "":
		o.Balance = RoundRobin
	case RoundRobin, LeastRequests:
	default:
		bad("balance %q: want %q or %q", o.Balance, RoundRobin, LeastRequests)
	}

	h := &o.Health
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		bad("health.path %q must start with /", h.Path)
	}
	if h.Interval < 0 || h.Timeout < 0 || h.HealthyThreshold < 0 || h.UnhealthyThreshold < 0 {
		bad("health: negative interval, timeout or threshold")
	}
	h.Interval = orDuration(h.Interval, DefaultHealthInterval)
	h.Timeout = orDuration(h.Timeout, min(DefaultHealthTimeout, h.Interval))
	h.HealthyThreshold = orInt(h.HealthyThreshold, DefaultHealthyThreshold)
	h.UnhealthyThreshold = orInt(h.UnhealthyThreshold, DefaultUnhealthyThreshold)

	if o.Passive.ConsecutiveFailures < 0 || o.Passive.EjectFor < 0 {
		bad("passive: negative consecutive_failures or eject_for")
	}
	o.Passive.EjectFor = orDuration(o.Passive.EjectFor, DefaultEjectFor)

	if o.Breaker.ConsecutiveFailures < 0 || o.Breaker.OpenFor < 0 || o.Breaker.MaxRequests < 0 {
		bad("circuit breaker: negative consecutive_failures, open_for or max_requests")
	}
	o.Breaker.OpenFor = orDuration(o.Breaker.OpenFor, DefaultOpenFor)

	if o.Timeout < 0 || o.TryTimeout < 0 || o.ConnectTimeout < 0 || o.IdleConnTimeout < 0 {
		bad("negative timeout")
	}
	if o.Retries < 0 || o.Retries > MaxRetries {
		bad("retries %d: want 0..%d", o.Retries, MaxRetries)
	}
	if o.MaxIdlePerHost < 0 {
		bad("negative max idle connections per host")
	}
	o.ConnectTimeout = orDuration(o.ConnectTimeout, DefaultConnectTimeout)
	o.MaxIdlePerHost = orInt(o.MaxIdlePerHost, DefaultMaxIdlePerHost)
	o.IdleConnTimeout = orDuration(o.IdleConnTimeout, DefaultIdleConnTimeout)

	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("upstream %q: %w", o.Name, err)
	}
	return o, nil
}

// checkTarget refuses anything but a bare scheme://host[:port]: a path would
// be silently dropped and user info would put a secret into every log line
// that names the target.
func checkTarget(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("nil URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q: want http or https", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("user info is not allowed in a target URL")
	case u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return fmt.Errorf("target %s://%s must not have a path, query or fragment", u.Scheme, u.Host)
	}
	return nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func orInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}
