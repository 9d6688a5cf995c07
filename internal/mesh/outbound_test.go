package mesh

import (
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

// meshPair is orders calling accounts, each behind its sidecar:
// test → orders' outbound listener → mTLS → accounts' sidecar → accounts app.
type meshPair struct {
	ca               *testCA
	ordersSrc        Source
	accountsSrc      Source
	accountsApp      *app
	orders, accounts *Sidecar
	ordersEv         *recorder
	accountsEv       *recorder
	url              string // the orders app's URL for accounts
}

// newMeshPair starts both sidecars; hook, when not nil, sees the accounts
// sidecar before it serves.
func newMeshPair(t *testing.T, ca *testCA, hook func(*Sidecar)) *meshPair {
	t.Helper()
	p := &meshPair{ca: ca, accountsApp: newApp(t), ordersEv: newRecorder(), accountsEv: newRecorder(),
		ordersSrc: ca.source(t, ordersID), accountsSrc: ca.source(t, accountsID)}
	var err error
	p.accounts, err = New(Config{
		Service: accountsID.String(),
		Listen:  "127.0.0.1:0",
		App:     p.accountsApp.addr(),
		Inbound: []Rule{{Caller: ordersID.String(), Methods: []string{"GET", "POST"}, Paths: []string{"/accounts/*"}}},
	}, p.accountsSrc, Options{Log: quiet, Events: p.accountsEv})
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		hook(p.accounts)
	}
	run(t, p.accounts)
	p.orders = start(t, Config{
		Service: ordersID.String(),
		Listen:  "127.0.0.1:0",
		App:     "127.0.0.1:1", // orders' own app is not called here
		Outbound: []Dependency{{
			Name: "accounts", Listen: "127.0.0.1:0",
			Target: p.accounts.InboundAddr().String(), SPIFFEID: accountsID.String(),
		}},
	}, p.ordersSrc, p.ordersEv)
	p.url = "http://" + p.orders.OutboundAddr("accounts").String()
	return p
}

func TestOutboundThroughBothSidecars(t *testing.T) {
	p := newMeshPair(t, newTestCA(t, testTD, 0), nil)
	req, _ := http.NewRequest("GET", p.url+"/accounts/7", nil)
	req.Header.Set("X-Rampart-Caller", "spiffe://mesh.test/admin") // the app cannot claim another identity
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "hello "+ordersID.String() {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
	reqs := p.accountsApp.requests()
	if len(reqs) != 1 || reqs[0].Header.Get(CallerHeader) != ordersID.String() || reqs[0].ProtoMajor != 1 {
		t.Fatalf("accounts app got %+v", reqs)
	}
	// A path the policy refuses comes back as the callee's 403.
	resp, err = http.Get(p.url + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d", resp.StatusCode)
	}
	p.accountsEv.wait(t, Denied, ReasonPath)
}

// An outbound target that presents another SPIFFE ID, even one from the
// same CA, gets nothing: 502 and an event.
func TestOutboundWrongServerIdentity(t *testing.T) {
	ca := newTestCA(t, testTD, 0)
	impostorID := spiffeid.RequireFromPath(testTD, "/impostor")
	impostor := ca.source(t, impostorID)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }),
		TLSConfig: impostor.ServerConfig(tlsconfig.AuthorizeAny()), ErrorLog: log.New(io.Discard, "", 0)}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })

	ev := newRecorder()
	s := start(t, Config{
		Service: ordersID.String(), Listen: "127.0.0.1:0", App: "127.0.0.1:1",
		Outbound: []Dependency{{Name: "accounts", Listen: "127.0.0.1:0", Target: ln.Addr().String(), SPIFFEID: accountsID.String()}},
	}, ca.source(t, ordersID), ev)
	resp, err := http.Post("http://"+s.OutboundAddr("accounts").String()+"/accounts/7", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Error, RequestID string }
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || out.Error != "bad_gateway" {
		t.Fatalf("got %d %+v", resp.StatusCode, out)
	}
	e := ev.wait(t, PeerIdentity, "peer_identity")
	if e.Principal != accountsID.String() || e.Route != "outbound/accounts" {
		t.Errorf("event %+v", e)
	}
	if reached.Load() != 0 {
		t.Errorf("the impostor received %d requests", reached.Load())
	}
}

func TestOutboundTargetDown(t *testing.T) {
	ca := newTestCA(t, testTD, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	ev := newRecorder()
	s := start(t, Config{
		Service: ordersID.String(), Listen: "127.0.0.1:0", App: "127.0.0.1:1",
		Outbound: []Dependency{{Name: "accounts", Listen: "127.0.0.1:0", Target: down, SPIFFEID: accountsID.String()}},
	}, ca.source(t, ordersID), ev)
	resp, err := http.Get("http://" + s.OutboundAddr("accounts").String() + "/accounts/7")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ev.wait(t, OutboundFailure, "target_error")
}
