package edgetls

import (
	"crypto/tls"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestServerConfigRejectsBadArguments(t *testing.T) {
	ca := newTestCA(t)
	certFile, keyFile, _, _ := pairFiles(t, ca, t.TempDir())
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0", "1.1", "tls1.3", "1.4", " 1.2"} {
		if _, err := ServerConfig(r, v); err == nil {
			t.Errorf("ServerConfig(%q) accepted", v)
		}
	}
	if _, err := ServerConfig(nil, ""); err == nil {
		t.Error("ServerConfig(nil) accepted")
	}
	for _, v := range []string{"", "1.2", "1.3"} {
		if _, err := ServerConfig(r, v); err != nil {
			t.Errorf("ServerConfig(%q): %v", v, err)
		}
	}
}

func TestServerConfigProtocols(t *testing.T) {
	ca := newTestCA(t)
	certFile, keyFile, _, _ := pairFiles(t, ca, t.TempDir())
	ecR, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}

	// An RSA certificate, to check that the RSA suites keep forward secrecy.
	rsaDir := t.TempDir()
	rsaKey := newRSAKey(t)
	rsaCert, _ := ca.issue(t, leafSpec{key: rsaKey})
	replaceFile(t, rsaDir+"/tls.key", keyPEM(t, rsaKey))
	replaceFile(t, rsaDir+"/tls.crt", rsaCert)
	rsaR, err := NewReloader(rsaDir+"/tls.crt", rsaDir+"/tls.key", nil)
	if err != nil {
		t.Fatal(err)
	}

	ec12 := startEdge(t, ecR, "")
	ec13 := startEdge(t, ecR, "1.3")
	rsa12 := startEdge(t, rsaR, "1.2")

	tests := []struct {
		name        string
		addr        string
		client      *tls.Config
		wantErr     bool
		wantVersion uint16
		wantSuite   uint16
		wantCurve   tls.CurveID
	}{
		// Attacks and legacy clients: all must fail.
		{name: "tls1.0 refused", addr: ec12, wantErr: true,
			client: &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10}},
		{name: "tls1.1 refused", addr: ec12, wantErr: true,
			client: &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}},
		{name: "tls1.2 CBC refused", addr: ec12, wantErr: true,
			client: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
				tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
			}}},
		{name: "tls1.2 RSA CBC refused", addr: rsa12, wantErr: true,
			client: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
				tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
				tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
			}}},
		{name: "tls1.2 static RSA key exchange refused", addr: rsa12, wantErr: true,
			client: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
				tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
				tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
			}}},
		{name: "group outside the allow-list refused", addr: ec12, wantErr: true,
			client: &tls.Config{CurvePreferences: []tls.CurveID{tls.CurveP384}}},
		{name: "min 1.3 refuses tls1.2", addr: ec13, wantErr: true,
			client: &tls.Config{MaxVersion: tls.VersionTLS12}},

		// Honest clients.
		{name: "tls1.2 ECDSA AES-GCM", addr: ec12, wantVersion: tls.VersionTLS12,
			wantSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			client: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			}}},
		{name: "tls1.2 ECDSA ChaCha20", addr: ec12, wantVersion: tls.VersionTLS12,
			wantSuite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			client: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
				tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			}}},
		{name: "tls1.2 RSA AES-256-GCM", addr: rsa12, wantVersion: tls.VersionTLS12,
			wantSuite: tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			client: &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
				tls.TLS_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			}}},
		{name: "tls1.3 by default, hybrid post-quantum", addr: ec12, wantVersion: tls.VersionTLS13,
			wantCurve: tls.X25519MLKEM768, client: &tls.Config{}},
		{name: "tls1.3 X25519 for clients without ML-KEM", addr: ec12, wantVersion: tls.VersionTLS13,
			wantCurve: tls.X25519, client: &tls.Config{CurvePreferences: []tls.CurveID{tls.X25519}}},
		{name: "tls1.3 P-256", addr: ec12, wantVersion: tls.VersionTLS13,
			wantCurve: tls.CurveP256, client: &tls.Config{CurvePreferences: []tls.CurveID{tls.CurveP256}}},
		{name: "min 1.3 serves tls1.3", addr: ec13, wantVersion: tls.VersionTLS13, client: &tls.Config{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := handshake(tt.addr, tt.client, ca.pool)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("handshake succeeded: version %s, suite %s",
						tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				}
				// The server must be the one refusing, not the client
				// failing to build a hello.
				if !strings.Contains(err.Error(), "remote error") {
					t.Fatalf("handshake failed on the client side: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if st.Version != tt.wantVersion {
				t.Errorf("version %s, want %s", tls.VersionName(st.Version), tls.VersionName(tt.wantVersion))
			}
			if tt.wantSuite != 0 && st.CipherSuite != tt.wantSuite {
				t.Errorf("suite %s, want %s", tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(tt.wantSuite))
			}
			if tt.wantCurve != 0 && st.CurveID != tt.wantCurve {
				t.Errorf("group %s, want %s", st.CurveID, tt.wantCurve)
			}
		})
	}
}

func TestServerConfigTLS12SuitesAreECDHEAEAD(t *testing.T) {
	ca := newTestCA(t)
	certFile, keyFile, _, _ := pairFiles(t, ca, t.TempDir())
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ServerConfig(r, "")
	if err != nil {
		t.Fatal(err)
	}
	insecure := tls.InsecureCipherSuites()
	for _, id := range cfg.CipherSuites {
		if slices.ContainsFunc(insecure, func(s *tls.CipherSuite) bool { return s.ID == id }) {
			t.Errorf("insecure suite %s configured", tls.CipherSuiteName(id))
		}
	}
	if cfg.SessionTicketsDisabled {
		t.Error("session tickets disabled")
	}
	if !slices.Equal(cfg.NextProtos, []string{"h2", "http/1.1"}) {
		t.Errorf("NextProtos %q", cfg.NextProtos)
	}
}

func TestServerConfigALPN(t *testing.T) {
	ca := newTestCA(t)
	certFile, keyFile, _, _ := pairFiles(t, ca, t.TempDir())
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := startEdge(t, r, "")

	h1 := new(http.Protocols)
	h1.SetHTTP1(true)
	h2 := new(http.Protocols)
	h2.SetHTTP2(true)
	tests := []struct {
		name      string
		protocols *http.Protocols
		alpn      []string
		wantProto string
		wantALPN  string
	}{
		{name: "http2 client", protocols: h2, wantProto: "HTTP/2.0", wantALPN: "h2"},
		{name: "http1 client offering http/1.1", protocols: h1, alpn: []string{"http/1.1"}, wantProto: "HTTP/1.1", wantALPN: "http/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: ca.pool, NextProtos: tt.alpn},
				Protocols:       tt.protocols,
			}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get("https://localhost:" + portOf(t, addr) + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tt.wantProto || resp.Proto != tt.wantProto {
				t.Errorf("server saw %q, client %q; want %q", body, resp.Proto, tt.wantProto)
			}
			if got := resp.TLS.NegotiatedProtocol; got != tt.wantALPN {
				t.Errorf("ALPN %q, want %q", got, tt.wantALPN)
			}
		})
	}

	// A client that offers no ALPN still gets a connection (HTTP/1.1 by default).
	st, err := handshake(addr, &tls.Config{}, ca.pool)
	if err != nil {
		t.Fatal(err)
	}
	if st.NegotiatedProtocol != "" {
		t.Errorf("ALPN %q without an offer", st.NegotiatedProtocol)
	}
}
