package gateway

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/identity"
	"github.com/rampart-sec/rampart/sdk/mtls"
)

// The gateway joins Rampart's CA and calls mTLS upstreams with its own
// SPIFFE certificate: an upstream proving the configured SPIFFE ID is
// served; one proving another identity (an impostor with a valid
// certificate from the same CA) is refused with 502, never called in
// plaintext; and the upstream sees the gateway's identity.
func TestUpstreamMTLS(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString("rampart.test")
	kek := make([]byte, identity.KEKSize)
	rand.Read(kek)
	dir := t.TempDir()
	ca, err := identity.Init(filepath.Join(dir, "ca"), kek, td)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ca.Serve(ctx, ln, log.New(io.Discard, "", 0))
	caURL := "https://" + ln.Addr().String()
	bundleFile := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundleFile, identity.BundlePEM(ca.Bundle()), 0o600); err != nil {
		t.Fatal(err)
	}
	join := func(name string) *mtls.Source {
		tok, err := ca.NewJoinToken(spiffeid.RequireFromPath(td, "/"+name), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		src, err := mtls.New(ctx, mtls.Config{CA: caURL, TrustDomain: td, Bundle: identity.BundlePEM(ca.Bundle()), JoinToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		return src
	}
	// Each upstream accepts only the gateway and answers with who called.
	gatewayID := spiffeid.RequireFromPath(td, "/gateway")
	serve := func(src *mtls.Source) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{TLSConfig: src.ServerConfig(tlsconfig.AuthorizeID(gatewayID)), ReadHeaderTimeout: 5 * time.Second,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				id, _ := mtls.PeerID(r)
				fmt.Fprintf(w, "%s served %s", src.ID(), id)
			})}
		go srv.ServeTLS(l, "", "")
		t.Cleanup(func() { srv.Close() })
		return l.Addr().String()
	}
	accounts := serve(join("accounts"))
	impostor := serve(join("billing"))

	tok, err := ca.NewJoinToken(gatewayID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEWAY_JOIN_TOKEN", tok)
	g := startGateway(t, fmt.Sprintf(`
gateway:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  tls: {disabled: true}
identity:
  trust_domain: rampart.test
  ca: %s
  bundle_file: %s
  join_token: ${GATEWAY_JOIN_TOKEN}
upstreams:
  accounts:
    targets: ["https://%s"]
    mtls: {spiffe_id: "spiffe://rampart.test/accounts"}
  spoofed:
    targets: ["https://%s"]
    mtls: {spiffe_id: "spiffe://rampart.test/accounts"}
routes:
  - {name: accounts, match: {path: /accounts}, upstream: accounts, auth: none}
  - {name: spoofed, match: {path: /spoofed}, upstream: spoofed, auth: none}
`, caURL, bundleFile, accounts, impostor))

	status, _, body := raw(t, g.addrs.Gateway, get("/accounts"))
	if status != 200 || body != "spiffe://rampart.test/accounts served spiffe://rampart.test/gateway" {
		t.Fatalf("mTLS upstream: %d %q", status, body)
	}
	status, _, body = raw(t, g.addrs.Gateway, get("/spoofed"))
	if status != http.StatusBadGateway || strings.Contains(body, "served") {
		t.Fatalf("an upstream with the wrong SPIFFE ID: %d %q, want 502", status, body)
	}
	g.events.waitFor(t, event.UpstreamFailure, "upstream_error")
	// The certificate was kept for restarts, in the data directory.
	if _, err := os.Stat(filepath.Join(filepath.Dir(g.cfgPath), "identity", "svid.pem")); err != nil {
		t.Errorf("SVID not kept: %v", err)
	}
}
