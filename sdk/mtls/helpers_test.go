package mtls

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/rampart-sec/rampart/internal/identity"
)

var (
	testTD   = spiffeid.RequireTrustDomainFromString("example.test")
	ordersID = spiffeid.RequireFromPath(testTD, "/orders")
	webID    = spiffeid.RequireFromPath(testTD, "/web")
)

var quiet = slog.New(slog.DiscardHandler)

// testCA is a CA serving on 127.0.0.1 that can be stopped and restarted on
// the same address.
type testCA struct {
	*identity.CA
	td   spiffeid.TrustDomain
	dir  string
	kek  []byte
	addr string
	stop func()
}

func newTestCA(t testing.TB, td spiffeid.TrustDomain, opts ...identity.Option) *testCA {
	t.Helper()
	kek := make([]byte, identity.KEKSize)
	rand.Read(kek)
	dir := t.TempDir()
	ca, err := identity.Init(dir, kek, td, opts...)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCA{CA: ca, td: td, dir: dir, kek: kek, addr: "127.0.0.1:0"}
	tc.start(t)
	t.Cleanup(func() { tc.stop() })
	return tc
}

func (tc *testCA) start(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	// The port of a stopped CA can take a moment to be free again.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", tc.addr); err == nil || time.Now().After(deadline) {
			break
		}
		<-time.After(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	tc.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tc.Serve(ctx, ln, log.New(io.Discard, "", 0)) }()
	var once sync.Once
	tc.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
}

func (tc *testCA) url() string { return "https://" + tc.addr }

func (tc *testCA) config(t testing.TB, id spiffeid.ID) Config {
	t.Helper()
	tok, err := tc.NewJoinToken(id, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		CA: tc.url(), TrustDomain: tc.td, Bundle: identity.BundlePEM(tc.Bundle()), JoinToken: tok,
		RetryMin: 50 * time.Millisecond, RetryMax: 300 * time.Millisecond, BundleRefresh: 200 * time.Millisecond,
		Logger: quiet,
	}
}

// source joins the CA as id.
func (tc *testCA) source(t testing.TB, id spiffeid.ID) *Source {
	t.Helper()
	src, err := New(context.Background(), tc.config(t, id))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// serveHTTPS serves, with conf, a handler that echoes the caller's SPIFFE ID.
func serveHTTPS(t testing.TB, conf *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, ok := PeerID(r)
			if !ok {
				http.Error(w, "no peer", http.StatusForbidden)
				return
			}
			io.WriteString(w, id.String())
		}),
		TLSConfig: conf,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String()
}

// get makes one request and checks the server saw want.
func get(c *http.Client, url string, want spiffeid.ID) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(body) != want.String() {
		return fmt.Errorf("status %d body %q", resp.StatusCode, body)
	}
	return nil
}

// handshakeClient makes a new TLS handshake for every request.
func handshakeClient(src *Source, authorize tlsconfig.Authorizer) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: src.ClientConfig(authorize), DisableKeepAlives: true}}
}

// load sends requests from several goroutines until stopped, over
// keep-alive connections and over fresh handshakes, and counts failures.
type load struct {
	ok, failed atomic.Int64
	firstErr   atomic.Pointer[error]
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(url string, want spiffeid.ID, clients ...*http.Client) *load {
	l := &load{stop: make(chan struct{})}
	for _, c := range clients {
		for range 2 {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				for {
					select {
					case <-l.stop:
						return
					default:
					}
					if err := get(c, url, want); err != nil {
						l.failed.Add(1)
						l.firstErr.CompareAndSwap(nil, &err)
					} else {
						l.ok.Add(1)
					}
				}
			}()
		}
	}
	return l
}

// finish stops the load and fails the test on any failed request.
func (l *load) finish(t testing.TB) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	if n := l.failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed; first: %v", n, n+l.ok.Load(), *l.firstErr.Load())
	}
	if l.ok.Load() == 0 {
		t.Fatal("no request made")
	}
	t.Logf("%d requests, none failed", l.ok.Load())
}

func leaf(src *Source) *x509.Certificate {
	svid, err := src.GetX509SVID()
	if err != nil {
		panic(err)
	}
	return svid.Certificates[0]
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-time.After(10 * time.Millisecond)
	}
}
