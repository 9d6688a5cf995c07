// Package mesh is Rampart's sidecar (`rampart mesh`): it runs beside one
// service and puts mutual TLS and service-to-service authorization in front
// of it and behind it.
//
// Inbound, callers connect over TLS 1.3 with a client SVID of the trust
// domain (anything else fails the handshake, with a HandshakeRefused event,
// and is never answered in plaintext). Each request is authorized against
// Config.Inbound on its canonical path (internal/canonpath, the gateway's
// view: encoded slashes, traversal and the like are refused), deny by
// default; allowed requests go to the app on loopback with the verified
// caller in X-Rampart-Caller and with every caller-sent X-Rampart-* and
// forwarding header removed. The app must listen on loopback only, or
// anything reaching it directly could forge X-Rampart-Caller.
//
// Outbound, each dependency gets a plaintext listener on loopback; the
// sidecar calls the target over mTLS and refuses (502) a target that does
// not prove the dependency's SPIFFE ID.
//
// Rotation: handshakes read the Source's current SVID and bundle, so new
// connections use rotated credentials at once and nothing in flight is cut.
// Connections made before a rotation are retired gracefully: inbound, the
// next response carries Connection: close, so the caller handshakes again
// and is verified against the new bundle; outbound, new requests move to a
// fresh transport. Both sides speak HTTP/1.1 for that reason: an HTTP/1.1
// client never sends on a connection after Connection: close, while an
// HTTP/2 GOAWAY races requests being sent, and those with a body cannot be
// retried. Every inbound request also
// re-checks that the caller's SVID is still valid and, after a bundle
// change, that its root is still trusted, so an idle connection woken after
// a rotation proves nothing stale. Options.MaxConnAge bounds every
// connection the same way, rotation or not.
package mesh

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/event"
)

// Defaults of Options.
const (
	DefaultMaxConnAge       = 5 * time.Minute
	DefaultHandshakeTimeout = 10 * time.Second
	shutdownTimeout         = 10 * time.Second
)

// Source is the workload's identity, as *mtls.Source provides it: TLS
// configurations that follow rotation, and the current SVID and bundle.
type Source interface {
	ServerConfig(authorize tlsconfig.Authorizer) *tls.Config
	ClientConfig(authorize tlsconfig.Authorizer) *tls.Config
	x509svid.Source
	x509bundle.Source
}

// Options are the sidecar's dependencies and tuning.
type Options struct {
	// Log gets operational messages (slog.Default when nil).
	Log *slog.Logger
	// Events gets security events (dropped when nil).
	Events event.Emitter
	// MaxConnAge is the longest a connection, inbound or outbound, takes
	// new requests (DefaultMaxConnAge). Keep it well under half the SVID
	// lifetime, so no connection outlives the SVID it was made with.
	MaxConnAge time.Duration
	// HandshakeTimeout bounds an inbound TLS handshake (DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
}

type discard struct{}

func (discard) Emit(event.Event) {}

// Sidecar is a configured sidecar with its listeners bound. Run serves.
type Sidecar struct {
	in      *inbound
	inSrv   *http.Server
	out     []*outbound
	outSrv  []*http.Server
	runOnce sync.Once
	// listeners are the inbound one, then one per dependency in order.
	listeners []net.Listener
}

// New validates cfg, checks that src holds the service's SVID, compiles the
// policy and binds every listener, so that a bad config or a port in use
// fails here, before anything serves. Call Run to serve and to release the
// listeners.
func New(cfg Config, src Source, opts Options) (*Sidecar, error) {
	if errs := Validate(cfg); len(errs) > 0 {
		return nil, fmt.Errorf("mesh config: %w", errors.Join(errs...))
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Events == nil {
		opts.Events = discard{}
	}
	if opts.MaxConnAge <= 0 {
		opts.MaxConnAge = DefaultMaxConnAge
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	service := spiffeid.RequireFromString(cfg.Service) // Validate checked it
	svid, err := src.GetX509SVID()
	if err != nil {
		return nil, fmt.Errorf("mesh: identity source: %w", err)
	}
	if svid.ID != service {
		return nil, fmt.Errorf("mesh: the SVID names %s, the config's service is %s", svid.ID, service)
	}
	pol, err := compilePolicy(cfg.Inbound)
	if err != nil {
		return nil, fmt.Errorf("mesh config: %w", err)
	}
	td := service.TrustDomain()
	rot := newRotation(src, td, opts.Log)

	s := &Sidecar{}
	ok := false
	defer func() {
		if !ok {
			for _, l := range s.listeners {
				l.Close()
			}
		}
	}()
	raw, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("mesh: inbound listen %s: %w", cfg.Listen, err)
	}
	s.listeners = append(s.listeners, raw)
	s.in = newInbound(cfg.App, pol, rot, opts.Events, opts.Log, opts.MaxConnAge)
	conf := src.ServerConfig(tlsconfig.AuthorizeMemberOf(td))
	// HTTP/1.1 only. Retiring a connection after a rotation is then a
	// Connection: close on a response, after which no client sends on it
	// again. HTTP/2 would retire it with a GOAWAY, which races the requests
	// the client is sending; Go's client (the gateway's pool, sdk/mtls)
	// cannot retry one whose body it already sent, so a POST would fail
	// now and then at every rotation and every MaxConnAge.
	conf.NextProtos = []string{"http/1.1"}
	s.in.ln = newTLSListener(raw, conf, opts.HandshakeTimeout, maxPendingHandshakes,
		func() uint64 { g, _ := rot.current(); return g },
		func(remote net.Addr, err error) { opts.Events.Emit(handshakeEvent(remote, err)) })
	s.listeners[0] = s.in.ln
	s.inSrv = &http.Server{
		Handler:           s.in,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       s.in.connContext,
		ErrorLog:          slog.NewLogLogger(opts.Log.Handler(), slog.LevelDebug),
	}

	for i, d := range cfg.Outbound {
		ln, err := net.Listen("tcp", d.Listen)
		if err != nil {
			return nil, fmt.Errorf("mesh: outbound[%d] %q listen %s: %w", i, d.Name, d.Listen, err)
		}
		s.listeners = append(s.listeners, ln)
		o := newOutbound(d, spiffeid.RequireFromString(d.SPIFFEID), src, rot, opts.Events, opts.Log, opts.MaxConnAge)
		o.ln = ln
		s.out = append(s.out, o)
		s.outSrv = append(s.outSrv, &http.Server{
			Handler:           o,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(opts.Log.Handler(), slog.LevelDebug),
		})
	}
	ok = true
	return s, nil
}

// InboundAddr is the address callers connect to.
func (s *Sidecar) InboundAddr() net.Addr { return s.in.ln.Addr() }

// OutboundAddr is the loopback address of the named dependency, nil if there
// is none.
func (s *Sidecar) OutboundAddr(name string) net.Addr {
	for _, o := range s.out {
		if o.name == name {
			return o.ln.Addr()
		}
	}
	return nil
}

// Run serves until ctx is done, then stops accepting, lets requests in
// flight finish (up to 10s) and returns. It returns early with an error
// if a listener fails. It may be called once.
func (s *Sidecar) Run(ctx context.Context) error {
	err := errors.New("mesh: Run called twice")
	s.runOnce.Do(func() { err = s.run(ctx) })
	return err
}

func (s *Sidecar) run(ctx context.Context) error {
	servers := append([]*http.Server{s.inSrv}, s.outSrv...)
	listeners := s.listeners
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("mesh: serve %s: %w", listeners[i].Addr(), err)
				return
			}
			errc <- nil
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() { srv.Shutdown(sctx) })
	}
	wg.Wait()
	n := len(servers)
	if first != nil {
		n--
	}
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	s.in.app.CloseIdleConnections()
	for _, o := range s.out {
		o.close()
	}
	return first
}
