package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestNewValidatesOptions(t *testing.T) {
	good := &url.URL{Scheme: "http", Host: "127.0.0.1:1"}
	parse := func(s string) []*url.URL { return []*url.URL{mustURL(t, s)} }
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"no name", Options{Targets: []*url.URL{good}}, "name is empty"},
		{"no targets", Options{Name: "a"}, "no targets"},
		{"nil target", Options{Name: "a", Targets: []*url.URL{nil}}, "nil URL"},
		{"bad scheme", Options{Name: "a", Targets: parse("ftp://h")}, "scheme"},
		{"no host", Options{Name: "a", Targets: parse("http://")}, "no host"},
		{"path", Options{Name: "a", Targets: parse("http://h/api")}, "must not have a path"},
		{"query", Options{Name: "a", Targets: parse("http://h?x=1")}, "must not have a path"},
		{"user info", Options{Name: "a", Targets: parse("http://u:s3cret@h")}, "user info"},
		{"duplicate", Options{Name: "a", Targets: []*url.URL{good, good}}, "duplicate"},
		{"balance", Options{Name: "a", Targets: []*url.URL{good}, Balance: "random"}, "balance"},
		{"health path", Options{Name: "a", Targets: []*url.URL{good}, Health: HealthOptions{Path: "healthz"}}, "health.path"},
		{"health interval", Options{Name: "a", Targets: []*url.URL{good}, Health: HealthOptions{Interval: -1}}, "health"},
		{"passive", Options{Name: "a", Targets: []*url.URL{good}, Passive: PassiveOptions{ConsecutiveFailures: -1}}, "passive"},
		{"breaker", Options{Name: "a", Targets: []*url.URL{good}, Breaker: BreakerOptions{MaxRequests: -1}}, "circuit breaker"},
		{"timeout", Options{Name: "a", Targets: []*url.URL{good}, TryTimeout: -time.Second}, "negative timeout"},
		{"retries", Options{Name: "a", Targets: []*url.URL{good}, Retries: MaxRetries + 1}, "retries"},
		{"negative retries", Options{Name: "a", Targets: []*url.URL{good}, Retries: -1}, "retries"},
		{"idle", Options{Name: "a", Targets: []*url.URL{good}, MaxIdlePerHost: -1}, "idle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: err %v, want it to mention %q", err, c.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error leaks the password in a target URL: %v", err)
			}
		})
	}

	p, err := New(Options{Name: "ok", Targets: []*url.URL{good, mustURL(t, "https://example.com/")}})
	if err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
	defer p.Close()
	if !p.Ready() || p.CircuitState() != CircuitClosed {
		t.Fatalf("fresh pool: ready %v, circuit %s", p.Ready(), p.CircuitState())
	}
	if p.health.UnhealthyThreshold != DefaultUnhealthyThreshold || p.ejectFor != int64(DefaultEjectFor) {
		t.Fatalf("defaults not applied: %+v", p.health)
	}
}

func TestTransportSettings(t *testing.T) {
	for _, tc := range []struct {
		target string
		h2     bool
	}{{"http://127.0.0.1:1", false}, {"https://127.0.0.1:1", true}} {
		p := newPool(t, Options{Targets: []*url.URL{mustURL(t, tc.target)}, MaxIdlePerHost: 7, ServerName: "svc.internal"})
		tr := p.transport
		switch {
		case tr.Proxy != nil:
			t.Error("transport routes through a proxy")
		case !tr.DisableCompression:
			t.Error("transport rewrites bodies (compression on)")
		case tr.TLSClientConfig.MinVersion != tls.VersionTLS12:
			t.Error("TLS minimum is not 1.2")
		case tr.TLSClientConfig.ServerName != "svc.internal":
			t.Error("ServerName not applied")
		case tr.MaxResponseHeaderBytes != maxResponseHeaderBytes:
			t.Error("response header size not capped")
		case tr.MaxIdleConnsPerHost != 7 || tr.MaxIdleConns != 7:
			t.Errorf("idle connections: per host %d, total %d", tr.MaxIdleConnsPerHost, tr.MaxIdleConns)
		case tr.ResponseHeaderTimeout != 0:
			t.Error("ResponseHeaderTimeout set; TryTimeout is enforced by the pool")
		case tr.ForceAttemptHTTP2 != tc.h2:
			t.Errorf("%s: ForceAttemptHTTP2 = %v", tc.target, tr.ForceAttemptHTTP2)
		}
	}
}

func TestRoundRobinIsExactAndRewritesOnlySchemeAndHost(t *testing.T) {
	var bs []*backend
	for i := range 3 {
		name := fmt.Sprintf("b%d", i)
		var b *backend
		b = newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
			if r.Host != b.url.Host || r.URL.RequestURI() != "/a/b?x=1" || r.Header.Get("X-Test") != "1" {
				http.Error(w, "bad request line "+r.Host+" "+r.URL.RequestURI(), http.StatusTeapot)
				return
			}
			_, _ = w.Write([]byte(name))
		})
		bs = append(bs, b)
	}
	p := newPool(t, Options{Targets: urls(bs...)})
	counts := map[string]int{}
	for range 30 {
		req := newRequest(t, context.Background(), http.MethodGet, "/a/b?x=1", nil)
		req.Header.Set("X-Test", "1")
		before := *req.URL
		resp, err := p.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		buf := make([]byte, 8)
		n, _ := resp.Body.Read(buf)
		resp.Body.Close()
		counts[string(buf[:n])]++
		if *req.URL != before || req.Host != "gateway.invalid" {
			t.Fatalf("RoundTrip modified the caller's request: %v host %q", req.URL, req.Host)
		}
	}
	for _, b := range bs {
		if counts[b.name] != 10 {
			t.Fatalf("round robin counts %v, want 10 each", counts)
		}
	}
	if p.InFlight() != 0 {
		t.Fatalf("in flight after all bodies closed: %d", p.InFlight())
	}
}

func TestLeastRequestsPrefersIdleTarget(t *testing.T) {
	entered := make(chan string, 1)
	release := make(chan struct{})
	slow := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				entered <- name
				<-release
			}
			_, _ = w.Write([]byte(name))
		}
	}
	a, b := newBackend(t, "a", slow("a")), newBackend(t, "b", slow("b"))
	for _, policy := range []string{LeastRequests, RoundRobin} {
		t.Run(policy, func(t *testing.T) {
			p := newPool(t, Options{Targets: urls(a, b), Balance: policy})
			done := make(chan error, 1)
			go func() {
				_, _, err := fetch(t, p, http.MethodGet, "/slow")
				done <- err
			}()
			busy := receive(t, entered, "the slow request to arrive")
			idle := 0
			for range 6 {
				if mustFetch(t, p, "/fast") != busy {
					idle++
				}
			}
			release <- struct{}{}
			if err := receive(t, done, "the slow request to finish"); err != nil {
				t.Fatal(err)
			}
			want := 3 // round robin ignores load
			if policy == LeastRequests {
				want = 6
			}
			if idle != want {
				t.Fatalf("%s sent %d of 6 requests to the idle target, want %d", policy, idle, want)
			}
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	for _, policy := range []string{RoundRobin, LeastRequests} {
		p := benchPool(t, policy)
		var tried [MaxRetries + 1]*target
		tried[0] = p.targets[0]
		if n := testing.AllocsPerRun(100, func() { p.pick(p.now(), tried[:1]) }); n != 0 {
			t.Fatalf("%s pick allocates %v times", policy, n)
		}
	}
}

func TestIgnoresProxyEnvironment(t *testing.T) {
	// Go never proxies loopback targets, so a request that works proves
	// little on its own; the transport having no Proxy func is the guard.
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("NO_PROXY", "")
	b := newBackend(t, "b", nil)
	p := newPool(t, Options{Targets: urls(b)})
	if got := mustFetch(t, p, "/"); got != "b" {
		t.Fatalf("got %q", got)
	}
	if p.transport.Proxy != nil {
		t.Fatal("transport consults a proxy")
	}
	// A non-loopback URL would be proxied by http.ProxyFromEnvironment.
	req := newRequest(t, context.Background(), http.MethodGet, "/", nil)
	req.URL.Host = "10.0.0.1"
	if u, _ := http.ProxyFromEnvironment(req); u == nil {
		t.Log("http.ProxyFromEnvironment read the environment before this test; the transport check above still holds")
	}
}

func benchPool(tb testing.TB, policy string) *Pool {
	var targets []*url.URL
	for i := range 8 {
		targets = append(targets, mustURL(tb, fmt.Sprintf("http://10.0.0.%d:8080", i+1)))
	}
	return newPool(tb, Options{Targets: targets, Balance: policy,
		Passive: PassiveOptions{ConsecutiveFailures: 3}})
}

func BenchmarkPick(b *testing.B) {
	for _, policy := range []string{RoundRobin, LeastRequests} {
		b.Run(policy, func(b *testing.B) {
			p := benchPool(b, policy)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					t, _ := p.pick(p.now(), nil)
					t.inFlight.Add(1)
					t.inFlight.Add(-1)
				}
			})
		})
	}
}
