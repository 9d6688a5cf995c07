// Command upstream is the origin server of the whole-system benchmark: a
// minimal HTTP/1.1 keep-alive server that answers every GET or HEAD (and
// every POST, whose body it reads and drops) with the same small body, so that the proxies in front of it, not the origin, are
// what the benchmark measures.
//
// Usage:
//
//	upstream -addr 127.0.0.1:9000 [-size 64]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		log.Fatalf("upstream: %v", err)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "listen address")
	size := fs.Int("size", 64, "response body size in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *size < 1 || *size > 1<<20 {
		return fmt.Errorf("-size %d: want 1..1048576", *size)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := newServer(newHandler(*size))
	log.Printf("upstream: serving %d-byte bodies on http://%s", *size, ln.Addr())
	return serve(ctx, srv, ln)
}

// serve runs srv on ln until ctx is done, then shuts it down gracefully.
func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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

// newServer returns the upstream HTTP server. Timeouts are set even for a
// benchmark tool so that a stuck client cannot hold it forever.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(os.Stderr, "upstream: http: ", 0),
	}
}

// handler serves a fixed body and /healthz. Header values are built once and
// shared by every response: net/http only reads them, and building them per
// request would put the origin's allocations into the proxies' numbers.
type handler struct {
	body       []byte
	ctype      []string
	clen       []string
	health     []byte
	healthClen []string
}

func newHandler(size int) *handler {
	body := bytes.Repeat([]byte("x"), size)
	body[len(body)-1] = '\n'
	health := []byte("ok\n")
	return &handler{
		body:       body,
		ctype:      []string{"text/plain; charset=utf-8"},
		clen:       []string{strconv.Itoa(len(body))},
		health:     health,
		healthClen: []string{strconv.Itoa(len(health))},
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		// Read the whole body, as a real service would, within a bound.
		if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, clen := h.body, h.clen
	if r.URL.Path == "/healthz" {
		body, clen = h.health, h.healthClen
	}
	hdr := w.Header()
	hdr["Content-Type"] = h.ctype
	hdr["Content-Length"] = clen
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	// A short write means the client went away; nothing useful to do.
	_, _ = w.Write(body)
}
