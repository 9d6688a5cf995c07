package mtls

import (
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

// BenchmarkMTLSRequest: one GET over mTLS to a server that reads the
// caller's SPIFFE ID, on a kept-alive HTTP/2 connection, and with a full
// TLS 1.3 handshake (both sides verifying SVIDs) per request.
func BenchmarkMTLSRequest(b *testing.B) {
	ca := newTestCA(b, testTD)
	orders, web := ca.source(b, ordersID), ca.source(b, webID)
	url := serveHTTPS(b, orders.ServerConfig(tlsconfig.AuthorizeID(webID)))
	for _, bc := range []struct {
		name string
		keep bool
	}{{"keepalive", true}, {"handshake", false}} {
		b.Run(bc.name, func(b *testing.B) {
			c := handshakeClient(web, tlsconfig.AuthorizeID(ordersID))
			if bc.keep {
				c = web.HTTPClient(tlsconfig.AuthorizeID(ordersID))
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := get(c, url, webID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
