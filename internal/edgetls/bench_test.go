package edgetls

import (
	"crypto/tls"
	"testing"
)

// BenchmarkGetCertificate measures the per-handshake certificate lookup under
// parallel load (the atomic read).
func BenchmarkGetCertificate(b *testing.B) {
	ca := newTestCA(b)
	certFile, keyFile, _, _ := pairFiles(b, ca, b.TempDir())
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		b.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{ServerName: "localhost"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c, err := r.GetCertificate(hello); err != nil || c == nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHandshake measures a full (non-resumed) edge handshake over
// loopback TCP, client and server CPU together, per key exchange group.
func BenchmarkHandshake(b *testing.B) {
	ca := newTestCA(b)
	certFile, keyFile, _, _ := pairFiles(b, ca, b.TempDir())
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		b.Fatal(err)
	}
	srvCfg, err := ServerConfig(r, "")
	if err != nil {
		b.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// Read until the client hangs up: this drives the
				// handshake and lets the client read the tickets.
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	cases := []struct {
		name   string
		client *tls.Config
	}{
		{"tls13-X25519MLKEM768", &tls.Config{CurvePreferences: []tls.CurveID{tls.X25519MLKEM768}}},
		{"tls13-X25519", &tls.Config{CurvePreferences: []tls.CurveID{tls.X25519}}},
		{"tls12-ECDHE-ECDSA-AES128GCM", &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			cfg := c.client.Clone()
			cfg.RootCAs = ca.pool
			cfg.ServerName = "localhost"
			b.ReportAllocs()
			for b.Loop() {
				conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				conn.Close()
			}
		})
	}
}
