package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// echoUpstream reports the forwarding headers it received in its response.
func echoUpstream(t *testing.T) *url.URL {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Got-XFF", strings.Join(r.Header.Values("X-Forwarded-For"), "|"))
		w.Header().Set("Got-XFP", r.Header.Get("X-Forwarded-Proto"))
		w.Header().Set("Got-XFH", r.Header.Get("X-Forwarded-Host"))
		w.Header().Set("Got-Path", r.URL.RequestURI())
		_, _ = io.WriteString(w, "hello from upstream\n")
	}))
	t.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// startProxy serves the bare proxy on 127.0.0.1:0 and returns its address.
func startProxy(t *testing.T, target *url.URL, tlsConf *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, newServer(newProxy(target), tlsConf), ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func selfSignedCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestProxyForwardingHeaders(t *testing.T) {
	addr := startProxy(t, echoUpstream(t), nil)
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	tests := []struct {
		name    string
		headers map[string]string
	}{
		{"honest request", nil},
		{"spoofed X-Forwarded-For is dropped", map[string]string{"X-Forwarded-For": "10.9.8.7"}},
		{"spoofed X-Forwarded-Host and Proto are dropped", map[string]string{
			"X-Forwarded-Host": "internal.example", "X-Forwarded-Proto": "https",
		}},
		{"Connection header cannot delete X-Forwarded-For", map[string]string{"Connection": "X-Forwarded-For"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/a/b?x=1", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET via proxy: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if resp.StatusCode != http.StatusOK || string(body) != "hello from upstream\n" {
				t.Fatalf("got %d %q, want 200 from upstream", resp.StatusCode, body)
			}
			checks := map[string]string{
				"Got-XFF":  "127.0.0.1",
				"Got-XFP":  "http",
				"Got-XFH":  addr,
				"Got-Path": "/a/b?x=1",
			}
			for h, want := range checks {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

func TestProxyTLSNegotiatesHTTP2(t *testing.T) {
	cert, roots := selfSignedCert(t)
	addr := startProxy(t, echoUpstream(t), serverTLSConfig(cert))
	tests := []struct {
		name      string
		h2        bool
		wantProto int
	}{
		{"h2 via ALPN", true, 2},
		{"http/1.1 client", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{
				Proxy:             nil,
				TLSClientConfig:   &tls.Config{RootCAs: roots},
				ForceAttemptHTTP2: tt.h2,
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatalf("read body: %v", err)
			}
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != tt.wantProto {
				t.Fatalf("got %d over HTTP/%d, want 200 over HTTP/%d", resp.StatusCode, resp.ProtoMajor, tt.wantProto)
			}
			if got := resp.Header.Get("Got-XFP"); got != "https" {
				t.Errorf("X-Forwarded-Proto = %q, want https", got)
			}
		})
	}
}

func TestProxyTLSRefusesOldVersions(t *testing.T) {
	cert, roots := selfSignedCert(t)
	addr := startProxy(t, echoUpstream(t), serverTLSConfig(cert))
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 handshake succeeded, want refusal")
	}
	conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 handshake: %v", err)
	}
	conn.Close()
}

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		raw string
		ok  bool
	}{
		{"http://127.0.0.1:9000", true},
		{"http://127.0.0.1:9000/base", true},
		{"https://127.0.0.1:9000", false},
		{"127.0.0.1:9000", false},
		{"http://", false},
		{"http://u:p@127.0.0.1:9000", false},
		{"http://127.0.0.1:9000/?q=1", false},
		{"http://127.0.0.1:9000/#f", false},
	}
	for _, tt := range tests {
		_, err := parseUpstream(tt.raw)
		if (err == nil) != tt.ok {
			t.Errorf("parseUpstream(%q) error = %v, want ok=%v", tt.raw, err, tt.ok)
		}
	}
}

func TestParseFlagsCertNeedsKey(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-cert", "c.pem", "-key", "k.pem"}, true},
		{[]string{"-cert", "c.pem"}, false},
		{[]string{"-key", "k.pem"}, false},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args)
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q) error = %v, want ok=%v", tt.args, err, tt.ok)
		}
	}
}
