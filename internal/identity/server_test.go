package identity

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/identity/wire"
	"github.com/rampart-sec/rampart/internal/ratelimit"
)

var ordersID = spiffeid.RequireFromPath(testTD, "/orders")

func TestJoinIssuesOnceForTheBoundID(t *testing.T) {
	tc := newTestCA(t)
	url := tc.serve(t) + wire.JoinPath
	c := tc.client(t, nil)
	tok, err := tc.NewJoinToken(ordersID, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	status, resp := post(t, c, url, wire.JoinRequest{Token: tok, CSR: csrPEM(t, key)})
	if status != http.StatusOK || resp.SPIFFEID != ordersID.String() {
		t.Fatalf("join: %d %+v", status, resp)
	}
	svid, err := x509svid.Parse([]byte(resp.Chain), pemKey(t, key))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := x509bundle.Parse(testTD, []byte(resp.Bundle))
	if err != nil {
		t.Fatal(err)
	}
	if id, _, err := x509svid.Verify(svid.Certificates, bundle); err != nil || id != ordersID {
		t.Fatalf("issued SVID: %v %v", id, err)
	}
	if _, ok := tc.ev.has(SVIDIssued, "join"); !ok {
		t.Fatal("no issuance event")
	}

	// Replayed: refused, and reported as a likely stolen token.
	status, _ = post(t, c, url, wire.JoinRequest{Token: tok, CSR: csrPEM(t, newKey(t))})
	if status != http.StatusUnauthorized {
		t.Fatalf("reused token: %d", status)
	}
	if e, ok := tc.ev.has(IssueRefused, ReasonTokenReused); !ok || e.Severity != event.High || e.Principal != ordersID.String() || e.ClientIP != "127.0.0.1" || e.RequestID == "" {
		t.Fatalf("reuse event: %+v %v", e, ok)
	}
}

func TestJoinRefusals(t *testing.T) {
	tc := newTestCA(t)
	url := tc.serve(t) + wire.JoinPath
	c := tc.client(t, nil)
	csr := csrPEM(t, newKey(t))

	expired, _ := tc.NewJoinToken(ordersID, time.Minute)
	tc.clock.advance(2 * time.Minute)
	for range 2 {
		if status, _ := post(t, c, url, wire.JoinRequest{Token: expired, CSR: csr}); status != http.StatusUnauthorized {
			t.Fatalf("expired token: %d", status)
		}
	}
	if e, ok := tc.ev.has(IssueRefused, ReasonTokenExpired); !ok || e.Principal != ordersID.String() {
		t.Fatal("no expiry event")
	}
	if _, ok := tc.ev.has(IssueRefused, ReasonTokenReused); ok {
		t.Fatal("retried expired token reported as a replay")
	}
	unknown := "rjt_" + strings.Repeat("A", 43)
	if status, _ := post(t, c, url, wire.JoinRequest{Token: unknown, CSR: csr}); status != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d", status)
	}
	if _, ok := tc.ev.has(IssueRefused, ReasonTokenUnknown); !ok {
		t.Fatal("no unknown-token event")
	}

	// A bad CSR is refused before the token is spent: the token still works.
	tok, _ := tc.NewJoinToken(ordersID, time.Minute)
	blk, _ := pem.Decode([]byte(csr))
	blk.Bytes[len(blk.Bytes)-1] ^= 1 // breaks the self-signature
	forged := string(pem.EncodeToMemory(blk))
	for _, bad := range []string{"", "garbage", forged, csr + csr} {
		if status, _ := post(t, c, url, wire.JoinRequest{Token: tok, CSR: bad}); status != http.StatusBadRequest {
			t.Fatalf("bad CSR %q: %d", bad, status)
		}
	}
	if status, _ := post(t, c, url, map[string]string{"token": tok, "csr": csr, "spiffe_id": "spiffe://example.test/admin"}); status != http.StatusBadRequest {
		t.Fatalf("unknown field: %d", status)
	}
	if status, _ := post(t, c, url, wire.JoinRequest{Token: tok, CSR: csr}); status != http.StatusOK {
		t.Fatalf("token burned by bad requests: %d", status)
	}
	resp, err := c.Post(url, "application/json", strings.NewReader(strings.Repeat(" ", wire.MaxBody+1)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("oversized body: %d", resp.StatusCode)
	}
	if _, err := tc.NewJoinToken(spiffeid.RequireFromPath(testTD, "/rampart/ca"), time.Minute); err == nil {
		t.Fatal("token for the CA's own ID")
	}
	if _, err := tc.NewJoinToken(ordersID, 25*time.Hour); err == nil {
		t.Fatal("token TTL over the maximum")
	}
}

// However many requests race with one token, one SVID is issued.
func TestJoinTokenSpentOnceUnderRace(t *testing.T) {
	tc := newTestCA(t)
	url := tc.serve(t) + wire.JoinPath
	c := tc.client(t, nil)
	tok, _ := tc.NewJoinToken(ordersID, time.Minute)
	csr := csrPEM(t, newKey(t))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, _ := post(t, c, url, wire.JoinRequest{Token: tok, CSR: csr}); status == http.StatusOK {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d joins succeeded with one token", ok)
	}
}

func TestRenewKeepsTheIDOfTheClientSVID(t *testing.T) {
	tc := newTestCA(t)
	url := tc.serve(t) + wire.RenewPath
	svid, _ := tc.NewSVID(context.Background(), ordersID, 0)
	key := newKey(t)
	status, resp := post(t, tc.client(t, tlsCert(svid)), url, wire.RenewRequest{CSR: csrPEM(t, key)})
	if status != http.StatusOK || resp.SPIFFEID != ordersID.String() {
		t.Fatalf("renew: %d %+v", status, resp)
	}
	renewed, err := x509svid.Parse([]byte(resp.Chain), pemKey(t, key))
	if err != nil || renewed.ID != ordersID {
		t.Fatalf("renewed: %v", err)
	}
	if _, ok := tc.ev.has(SVIDIssued, "renew"); !ok {
		t.Fatal("no renewal event")
	}

	// No client certificate: refused.
	if status, _ := post(t, tc.client(t, nil), url, wire.RenewRequest{CSR: csrPEM(t, key)}); status != http.StatusUnauthorized {
		t.Fatalf("renew without SVID: %d", status)
	}
	if _, ok := tc.ev.has(IssueRefused, ReasonNoClientCert); !ok {
		t.Fatal("no refusal event")
	}

	// An SVID from another CA, or an expired one, is not renewed: the
	// handshake fails, or, when crypto/tls on the client finds the
	// certificate's issuer absent from the CA's acceptable-issuer list and
	// sends none, the CA answers 401 (no client SVID).
	other := newTestCA(t)
	foreign, _ := other.NewSVID(context.Background(), ordersID, 0)
	tc.clock.advance(-2 * time.Hour)
	expired, _ := tc.NewSVID(context.Background(), ordersID, time.Minute)
	tc.clock.advance(2 * time.Hour)
	for name, s := range map[string]*x509svid.SVID{"foreign": foreign, "expired": expired} {
		b, _ := json.Marshal(wire.RenewRequest{CSR: csrPEM(t, key)})
		resp, err := tc.client(t, tlsCert(s)).Post(url, "application/json", strings.NewReader(string(b)))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s SVID: %d, want a failed handshake or 401", name, resp.StatusCode)
			}
		}
	}
}

func TestBundleEndpoint(t *testing.T) {
	tc := newTestCA(t)
	base := tc.serve(t)
	c := tc.client(t, nil)
	resp, err := c.Get(base + wire.BundlePath)
	if err != nil {
		t.Fatal(err)
	}
	var br wire.BundleResponse
	json.NewDecoder(resp.Body).Decode(&br)
	resp.Body.Close()
	b, err := x509bundle.Parse(testTD, []byte(br.Roots))
	if err != nil || !b.Equal(tc.Bundle()) || br.TrustDomain != testTD.Name() || br.RefreshHint <= 0 {
		t.Fatalf("JSON bundle: %+v %v", br, err)
	}
	resp, err = c.Get(base + wire.BundlePath + "?format=pem")
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if b, err := x509bundle.Parse(testTD, pemBytes); err != nil || !b.Equal(tc.Bundle()) || resp.Header.Get("Content-Type") != "application/x-pem-file" {
		t.Fatalf("PEM bundle: %v", err)
	}
	resp, err = c.Post(base+wire.BundlePath, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST bundle: %d", resp.StatusCode)
	}
}

// The server certificate follows an intermediate rotation, and TLS below 1.3 is refused.
func TestServerCertificateFollowsRotation(t *testing.T) {
	tc := newTestCA(t)
	base := tc.serve(t)
	get := func() *tls.ConnectionState {
		resp, err := tc.client(t, nil).Get(base + wire.BundlePath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS
	}
	before := get().PeerCertificates[1]
	if err := tc.RotateIntermediate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := get().PeerCertificates[1]; after.Equal(before) {
		t.Fatal("server still chains to the old intermediate")
	}
	old := tc.client(t, nil)
	old.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS12
	old.Transport.(*http.Transport).TLSClientConfig.MaxVersion = tls.VersionTLS12
	if resp, err := old.Get(base + wire.BundlePath); err == nil {
		resp.Body.Close()
		t.Fatal("TLS 1.2 accepted")
	}
}

// Join calls are limited per client address before the body is read: a
// flood of guesses gets 429 and an event, and a token sent over the limit
// is not spent.
func TestJoinRateLimitedPerAddress(t *testing.T) {
	tc := newTestCA(t, WithJoinLimit(ratelimit.Limit{Rate: 3, Period: time.Hour, Burst: 3}))
	url := tc.serve(t) + wire.JoinPath
	c := tc.client(t, nil)
	csr := csrPEM(t, newKey(t))
	guess := "rjt_" + strings.Repeat("A", 43)
	for i := range 3 {
		if status, _ := post(t, c, url, wire.JoinRequest{Token: guess, CSR: csr}); status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, status)
		}
	}
	tok, _ := tc.NewJoinToken(ordersID, time.Minute)
	body, _ := json.Marshal(wire.JoinRequest{Token: tok, CSR: csr})
	resp, err := c.Post(url, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	var refused wire.Error
	json.NewDecoder(resp.Body).Decode(&refused)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || refused.Error != "rate_limited" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %+v Retry-After %q", resp.StatusCode, refused, resp.Header.Get("Retry-After"))
	}
	if e, ok := tc.ev.has(IssueRefused, ReasonRateLimited); !ok || e.ClientIP != "127.0.0.1" || e.RequestID != refused.RequestID {
		t.Fatalf("event %+v %v", e, ok)
	}
	if _, err := tc.tokens.spend(tok, tc.clock.now()); err != nil {
		t.Fatalf("the refused call spent the token: %v", err)
	}
	if _, err := Init(t.TempDir(), make([]byte, KEKSize), testTD, WithJoinLimit(ratelimit.Limit{})); err == nil {
		t.Fatal("a join limit of 0 was accepted")
	}
}
