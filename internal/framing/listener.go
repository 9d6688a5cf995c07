package framing

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// DefaultHandshakeTimeout bounds a TLS handshake when Options.HandshakeTimeout
// is zero.
const DefaultHandshakeTimeout = 10 * time.Second

// Options for NewListener.
type Options struct {
	// TLSConfig nil: plaintext listener. Non-nil: the listener terminates TLS
	// itself. When its NextProtos is empty, "h2" and "http/1.1" are offered,
	// as http.Server.ServeTLS does; list only "http/1.1" to refuse HTTP/2.
	TLSConfig *tls.Config
	// HandshakeTimeout bounds a TLS handshake; default DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// NewListener wraps inner, a TCP listener, so that HTTP/1.x connections are
// inspected (see [Conn]).
//
// Without TLSConfig every accepted connection is returned as a *Conn.
//
// With TLSConfig, handshakes run off the Accept path, one goroutine per
// pending handshake, each bounded by HandshakeTimeout, so a slow or silent
// client never delays other clients. Failed handshakes are closed and not
// returned. Accept returns the *tls.Conn itself when ALPN negotiated "h2" (so
// net/http's HTTP/2 server takes it as usual; HTTP/2 framing has no
// Content-Length/Transfer-Encoding ambiguity), and a *Conn wrapping the
// *tls.Conn otherwise. Close stops accepting, closes connections whose
// handshake is pending or not yet accepted, and waits for its goroutines.
//
// Serve the listener with http.Server.Serve, not ServeTLS.
func NewListener(inner net.Listener, o Options) net.Listener {
	if o.TLSConfig == nil {
		return &plainListener{Listener: inner}
	}
	cfg := o.TLSConfig.Clone()
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	timeout := o.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &tlsListener{
		inner:    inner,
		config:   cfg,
		timeout:  timeout,
		ctx:      ctx,
		cancel:   cancel,
		ready:    make(chan net.Conn),
		errs:     make(chan error),
		loopDone: make(chan struct{}),
	}
}

type plainListener struct {
	net.Listener
}

func (l *plainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newConn(c, nil), nil
}

type tlsListener struct {
	inner   net.Listener
	config  *tls.Config
	timeout time.Duration

	ctx    context.Context // cancelled by Close; bounds every goroutine
	cancel context.CancelFunc
	ready  chan net.Conn // handshaken connections, handed to Accept
	errs   chan error    // temporary errors from inner.Accept, handed to Accept

	loopDone chan struct{} // closed when the accept loop ends
	loopErr  error         // why it ended; written before loopDone is closed

	mu       sync.Mutex
	started  bool
	closed   bool
	closeErr error
	wg       sync.WaitGroup // the accept loop and the handshake goroutines
}

func (l *tlsListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if !l.started && !l.closed {
		l.started = true
		l.wg.Add(1)
		go l.acceptLoop()
	}
	l.mu.Unlock()

	select {
	case c := <-l.ready:
		if l.ctx.Err() != nil { // both were ready: Close wins
			c.Close()
			return nil, fmt.Errorf("framing: accept: %w", net.ErrClosed)
		}
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.loopDone:
		return nil, l.loopErr
	case <-l.ctx.Done():
		return nil, fmt.Errorf("framing: accept: %w", net.ErrClosed)
	}
}

// acceptLoop accepts TCP connections and starts a handshake for each.
func (l *tlsListener) acceptLoop() {
	defer l.wg.Done()
	defer close(l.loopDone)
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			// Keep going after temporary errors (such as running out of file
			// descriptors), as net/http.Server does: hand the error to Accept,
			// whose caller backs off before calling again.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				select {
				case l.errs <- err:
					continue
				case <-l.ctx.Done():
				}
			}
			l.loopErr = fmt.Errorf("framing: accept: %w", err)
			return
		}
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

func (l *tlsListener) handshake(raw net.Conn) {
	defer l.wg.Done()
	tc := tls.Server(raw, l.config)
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	err := tc.HandshakeContext(ctx) // closes raw when ctx ends first
	cancel()
	if err != nil {
		raw.Close()
		return
	}
	state := tc.ConnectionState()
	var c net.Conn = tc
	if state.NegotiatedProtocol != "h2" {
		c = newConn(tc, &state)
	}
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		c.Close()
	}
}

// Close stops accepting, closes pending connections and waits for the
// listener's goroutines to end.
func (l *tlsListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closeErr
	}
	l.closed = true
	l.closeErr = l.inner.Close()
	l.mu.Unlock()
	l.cancel()
	l.wg.Wait()
	return l.closeErr
}

func (l *tlsListener) Addr() net.Addr {
	return l.inner.Addr()
}
