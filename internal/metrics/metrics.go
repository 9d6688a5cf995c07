// Package metrics holds Rampart's Prometheus collectors. Label values that depend
// on configuration (routes, upstreams) are bound when the config is compiled, so a
// proxied request only increments pre-resolved counters.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rampart-sec/rampart/internal/event"
)

// Metrics is the set of gateway collectors registered on one registry.
type Metrics struct {
	Registry *prometheus.Registry

	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	events        *prometheus.CounterVec
	targetHealthy *prometheus.GaugeVec
	reloads       *prometheus.CounterVec
	certExpiry    prometheus.Gauge
	eventsDropped prometheus.CounterFunc
	configVersion prometheus.Gauge
}

// New registers the collectors on a fresh registry. dropped reports events the
// bus had to drop (may be nil).
func New(dropped func() uint64) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_requests_total",
			Help: "Requests handled by the gateway, by route, method and status class.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rampart_request_duration_seconds",
			Help:    "Time from request received to response headers written, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_security_events_total",
			Help: "Security events, by type and severity.",
		}, []string{"type", "severity"}),
		targetHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rampart_upstream_target_healthy",
			Help: "1 when an upstream target is usable, 0 when unhealthy or ejected.",
		}, []string{"upstream", "target"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_config_reloads_total",
			Help: "Configuration reloads, by result (ok or refused).",
		}, []string{"result"}),
		certExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rampart_tls_certificate_expiry_timestamp_seconds",
			Help: "NotAfter of the edge certificate being served, as a Unix timestamp.",
		}),
		configVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rampart_config_last_reload_timestamp_seconds",
			Help: "When the configuration in use was loaded, as a Unix timestamp.",
		}),
	}
	if dropped == nil {
		dropped = func() uint64 { return 0 }
	}
	m.eventsDropped = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "rampart_security_events_dropped_total",
		Help: "Security events dropped because the event queue was full.",
	}, func() float64 { return float64(dropped()) })
	reg.MustRegister(m.requests, m.duration, m.events, m.targetHealthy, m.reloads,
		m.certExpiry, m.eventsDropped, m.configVersion,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// methods are the label values for the method label; anything else is "OTHER",
// so clients cannot create unbounded label cardinality.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}

func methodIndex(m string) int {
	for i, v := range methods[:len(methods)-1] {
		if v == m {
			return i
		}
	}
	return len(methods) - 1
}

// Route holds the pre-bound collectors of one route (or of unrouted requests).
type Route struct {
	counters [len(methods)][6]prometheus.Counter // status class 0 (other),1xx..5xx
	duration prometheus.Observer
}

// Route binds the collectors for a route name. Call at config compile time.
func (m *Metrics) Route(name string) *Route {
	r := &Route{duration: m.duration.WithLabelValues(name)}
	for i, meth := range methods {
		for c := range 6 {
			code := "other"
			if c > 0 {
				code = strconv.Itoa(c) + "xx"
			}
			r.counters[i][c] = m.requests.WithLabelValues(name, meth, code)
		}
	}
	return r
}

// Observe records one finished request.
func (r *Route) Observe(method string, status int, d time.Duration) {
	c := status / 100
	if c < 1 || c > 5 {
		c = 0
	}
	r.counters[methodIndex(method)][c].Inc()
	r.duration.Observe(d.Seconds())
}

// Handle counts a security event (it is an event.Sink).
func (m *Metrics) Handle(e event.Event) {
	m.events.WithLabelValues(string(e.Type), e.Severity.String()).Inc()
}

// TargetHealth records an upstream target's usability.
func (m *Metrics) TargetHealth(upstream, target string, healthy bool) {
	v := 0.0
	if healthy {
		v = 1
	}
	m.targetHealthy.WithLabelValues(upstream, target).Set(v)
}

// Reload counts a configuration reload attempt.
func (m *Metrics) Reload(ok bool) {
	if ok {
		m.reloads.WithLabelValues("ok").Inc()
		m.configVersion.SetToCurrentTime()
		return
	}
	m.reloads.WithLabelValues("refused").Inc()
}

// CertificateExpiry records the served certificate's NotAfter.
func (m *Metrics) CertificateExpiry(t time.Time) {
	m.certExpiry.Set(float64(t.Unix()))
}
