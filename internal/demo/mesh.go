package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/rampart-sec/rampart/examples/demo/services"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/identity"
	"github.com/rampart-sec/rampart/internal/mesh"
	"github.com/rampart-sec/rampart/sdk/mtls"
)

// The demo's workload identities: the services talk to each other and to
// the gateway only over mTLS with certificates from the demo's CA.
const demoTrustDomain = "mesh.demo.rampart.local"

var (
	demoTD     = spiffeid.RequireTrustDomainFromString(demoTrustDomain)
	gatewayID  = spiffeid.RequireFromPath(demoTD, "/gateway")
	accountsID = spiffeid.RequireFromPath(demoTD, "/accounts")
	ordersID   = spiffeid.RequireFromPath(demoTD, "/orders")
)

// workloads is the demo's CA and the mTLS endpoints of its services.
type workloads struct {
	ca         *identity.CA
	caURL      string
	bundleFile string
	// accountsAddr is the accounts service's sidecar; ordersAddr the orders
	// service's own mTLS listener (it embeds sdk/mtls).
	accountsAddr, ordersAddr string
	// ordersClient calls the accounts sidecar as the orders service.
	ordersClient *http.Client
	closers      []func()
}

func (w *workloads) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
}

// startWorkloads runs the CA, puts a mesh sidecar in front of the accounts
// service (accountsApp, on loopback) and serves the orders handler over
// mTLS. The accounts sidecar's policy is least privilege: the gateway may
// call anything, the orders service may only read one account.
func startWorkloads(ctx context.Context, dir, accountsApp string, orders http.Handler, api *services.AccountsAPI, events event.Emitter, logger *slog.Logger) (w *workloads, err error) {
	w = &workloads{}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	caDir := filepath.Join(dir, "ca")
	kekFile := filepath.Join(dir, "ca.kek")
	kek, err := os.ReadFile(kekFile)
	if errors.Is(err, os.ErrNotExist) {
		kek = random(identity.KEKSize)
		err = os.WriteFile(kekFile, kek, 0o600)
	}
	if err != nil {
		return nil, err
	}
	if w.ca, err = identity.Open(caDir, kek, identity.WithEvents(events)); err != nil {
		if w.ca, err = identity.Init(caDir, kek, demoTD, identity.WithEvents(events)); err != nil {
			return nil, fmt.Errorf("demo CA: %w", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	caCtx, stopCA := context.WithCancel(ctx)
	caDone := make(chan struct{})
	go func() { w.ca.Serve(caCtx, ln, log.New(io.Discard, "", 0)); close(caDone) }()
	w.closers = append(w.closers, func() { stopCA(); <-caDone })
	w.caURL = "https://" + ln.Addr().String()
	w.bundleFile = filepath.Join(dir, "mesh-bundle.pem")
	if err := os.WriteFile(w.bundleFile, identity.BundlePEM(w.ca.Bundle()), 0o600); err != nil {
		return nil, err
	}

	accountsSrc, err := w.join(ctx, accountsID, logger)
	if err != nil {
		return nil, err
	}
	sc, err := mesh.New(mesh.Config{
		Service: accountsID.String(),
		Listen:  "127.0.0.1:0",
		App:     accountsApp,
		Inbound: []mesh.Rule{
			{Caller: gatewayID.String(), Methods: []string{"*"}, Paths: []string{"/*"}},
			{Caller: ordersID.String(), Methods: []string{"GET"}, Paths: []string{"/accounts/{id}"}},
		},
	}, accountsSrc, mesh.Options{Log: logger, Events: events})
	if err != nil {
		return nil, fmt.Errorf("accounts sidecar: %w", err)
	}
	scCtx, stopSC := context.WithCancel(ctx)
	scDone := make(chan struct{})
	go func() { sc.Run(scCtx); close(scDone) }()
	w.closers = append(w.closers, func() { stopSC(); <-scDone })
	w.accountsAddr = sc.InboundAddr().String()

	ordersSrc, err := w.join(ctx, ordersID, logger)
	if err != nil {
		return nil, err
	}
	w.ordersClient = ordersSrc.HTTPClient(tlsconfig.AuthorizeID(accountsID))
	w.ordersClient.Timeout = 5 * time.Second
	api.Client, api.BaseURL = w.ordersClient, "https://"+w.accountsAddr
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	conf := ordersSrc.ServerConfig(tlsconfig.AuthorizeID(gatewayID))
	osrv := &http.Server{Handler: orders, TLSConfig: conf, ReadHeaderTimeout: 5 * time.Second}
	go osrv.ServeTLS(oln, "", "")
	w.closers = append(w.closers, func() { osrv.Close() })
	w.ordersAddr = oln.Addr().String()
	return w, nil
}

// join gets a workload's first certificate with a one-time join token.
func (w *workloads) join(ctx context.Context, id spiffeid.ID, logger *slog.Logger) (*mtls.Source, error) {
	tok, err := w.ca.NewJoinToken(id, time.Minute)
	if err != nil {
		return nil, err
	}
	src, err := mtls.New(ctx, mtls.Config{CA: w.caURL, TrustDomain: demoTD, Bundle: identity.BundlePEM(w.ca.Bundle()),
		JoinToken: tok, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("join the demo CA as %s: %w", id, err)
	}
	w.closers = append(w.closers, func() { src.Close() })
	return src, nil
}

// gatewayJoinToken is the one-time token the gateway's identity section uses.
func (w *workloads) gatewayJoinToken() (string, error) {
	return w.ca.NewJoinToken(gatewayID, 10*time.Minute)
}
