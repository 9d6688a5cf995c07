package mesh

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/event"
)

// tlsListener completes each TLS handshake before net/http sees the
// connection, so that a refused peer becomes a security event with the
// reason (net/http would only write it to its error log). Handshakes run
// concurrently; Accept returns only connections whose handshake succeeded,
// as *tls.Conn so that net/http fills in Request.TLS.
type tlsListener struct {
	net.Listener
	conf    *tls.Config
	timeout time.Duration
	// before runs before each handshake; its result (the credential
	// generation) is kept for takeGen.
	before func() uint64
	refuse func(remote net.Addr, err error)

	conns chan *tls.Conn
	errs  chan error
	// pending bounds the handshakes in progress, so that connections that
	// never finish one (slowloris) cannot pile up goroutines.
	pending chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	gens map[*tls.Conn]uint64
}

// maxPendingHandshakes is how many inbound handshakes may be in progress at once.
const maxPendingHandshakes = 1024

var errOverloaded = errors.New("too many handshakes in progress; connection dropped")

func newTLSListener(ln net.Listener, conf *tls.Config, timeout time.Duration, maxPending int, before func() uint64, refuse func(net.Addr, error)) *tlsListener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &tlsListener{
		Listener: ln, conf: conf, timeout: timeout, before: before, refuse: refuse,
		conns: make(chan *tls.Conn), errs: make(chan error), pending: make(chan struct{}, maxPending),
		ctx: ctx, cancel: cancel, gens: map[*tls.Conn]uint64{},
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *tlsListener) acceptLoop() {
	defer l.wg.Done()
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			// Handed to Accept's caller, which backs off on temporary
			// errors (net/http does) and calls again.
			select {
			case l.errs <- err:
			case <-l.ctx.Done():
				return
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				continue
			}
			return
		}
		select {
		case l.pending <- struct{}{}:
		default:
			l.refuse(raw.RemoteAddr(), errOverloaded)
			raw.Close()
			continue
		}
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

func (l *tlsListener) handshake(raw net.Conn) {
	defer l.wg.Done()
	gen := l.before()
	c := tls.Server(raw, l.conf)
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	err := c.HandshakeContext(ctx)
	cancel()
	<-l.pending
	if err != nil {
		if l.ctx.Err() == nil {
			l.refuse(raw.RemoteAddr(), err)
		}
		raw.Close()
		return
	}
	l.mu.Lock()
	l.gens[c] = gen
	l.mu.Unlock()
	select {
	case l.conns <- c:
	case <-l.ctx.Done():
		l.takeGen(c)
		c.Close()
	}
}

// takeGen returns the generation recorded before c's handshake (once).
func (l *tlsListener) takeGen(c *tls.Conn) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g, ok := l.gens[c]
	delete(l.gens, c)
	return g, ok
}

// Accept returns the next connection that completed its handshake.
func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting and aborts the handshakes in progress.
func (l *tlsListener) Close() error {
	err := l.Listener.Close()
	l.cancel()
	l.wg.Wait()
	return err
}

// handshakeEvent describes a refused handshake. A certificate that failed
// verification still names who it claimed to be: that goes to Detail,
// marked unverified, never to Principal.
func handshakeEvent(remote net.Addr, err error) event.Event {
	reason := handshakeReason(err)
	sev := event.Medium
	if reason == ReasonAborted {
		sev = event.Info
	}
	detail := err.Error()
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) && len(cve.UnverifiedCertificates) > 0 {
		if id, err := x509svid.IDFromCert(cve.UnverifiedCertificates[0]); err == nil {
			detail += "; presented " + id.String() + " (unverified)"
		}
	}
	return event.Event{Type: HandshakeRefused, Severity: sev, Route: inboundRoute,
		ClientIP: clientIP(remote.String()), Reason: reason, Detail: detail}
}

// handshakeReason classifies a failed server handshake for the event. The
// texts matched are crypto/tls's; an unknown one falls back to
// ReasonHandshake with the error in the event's Detail.
func handshakeReason(err error) string {
	var (
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
		header  tls.RecordHeaderError
	)
	msg := err.Error()
	switch {
	case errors.Is(err, errOverloaded):
		return ReasonOverloaded
	case errors.As(err, &unknown):
		return ReasonUnknownAuthority
	case errors.As(err, &invalid):
		return ReasonCertInvalid
	case errors.As(err, &verify):
		return ReasonCertInvalid
	case strings.Contains(msg, "didn't provide a certificate"):
		return ReasonNoClientCert
	case strings.Contains(msg, "mtls: "):
		// sdk/mtls's VerifyConnection: not an SVID, wrong trust domain,
		// root no longer trusted, or the authorizer said no.
		return ReasonNotAuthorized
	case errors.As(err, &header):
		return ReasonNotTLS
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version"):
		return ReasonTLSVersion
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNRESET):
		return ReasonAborted
	}
	return ReasonHandshake
}
