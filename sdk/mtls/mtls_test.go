package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/identity"
	"github.com/rampart-sec/rampart/internal/ratelimit"
)

func TestLegitCallPasses(t *testing.T) {
	ca := newTestCA(t, testTD)
	orders, web := ca.source(t, ordersID), ca.source(t, webID)
	if orders.ID() != ordersID || web.ID() != webID {
		t.Fatalf("IDs %s %s", orders.ID(), web.ID())
	}
	url := serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeOneOf(webID, spiffeid.RequireFromPath(testTD, "/admin"))))
	for _, c := range []*http.Client{web.HTTPClient(tlsconfig.AuthorizeID(ordersID)), handshakeClient(web, tlsconfig.AuthorizeMemberOf(testTD))} {
		if err := get(c, url, webID); err != nil {
			t.Fatal(err)
		}
	}
}

// refused asserts that the request fails in the TLS handshake.
func refused(t *testing.T, what string, c *http.Client, url string) {
	t.Helper()
	resp, err := c.Get(url)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("%s: request passed with status %d", what, resp.StatusCode)
	}
	// Refused by TLS, not by some unrelated failure.
	if msg := err.Error(); !strings.Contains(msg, "tls") && !strings.Contains(msg, "mtls") && !strings.Contains(msg, "certificate") {
		t.Fatalf("%s: failed, but not in the handshake: %v", what, err)
	}
}

func TestWrongSPIFFEIDRefused(t *testing.T) {
	ca := newTestCA(t, testTD)
	orders, web := ca.source(t, ordersID), ca.source(t, webID)
	billing := spiffeid.RequireFromPath(testTD, "/billing")
	// The server admits only billing.
	url := serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeID(billing)))
	refused(t, "client not authorized by server", handshakeClient(web, tlsconfig.AuthorizeID(ordersID)), url)
	// The client expects billing, orders answers.
	url = serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeID(webID)))
	refused(t, "server not authorized by client", handshakeClient(web, tlsconfig.AuthorizeID(billing)), url)
	if err := get(handshakeClient(web, tlsconfig.AuthorizeID(ordersID)), url, webID); err != nil {
		t.Fatalf("legit call: %v", err)
	}
}

func TestOtherTrustDomainRefused(t *testing.T) {
	ca := newTestCA(t, testTD)
	otherTD := spiffeid.RequireTrustDomainFromString("other.test")
	other := newTestCA(t, otherTD)
	orders := ca.source(t, ordersID)
	stranger := other.source(t, spiffeid.RequireFromPath(otherTD, "/web"))
	url := serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeAny()))
	refused(t, "client of another trust domain", handshakeClient(stranger, tlsconfig.AuthorizeAny()), url)
	strangerURL := serveHTTPS(t, stranger.ServerConfig(tlsconfig.AuthorizeAny()))
	refused(t, "server of another trust domain", handshakeClient(orders, tlsconfig.AuthorizeAny()), strangerURL)
	// Our own trust domain, but the server admits only the other one.
	web := ca.source(t, webID)
	url = serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeMemberOf(otherTD)))
	refused(t, "member of the wrong trust domain", handshakeClient(web, tlsconfig.AuthorizeAny()), url)
}

// A CA that claims our trust domain but is not in our bundle is an impostor.
func TestCertFromAnotherCARefused(t *testing.T) {
	ca := newTestCA(t, testTD)
	impostor := newTestCA(t, testTD)
	orders := ca.source(t, ordersID)
	fake := impostor.source(t, webID)
	url := serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeAny()))
	refused(t, "client from another CA", handshakeClient(fake, tlsconfig.AuthorizeAny()), url)
	fakeURL := serveHTTPS(t, fake.ServerConfig(tlsconfig.AuthorizeAny()))
	refused(t, "server from another CA", handshakeClient(orders, tlsconfig.AuthorizeID(webID)), fakeURL)
}

// shiftedSVID issues, from the same CA, an SVID valid only at now+shift.
func shiftedSVID(t *testing.T, ca *testCA, id spiffeid.ID, shift time.Duration) *tls.Certificate {
	t.Helper()
	shifted, err := identity.Open(ca.dir, ca.kek, identity.WithClock(func() time.Time { return time.Now().Add(shift) }))
	if err != nil {
		t.Fatal(err)
	}
	svid, err := shifted.NewSVID(context.Background(), id, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c := &tls.Certificate{PrivateKey: svid.PrivateKey}
	for _, x := range svid.Certificates {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

func TestExpiredAndNotYetValidRefused(t *testing.T) {
	ca := newTestCA(t, testTD)
	orders, web := ca.source(t, ordersID), ca.source(t, webID)
	url := serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeAny()))
	for name, shift := range map[string]time.Duration{"expired": -time.Hour, "not yet valid": time.Hour} {
		cert := shiftedSVID(t, ca, webID, shift)
		// As a client certificate.
		conf := web.ClientConfig(tlsconfig.AuthorizeAny())
		conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		refused(t, name+" client", &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}, url)
		// As a server certificate.
		srvConf := orders.ServerConfig(tlsconfig.AuthorizeAny())
		srvConf.GetConfigForClient = nil
		srvConf.Certificates = []tls.Certificate{*cert}
		srvConf.GetCertificate = nil
		srvConf.ClientAuth = tls.RequireAnyClientCert
		srvConf.VerifyConnection = nil
		refused(t, name+" server", handshakeClient(web, tlsconfig.AuthorizeAny()), serveHTTPS(t, srvConf))
	}
	if err := get(handshakeClient(web, tlsconfig.AuthorizeAny()), url, webID); err != nil {
		t.Fatalf("legit call: %v", err)
	}
}

func TestNoPlaintextNoTLS12(t *testing.T) {
	ca := newTestCA(t, testTD)
	orders, web := ca.source(t, ordersID), ca.source(t, webID)
	url := serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeAny()))
	resp, err := http.Get(strings.Replace(url, "https://", "http://", 1))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plaintext request served")
		}
	}
	conf := web.ClientConfig(tlsconfig.AuthorizeAny())
	conf.MinVersion, conf.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	refused(t, "TLS 1.2", &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}, url)
	// A client with no certificate at all.
	conf = web.ClientConfig(tlsconfig.AuthorizeAny())
	conf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &tls.Certificate{}, nil }
	refused(t, "no client certificate", &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}, url)
	if _, ok := PeerID(&http.Request{}); ok {
		t.Fatal("PeerID without TLS")
	}
}

func TestJoinTokenReuseAndExpiryRefused(t *testing.T) {
	ca := newTestCA(t, testTD)
	cfg := ca.config(t, ordersID)
	first, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	var caErr *CAError
	if _, err := New(context.Background(), cfg); !errors.As(err, &caErr) || caErr.Status != http.StatusUnauthorized || caErr.RequestID == "" {
		t.Fatalf("reused token: %v", err)
	}
	cfg.JoinToken = "rjt_" + strings.Repeat("x", 43)
	if _, err := New(context.Background(), cfg); !errors.As(err, &caErr) {
		t.Fatalf("unknown token: %v", err)
	}
	// Expired: a token from a CA clock an hour behind.
	shifted, err := identity.Open(ca.dir, ca.kek, identity.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JoinToken, err = shifted.NewJoinToken(ordersID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), cfg); !errors.As(err, &caErr) {
		t.Fatalf("expired token: %v", err)
	}
	cfg.JoinToken = ""
	if _, err := New(context.Background(), cfg); err == nil {
		t.Fatal("no token, no SVID accepted")
	}
}

// With CertFile/KeyFile, a restarted workload uses its kept SVID: its
// one-time token is spent by then.
func TestKeptSVIDSurvivesRestart(t *testing.T) {
	ca := newTestCA(t, testTD)
	dir := t.TempDir()
	cfg := ca.config(t, ordersID)
	cfg.CertFile, cfg.KeyFile = dir+"/svid.pem", dir+"/svid.key"
	first, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	serial := leaf(first).SerialNumber
	first.Close()
	if fi, err := os.Stat(cfg.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("kept key: %v", err)
	}
	again, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.ID() != ordersID || leaf(again).SerialNumber.Cmp(serial) != 0 {
		t.Fatal("kept SVID not used")
	}
	if _, err := x509svid.Load(cfg.CertFile, cfg.KeyFile); err != nil {
		t.Fatal(err)
	}
}

// Short-lived SVIDs rotate several times under continuous load, over
// keep-alive connections and fresh handshakes, and no request fails.
func TestLeafRotationUnderLoad(t *testing.T) {
	ca := newTestCA(t, testTD, identity.WithLeafTTL(2*time.Second))
	orders, web := ca.source(t, ordersID), ca.source(t, webID)
	url := serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeID(webID)))
	l := startLoad(url, webID, web.HTTPClient(tlsconfig.AuthorizeID(ordersID)), handshakeClient(web, tlsconfig.AuthorizeID(ordersID)))
	s0, c0 := leaf(orders).SerialNumber, leaf(web).SerialNumber
	rotations := 0
	waitFor(t, 20*time.Second, "three rotations of both SVIDs", func() bool {
		s, c := leaf(orders).SerialNumber, leaf(web).SerialNumber
		if s.Cmp(s0) != 0 && c.Cmp(c0) != 0 {
			rotations++
			s0, c0 = s, c
		}
		return rotations == 3
	})
	l.finish(t)
}

// An intermediate rotation under load: SVIDs of the old and the new
// intermediate meet during the overlap, and no request fails.
func TestIntermediateRotationUnderLoad(t *testing.T) {
	ca := newTestCA(t, testTD, identity.WithLeafTTL(4*time.Second))
	orders, web := ca.source(t, ordersID), ca.source(t, webID)
	url := serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeID(webID)))
	l := startLoad(url, webID, web.HTTPClient(tlsconfig.AuthorizeID(ordersID)), handshakeClient(web, tlsconfig.AuthorizeID(ordersID)))
	inter := func(s *Source) *x509.Certificate {
		svid, _ := s.GetX509SVID()
		return svid.Certificates[1]
	}
	oldInter := inter(orders)
	if err := ca.RotateIntermediate(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A workload that joins now gets the new intermediate while the server
	// still has the old one: both chains must be accepted.
	late := ca.source(t, webID)
	if inter(late).Equal(oldInter) || !inter(orders).Equal(oldInter) {
		t.Fatal("expected the late joiner on the new intermediate and the server on the old")
	}
	l2 := startLoad(url, webID, handshakeClient(late, tlsconfig.AuthorizeID(ordersID)))
	waitFor(t, 20*time.Second, "every SVID from the new intermediate", func() bool {
		return !inter(orders).Equal(oldInter) && !inter(web).Equal(oldInter)
	})
	n := l.ok.Load()
	waitFor(t, 5*time.Second, "requests with the new chains", func() bool { return l.ok.Load() > n+20 })
	l.finish(t)
	l2.finish(t)
}

// A root rotation under load: the new root reaches every bundle before it
// signs, the old one stays trusted, and no request fails.
func TestRootRotationUnderLoad(t *testing.T) {
	ca := newTestCA(t, testTD, identity.WithLeafTTL(2*time.Second), identity.WithMaxLeafTTL(2*time.Second))
	orders, web := ca.source(t, ordersID), ca.source(t, webID)
	url := serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeID(webID)))
	l := startLoad(url, webID, web.HTTPClient(tlsconfig.AuthorizeID(ordersID)), handshakeClient(web, tlsconfig.AuthorizeID(ordersID)))
	oldRoot := ca.Bundle().X509Authorities()[0]
	if err := ca.RotateRoot(context.Background(), time.Second); err != nil {
		t.Fatal(err)
	}
	chainsToNew := func(s *Source) bool {
		svid, _ := s.GetX509SVID()
		return svid.Certificates[len(svid.Certificates)-1].CheckSignatureFrom(oldRoot) != nil
	}
	waitFor(t, 20*time.Second, "both SVIDs under the new root", func() bool { return chainsToNew(orders) && chainsToNew(web) })
	waitFor(t, 20*time.Second, "the old root to leave both bundles", func() bool {
		b1, _ := orders.GetX509BundleForTrustDomain(testTD)
		b2, _ := web.GetX509BundleForTrustDomain(testTD)
		return !b1.HasX509Authority(oldRoot) && !b2.HasX509Authority(oldRoot)
	})
	n := l.ok.Load()
	waitFor(t, 5*time.Second, "requests after the old root left", func() bool { return l.ok.Load() > n+20 })
	l.finish(t)
}

// While the CA is down, workloads keep serving with their current SVIDs;
// when it is back, they renew before those expire.
func TestCARestart(t *testing.T) {
	ca := newTestCA(t, testTD, identity.WithLeafTTL(4*time.Second))
	orders, web := ca.source(t, ordersID), ca.source(t, webID)
	url := serveHTTPS(t, orders.ServerConfig(tlsconfig.AuthorizeID(webID)))
	l := startLoad(url, webID, web.HTTPClient(tlsconfig.AuthorizeID(ordersID)), handshakeClient(web, tlsconfig.AuthorizeID(ordersID)))
	ca.stop()
	down := leaf(orders)
	// Past the half-life, renewal has been tried (and failed) a few times.
	renewAt := orders.cur.Load().renewAt
	waitFor(t, 10*time.Second, "the renewal time to pass with the CA down", func() bool {
		return time.Now().After(renewAt.Add(300 * time.Millisecond))
	})
	if leaf(orders).SerialNumber.Cmp(down.SerialNumber) != 0 {
		t.Fatal("renewed with the CA down")
	}
	ca.start(t)
	waitFor(t, time.Until(down.NotAfter), "renewal after the CA restart", func() bool {
		return leaf(orders).SerialNumber.Cmp(down.SerialNumber) != 0
	})
	l.finish(t)
}

// A workload restarted after a root rotation starts from the SVID and the
// bundle it kept, though its bootstrap bundle has only the old root and its
// token is spent.
func TestKeptBundleSurvivesRootRotation(t *testing.T) {
	ca := newTestCA(t, testTD, identity.WithLeafTTL(2*time.Second), identity.WithMaxLeafTTL(2*time.Second))
	dir := t.TempDir()
	cfg := ca.config(t, ordersID)
	cfg.CertFile, cfg.KeyFile, cfg.BundleFile = dir+"/svid.pem", dir+"/svid.key", dir+"/bundle.pem"
	first, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	oldRoot := ca.Bundle().X509Authorities()[0]
	if err := ca.RotateRoot(context.Background(), 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "an SVID under the new root", func() bool {
		svid, _ := first.GetX509SVID()
		return svid.Certificates[1].CheckSignatureFrom(oldRoot) != nil
	})
	first.Close()
	again, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	b, _ := again.GetX509BundleForTrustDomain(testTD)
	if again.ID() != ordersID || len(b.X509Authorities()) < 2 {
		t.Fatalf("restart: %s, %d roots", again.ID(), len(b.X509Authorities()))
	}
	web := ca.source(t, webID)
	url := serveHTTPS(t, again.ServerConfig(tlsconfig.AuthorizeID(webID)))
	if err := get(handshakeClient(web, tlsconfig.AuthorizeID(ordersID)), url, webID); err != nil {
		t.Fatal(err)
	}
}

// A join the CA rate-limits (429) is retried after its Retry-After: the
// second workload starting at once from the same address still joins.
func TestJoinRetriesWhenTheCALimits(t *testing.T) {
	ca := newTestCA(t, testTD, identity.WithJoinLimit(ratelimit.Limit{Rate: 1, Period: time.Second, Burst: 1}))
	first, err := New(context.Background(), ca.config(t, ordersID))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	second, err := New(ctx, ca.config(t, webID))
	if err != nil {
		t.Fatalf("second join: %v", err)
	}
	defer second.Close()
	if second.ID() != webID {
		t.Fatalf("joined as %v", second.ID())
	}
}
