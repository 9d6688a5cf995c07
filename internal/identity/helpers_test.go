package identity

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/identity/wire"
)

var testTD = spiffeid.RequireTrustDomainFromString("example.test")

// clock is a real clock that tests can move.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

// recorder keeps the events emitted.
type recorder struct {
	mu  sync.Mutex
	evs []event.Event
}

func (r *recorder) Emit(e event.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

// has reports whether an event of type t with reason was emitted.
func (r *recorder) has(t event.Type, reason string) (event.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.evs {
		if e.Type == t && e.Reason == reason {
			return e, true
		}
	}
	return event.Event{}, false
}

type testCA struct {
	*CA
	dir   string
	kek   []byte
	clock *clock
	ev    *recorder
}

func newTestCA(t testing.TB, opts ...Option) *testCA {
	t.Helper()
	kek := make([]byte, KEKSize)
	rand.Read(kek)
	tc := &testCA{dir: t.TempDir(), kek: kek, clock: &clock{}, ev: &recorder{}}
	opts = append([]Option{WithClock(tc.clock.now), WithEvents(tc.ev)}, opts...)
	ca, err := Init(tc.dir, kek, testTD, opts...)
	if err != nil {
		t.Fatal(err)
	}
	tc.CA = ca
	return tc
}

// serve runs the CA API on 127.0.0.1:0 and returns its base URL.
func (tc *testCA) serve(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Issued now, before a test moves the clock.
	if _, err := tc.servingCertificate(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- tc.Serve(ctx, ln, log.New(io.Discard, "", 0)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "https://" + ln.Addr().String()
}

// client is an HTTPS client of the CA that authenticates it by its SPIFFE
// ID against the CA's bundle and presents cert when not nil.
func (tc *testCA) client(t testing.TB, cert *tls.Certificate) *http.Client {
	t.Helper()
	caID, err := wire.CAID(testTD)
	if err != nil {
		t.Fatal(err)
	}
	bundle := tc.Bundle()
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // verified by SPIFFE ID below
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, _, err := x509svid.Verify(cs.PeerCertificates, bundle)
			if err != nil {
				return err
			}
			if id != caID {
				return errors.New("not the CA: " + id.String())
			}
			return nil
		},
	}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true}}
}

func csrPEM(t testing.TB, key crypto.Signer) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// post sends body as JSON and decodes an SVIDResponse when the status is 200.
func post(t testing.TB, c *http.Client, url string, body any) (int, wire.SVIDResponse) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out wire.SVIDResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, out
}

func tlsCert(svid *x509svid.SVID) *tls.Certificate {
	c := &tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
	for _, x := range svid.Certificates {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}
