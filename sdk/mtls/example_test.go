package mtls_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/rampart-sec/rampart/sdk/mtls"
)

// A service that joins the CA, serves only the web service over mTLS, and
// calls the accounts service.
func Example() {
	td := spiffeid.RequireTrustDomainFromString("example.org")
	bundle, err := os.ReadFile("/etc/rampart/bundle.pem") // from `rampart ca bundle`
	if err != nil {
		log.Fatal(err)
	}
	src, err := mtls.New(context.Background(), mtls.Config{
		CA:          "https://ca.internal:8445",
		TrustDomain: td,
		Bundle:      bundle,
		JoinToken:   os.Getenv("RAMPART_JOIN_TOKEN"), // from `rampart ca token`
		CertFile:    "/var/lib/orders/svid.pem",
		KeyFile:     "/var/lib/orders/svid.key",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	accounts := src.HTTPClient(tlsconfig.AuthorizeID(spiffeid.RequireFromPath(td, "/accounts")))
	srv := &http.Server{
		Addr:      ":8443",
		TLSConfig: src.ServerConfig(tlsconfig.AuthorizeID(spiffeid.RequireFromPath(td, "/web"))),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			caller, _ := mtls.PeerID(r) // always set: the handshake required it
			resp, err := accounts.Get("https://accounts.internal:8443/balance")
			if err != nil {
				http.Error(w, "upstream", http.StatusBadGateway)
				return
			}
			resp.Body.Close()
			fmt.Fprintf(w, "hello %s\n", caller)
		}),
	}
	log.Fatal(srv.ListenAndServeTLS("", ""))
}
