package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
)

// seen is what a test upstream received.
type seen struct {
	Upstream string
	Method   string
	URI      string
	Header   http.Header
	Body     string
}

// recordingUpstream is a real HTTP server on 127.0.0.1 that records requests.
type recordingUpstream struct {
	name string
	addr string
	mu   sync.Mutex
	got  []seen
	srv  *http.Server
}

func newUpstream(t *testing.T, name string, h http.HandlerFunc) *recordingUpstream {
	t.Helper()
	u := &recordingUpstream{name: name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	u.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.got = append(u.got, seen{Upstream: name, Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: string(b)})
		u.mu.Unlock()
		w.Header().Set("Server", "leaky/1.2.3")
		w.Header().Set("X-Powered-By", "php/5")
		if h != nil {
			h(w, r)
			return
		}
		fmt.Fprintf(w, "%s saw %s", name, r.RequestURI)
	}), ReadHeaderTimeout: 5 * time.Second}
	go u.srv.Serve(ln)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

func (u *recordingUpstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.got...)
}

func (u *recordingUpstream) last(t *testing.T) seen {
	t.Helper()
	r := u.requests()
	if len(r) == 0 {
		t.Fatalf("upstream %s received nothing", u.name)
	}
	return r[len(r)-1]
}

// eventLog collects events for assertions.
type eventLog struct {
	mu  sync.Mutex
	evs []event.Event
}

func (l *eventLog) Handle(e event.Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	l.mu.Unlock()
}

// waitFor polls until an event with the type and reason arrives; an empty
// type or reason matches any.
func (l *eventLog) waitFor(t *testing.T, typ event.Type, reason string) event.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, e := range l.evs {
			if (typ == "" || e.Type == typ) && (reason == "" || e.Reason == reason) {
				l.mu.Unlock()
				return e
			}
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %s/%s event; got %+v", typ, reason, l.all())
	return event.Event{}
}

func (l *eventLog) all() []event.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event.Event(nil), l.evs...)
}

type testGateway struct {
	addrs   Addrs
	cfgPath string
	events  *eventLog
	access  *syncBuffer
	logs    *syncBuffer
	reload  chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGateway writes cfgYAML to a temp file, loads it strictly and runs the
// gateway until the test ends.
func startGateway(t *testing.T, cfgYAML string) *testGateway {
	t.Helper()
	dir := t.TempDir()
	g := &testGateway{cfgPath: filepath.Join(dir, "gateway.yaml"), events: &eventLog{}, access: &syncBuffer{},
		logs: &syncBuffer{}, reload: make(chan struct{}, 1)}
	if err := os.WriteFile(g.cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(g.cfgPath)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			ConfigPath: g.cfgPath, Config: cfg, DataDir: dir,
			Log:    slog.New(slog.NewJSONHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Stdout: g.access, Stderr: g.access, Reload: g.reload,
			Started: func(a Addrs) { started <- a },
			Events:  g.events,
		})
	}()
	select {
	case g.addrs = <-started:
	case err := <-done:
		t.Fatalf("gateway did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway start timed out")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("gateway did not stop")
		}
	})
	return g
}

// raw sends one raw HTTP/1.1 request on a fresh plaintext connection and
// returns the parsed response (status 0 when the connection was closed
// without one) and its body.
func raw(t *testing.T, addr, request string) (int, http.Header, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, ""
	}
	defer resp.Body.Close()
	if resp.Close { // ReadResponse consumes "Connection: close"; keep it visible to tests
		resp.Header.Set("Connection", "close")
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func get(path string, headers ...string) string {
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: test.local\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	return b.String()
}

// tlsClient trusts the gateway's development CA.
func tlsClient(t *testing.T, caFile string, h2 bool) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: h2, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}
