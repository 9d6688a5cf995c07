package token

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/token/store"
)

// ServeOptions run a token service on its own listener.
type ServeOptions struct {
	Config Config
	// StoreDSN is a SQLite file path or a postgres:// URL; KEK seals the
	// signing keys in it (32 bytes).
	StoreDSN string
	KEK      []byte
	// Listen is the address, or Listener one already bound (its address is
	// known before the issuer URL is chosen); CertFile and KeyFile are the
	// TLS certificate.
	Listen            string
	Listener          net.Listener
	CertFile, KeyFile string
	Log               *slog.Logger
	Events            event.Emitter
	// Started, if set, is called with the bound address once serving.
	Started func(addr string)
}

// Serve opens the store, starts the service and serves HTTPS until ctx
// ends, then drains for at most 10 s.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	st, err := store.Open(ctx, o.StoreDSN, store.Options{KEK: o.KEK})
	if err != nil {
		return fmt.Errorf("token store: %w", err)
	}
	defer st.Close()
	srv, err := New(ctx, o.Config, Options{Store: st, Log: o.Log, Events: o.Events})
	if err != nil {
		return err
	}
	defer srv.Close()
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return fmt.Errorf("token service certificate: %w", err)
	}
	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", o.Listen); err != nil {
			return fmt.Errorf("token service listen on %s: %w", o.Listen, err)
		}
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	o.Log.Info("token service listening", "addr", ln.Addr().String(), "issuer", o.Config.Issuer)
	if o.Started != nil {
		o.Started(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
