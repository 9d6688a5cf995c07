package mesh

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/identity"
	"github.com/rampart-sec/rampart/sdk/mtls"
)

var (
	testTD     = spiffeid.RequireTrustDomainFromString("mesh.test")
	accountsID = spiffeid.RequireFromPath(testTD, "/accounts")
	ordersID   = spiffeid.RequireFromPath(testTD, "/orders")
	intruderID = spiffeid.RequireFromPath(testTD, "/intruder")
	testTD2    = spiffeid.RequireTrustDomainFromString("other.test")
	testTD2ID  = spiffeid.RequireFromPath(testTD2, "/orders")
)

var quiet = slog.New(slog.DiscardHandler)

// testCA is a real Rampart CA served on loopback.
type testCA struct {
	*identity.CA
	url string
}

// newTestCA starts a CA for td whose SVIDs live ttl (0: the default hour).
func newTestCA(t testing.TB, td spiffeid.TrustDomain, ttl time.Duration) *testCA {
	t.Helper()
	kek := make([]byte, identity.KEKSize)
	rand.Read(kek)
	var opts []identity.Option
	if ttl > 0 {
		opts = append(opts, identity.WithLeafTTL(ttl))
	}
	ca, err := identity.Init(t.TempDir(), kek, td, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ca.Serve(ctx, ln, log.New(io.Discard, "", 0)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &testCA{CA: ca, url: "https://" + ln.Addr().String()}
}

// source joins the CA as id with a join token, as `rampart mesh` does.
func (ca *testCA) source(t testing.TB, id spiffeid.ID) *mtls.Source {
	t.Helper()
	tok, err := ca.NewJoinToken(id, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src, err := mtls.New(ctx, mtls.Config{
		CA:          ca.url,
		TrustDomain: ca.TrustDomain(),
		Bundle:      identity.BundlePEM(ca.Bundle()),
		JoinToken:   tok,
		Logger:      quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// cert issues an SVID for id valid for ttl, as a TLS client certificate.
func (ca *testCA) cert(t testing.TB, id spiffeid.ID, ttl time.Duration) tls.Certificate {
	t.Helper()
	svid, err := ca.NewSVID(context.Background(), id, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tlsCert(svid)
}

func tlsCert(svid *x509svid.SVID) tls.Certificate {
	c := tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
	for _, x := range svid.Certificates {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// clientTLS presents cert (when given) and trusts any server: these tests
// are about what the sidecar accepts, not about the client's checks. The
// certificate is sent even when the server's list of acceptable CAs does
// not name its issuer (crypto/tls would otherwise send none).
func clientTLS(cert ...tls.Certificate) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
	if len(cert) > 0 {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert[0], nil }
	}
	return c
}

// recorder keeps the events emitted and wakes waiters.
type recorder struct {
	mu      sync.Mutex
	evs     []event.Event
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) Emit(e event.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder) find(t event.Type, reason string) (event.Event, bool, chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.evs {
		if e.Type == t && (reason == "" || e.Reason == reason) {
			return e, true, nil
		}
	}
	return event.Event{}, false, r.changed
}

// wait returns the first event of type t with reason ("" for any),
// waiting up to 5s for it.
func (r *recorder) wait(tb testing.TB, t event.Type, reason string) event.Event {
	tb.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		e, ok, changed := r.find(t, reason)
		if ok {
			return e
		}
		select {
		case <-changed:
		case <-deadline.C:
			tb.Fatalf("no %s event with reason %q; got %+v", t, reason, r.all())
		}
	}
}

func (r *recorder) all() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.evs...)
}

// app is the service behind a sidecar: it records what reached it.
type app struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newApp(t testing.TB) *app {
	t.Helper()
	a := &app{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, r)
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello "+r.Header.Get(CallerHeader))
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *app) requests() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*http.Request(nil), a.reqs...)
}

func (a *app) addr() string { return strings.TrimPrefix(a.URL, "http://") }

// start runs a sidecar until the test ends.
func start(t testing.TB, cfg Config, src Source, ev *recorder) *Sidecar {
	t.Helper()
	opts := Options{Log: quiet}
	if ev != nil {
		opts.Events = ev
	}
	s, err := New(cfg, src, opts)
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	return s
}

func run(t testing.TB, s *Sidecar) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// withGotConn records in reused whether the request went on a reused connection.
func withGotConn(ctx context.Context, reused *bool) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { *reused = i.Reused },
	})
}

// rawRequest sends one HTTP/1.1 request with the target exactly as given
// (no client-side cleaning) over a new TLS connection.
func rawRequest(t testing.TB, addr string, conf *tls.Config, method, target string, hdr ...string) (*http.Response, string, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := method + " " + target + " HTTP/1.1\r\nHost: service\r\nConnection: close\r\n"
	for _, h := range hdr {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}
