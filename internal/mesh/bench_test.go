package mesh

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"
)

// BenchmarkMeshRequest is one keep-alive request through the inbound
// sidecar (mTLS, TLS 1.3, HTTP/1.1) to an app on loopback; compare with
// BenchmarkBareProxyRequest, a bare httputil.ReverseProxy over plaintext
// loopback in front of the same app:
//
//	go test -run '^$' -bench 'MeshRequest|BareProxyRequest' -benchmem ./internal/mesh/
func BenchmarkMeshRequest(b *testing.B) {
	ca := newTestCA(b, testTD, 0)
	a := helloApp(b)
	s := start(b, Config{
		Service: accountsID.String(), Listen: "127.0.0.1:0", App: strings.TrimPrefix(a.URL, "http://"),
		Inbound: []Rule{{Caller: ordersID.String(), Methods: []string{"GET"}, Paths: []string{"/accounts/{id}"}}},
	}, ca.source(b, accountsID), nil)
	tr := &http.Transport{TLSClientConfig: clientTLS(ca.cert(b, ordersID, time.Hour)), MaxIdleConnsPerHost: 64}
	benchRequests(b, tr, "https://"+s.InboundAddr().String()+"/accounts/7")
}

func BenchmarkBareProxyRequest(b *testing.B) {
	a := helloApp(b)
	target, _ := url.Parse(a.URL)
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: &http.Transport{MaxIdleConnsPerHost: 512},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: proxy}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	benchRequests(b, &http.Transport{MaxIdleConnsPerHost: 64}, "http://"+ln.Addr().String()+"/accounts/7")
}

// helloApp answers every request with a short body.
func helloApp(b *testing.B) *httptest.Server {
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	b.Cleanup(a.Close)
	return a
}

func benchRequests(b *testing.B, tr *http.Transport, url string) {
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	get := func(b *testing.B) {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	// cpu-ns/op is the CPU the whole process (client, proxy, app) spent
	// per request: steadier than ns/op when other work shares the cores.
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			get(b)
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				get(b)
			}
		})
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	})
}
