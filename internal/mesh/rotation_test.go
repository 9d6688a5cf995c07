package mesh

import (
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/event"
)

// waitRotated polls src until its SVID is no longer old (deadline 15s).
func waitRotated(t *testing.T, src Source, old *x509svid.SVID) *x509svid.SVID {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for {
		if svid, err := src.GetX509SVID(); err == nil && svid != old {
			return svid
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the SVID was not rotated within 15s")
		}
	}
}

// After the sidecar's SVID rotates, a connection made before is served
// once more and then closed (Connection: close), so the caller handshakes
// again and sees the new certificate; no request fails.
func TestRotationRetiresConnections(t *testing.T) {
	ca := newTestCA(t, testTD, 2*time.Second)
	src := ca.source(t, accountsID)
	a := newApp(t)
	s := start(t, Config{
		Service: accountsID.String(), Listen: "127.0.0.1:0", App: a.addr(),
		Inbound: []Rule{{Caller: ordersID.String(), Methods: []string{"GET"}, Paths: []string{"/*"}}},
	}, src, nil)
	cert := ca.cert(t, ordersID, time.Hour)

	// A client that prefers HTTP/2 (the gateway's pool, sdk/mtls) gets
	// HTTP/1.1: see the package doc.
	for _, alpn := range [][]string{{"http/1.1"}, {"h2", "http/1.1"}} {
		t.Run(alpn[0], func(t *testing.T) {
			conf := clientTLS(cert)
			conf.NextProtos = alpn
			tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			get := func() (*http.Response, bool) {
				t.Helper()
				var reused bool
				req, _ := http.NewRequest("GET", "https://"+s.InboundAddr().String()+"/x", nil)
				resp, err := c.Do(req.WithContext(withGotConn(req.Context(), &reused)))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
					t.Fatalf("status %d proto %s", resp.StatusCode, resp.Proto)
				}
				return resp, reused
			}
			svid, _ := src.GetX509SVID()
			first, _ := get()
			if first.Close {
				// The rotation landed between GetX509SVID and the request.
				svid, _ = src.GetX509SVID()
				first, _ = get()
			}
			if !first.TLS.PeerCertificates[0].Equal(svid.Certificates[0]) {
				t.Skip("rotated during setup; nothing to compare")
			}
			rotated := waitRotated(t, src, svid)

			resp, reused := get()
			if !reused || !resp.TLS.PeerCertificates[0].Equal(svid.Certificates[0]) {
				t.Fatalf("the request after the rotation did not use the old connection (reused %v)", reused)
			}
			if !resp.Close {
				t.Fatal("the old connection was not retired with Connection: close")
			}
			// The next requests use a new handshake and see a newer SVID.
			var leaf *x509.Certificate
			for range 3 {
				resp, _ = get()
				if leaf = resp.TLS.PeerCertificates[0]; !leaf.Equal(svid.Certificates[0]) {
					break
				}
			}
			if leaf.Equal(svid.Certificates[0]) || leaf.NotBefore.Before(rotated.Certificates[0].NotBefore) {
				t.Fatalf("still served with the old certificate (serial %v)", leaf.SerialNumber)
			}
		})
	}
}

// Both sidecars rotate their SVIDs (3s lifetime, renewed every 1.5s) while
// requests flow through orders' outbound and accounts' inbound: not one
// request fails, and accounts sees the callers handshake again.
func TestRotationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("rotates certificates for several seconds; skipped with -short")
	}
	var conns atomic.Int64
	p := newMeshPair(t, newTestCA(t, testTD, 3*time.Second), func(s *Sidecar) {
		s.inSrv.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()

	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				method, url, body := "GET", fmt.Sprintf("%s/accounts/%d-%d", p.url, w, i), io.Reader(nil)
				if i%4 == 0 {
					// A POST with a body cannot be retried once sent: it
					// must never be sent on a connection being retired.
					method, body = "POST", strings.NewReader("order")
				}
				req, _ := http.NewRequest(method, url, body)
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s %s: status %d", method, url, resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	for _, src := range []Source{p.accountsSrc, p.ordersSrc, p.accountsSrc, p.ordersSrc} {
		svid, _ := src.GetX509SVID()
		waitRotated(t, src, svid)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests, %d failed, %d inbound connections", ok.Load(), failed.Load(), conns.Load())
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed during rotation; first: %v", n, firstErr.Load())
	}
	if ok.Load() < 100 {
		t.Fatalf("only %d requests in the test", ok.Load())
	}
	if conns.Load() < 3 {
		t.Fatalf("accounts saw %d connections: callers did not handshake again after rotations", conns.Load())
	}
}

// swapBundle is a Source whose trust bundle a test replaces, as a bundle
// refresh that drops a root would.
type swapBundle struct {
	Source
	bundle atomic.Pointer[x509bundle.Bundle]
}

func (s *swapBundle) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if b := s.bundle.Load(); b != nil {
		return b, nil
	}
	return s.Source.GetX509BundleForTrustDomain(td)
}

// A caller whose root leaves the trust bundle is refused on the connection
// it already has, not only on its next handshake.
func TestInboundPeerRootRemovedFromBundle(t *testing.T) {
	ca := newTestCA(t, testTD, 0)
	src := &swapBundle{Source: ca.source(t, accountsID)}
	ev := newRecorder()
	s := start(t, Config{
		Service: accountsID.String(), Listen: "127.0.0.1:0", App: newApp(t).addr(),
		Inbound: []Rule{{Caller: ordersID.String(), Methods: []string{"GET"}, Paths: []string{"/*"}}},
	}, src, ev)
	tr := &http.Transport{TLSClientConfig: clientTLS(ca.cert(t, ordersID, time.Hour)), MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func() (*http.Response, bool) {
		var reused bool
		req, _ := http.NewRequest("GET", "https://"+s.InboundAddr().String()+"/x", nil)
		resp, err := c.Do(req.WithContext(withGotConn(req.Context(), &reused)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, reused
	}
	if resp, _ := get(); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The CA's roots are replaced by another CA's (same trust domain).
	src.bundle.Store(newTestCA(t, testTD, 0).Bundle())
	resp, reused := get()
	if !reused {
		t.Fatal("the second request did not reuse the connection")
	}
	if resp.StatusCode != http.StatusForbidden || !resp.Close {
		t.Fatalf("status %d close %v", resp.StatusCode, resp.Close)
	}
	if e := ev.wait(t, Denied, ReasonPeerRootPulled); e.Principal != ordersID.String() || e.Severity != event.High {
		t.Errorf("event %+v", e)
	}
}

// Options.MaxConnAge retires connections without any rotation.
func TestMaxConnAge(t *testing.T) {
	ca := newTestCA(t, testTD, 0)
	s, err := New(Config{
		Service: accountsID.String(), Listen: "127.0.0.1:0", App: newApp(t).addr(),
		Inbound: []Rule{{Caller: ordersID.String(), Methods: []string{"GET"}, Paths: []string{"/*"}}},
	}, ca.source(t, accountsID), Options{Log: quiet, MaxConnAge: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	run(t, s)
	tr := &http.Transport{TLSClientConfig: clientTLS(ca.cert(t, ordersID, time.Hour))}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + s.InboundAddr().String() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !resp.Close {
		t.Fatalf("status %d, close %v", resp.StatusCode, resp.Close)
	}
}
