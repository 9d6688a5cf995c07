// Command bareproxy is the baseline of the whole-system benchmark: a bare
// net/http/httputil.ReverseProxy with a tuned transport and nothing else, so
// that the gateway's cost per request can be read as a ratio against it.
//
// It terminates TLS the way the gateway does (same versions, suites, groups,
// HTTP/2 by ALPN) when -cert and -key are given, and serves plaintext
// HTTP/1.1 (and no h2c) otherwise.
//
// Usage:
//
//	bareproxy -addr 127.0.0.1:8080 -upstream http://127.0.0.1:9000 [-cert FILE -key FILE]
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		log.Fatalf("bareproxy: %v", err)
	}
}

type options struct {
	addr     string
	upstream string
	certFile string
	keyFile  string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bareproxy", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&o.upstream, "upstream", "http://127.0.0.1:9000", "upstream base URL")
	fs.StringVar(&o.certFile, "cert", "", "TLS certificate (PEM); with -key, serve HTTPS with h2")
	fs.StringVar(&o.keyFile, "key", "", "TLS private key (PEM)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return o, errors.New("-cert and -key go together")
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	target, err := parseUpstream(o.upstream)
	if err != nil {
		return err
	}
	var tlsConf *tls.Config
	if o.certFile != "" {
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return fmt.Errorf("load TLS key pair %s: %w", o.certFile, err)
		}
		tlsConf = serverTLSConfig(cert)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.addr, err)
	}
	srv := newServer(newProxy(target), tlsConf)
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	log.Printf("bareproxy: %s://%s -> %s", scheme, ln.Addr(), target)
	return serve(ctx, srv, ln)
}

// parseUpstream accepts an absolute http URL with a host and nothing after
// the path, which is all the benchmark needs.
func parseUpstream(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse -upstream: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("-upstream %q: want http://host:port[/path]", raw)
	}
	return u, nil
}

// newTransport is the upstream transport: the defaults, with an idle pool
// large enough that the benchmark's connections are reused instead of
// re-dialled (the default of 2 idle conns per host would make the baseline
// measure TCP handshakes).
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil, // never route loopback benchmark traffic through $HTTP_PROXY
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Pass the client's Accept-Encoding through untouched, as a proxy should.
		DisableCompression: true,
	}
}

// newProxy returns the bare reverse proxy. Rewrite (rather than Director)
// drops the client's X-Forwarded-* headers and hop-by-hop headers before
// SetXForwarded sets fresh ones, which is also what the gateway sends.
func newProxy(target *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: newTransport(),
		ErrorLog:  log.New(os.Stderr, "bareproxy: proxy: ", 0),
	}
}

// serverTLSConfig mirrors the gateway's edge TLS settings (internal/edgetls)
// so the TLS comparison pays for the same handshakes and ciphers.
func serverTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		NextProtos:       []string{"h2", "http/1.1"},
		Certificates:     []tls.Certificate{cert},
	}
}

// newServer returns the listener-side server; tlsConf nil means plaintext.
func newServer(h http.Handler, tlsConf *tls.Config) *http.Server {
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(os.Stderr, "bareproxy: http: ", 0),
	}
}

// serve runs srv on ln (with TLS when srv.TLSConfig is set) until ctx is
// done, then shuts it down gracefully.
func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			// Certificates are already in TLSConfig; ServeTLS also enables h2.
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
