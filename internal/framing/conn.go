package framing

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
)

// Conn is an HTTP/1.x server connection whose reads are inspected for
// ambiguous request framing. Reads and writes pass through unchanged.
type Conn struct {
	net.Conn

	tlsState  *tls.ConnectionState
	violation atomic.Uint32 // a reason; set once, first one wins

	mu   sync.Mutex // serializes inspection, should Read ever be called concurrently
	insp inspector
}

func newConn(c net.Conn, tlsState *tls.ConnectionState) *Conn {
	return &Conn{Conn: c, tlsState: tlsState}
}

// Read reads from the connection and inspects the bytes read before returning
// them, so a violation in a request head is recorded before the server has
// parsed that head.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		r := c.insp.feed(p[:n])
		c.mu.Unlock()
		if r != reasonNone {
			c.violation.CompareAndSwap(uint32(reasonNone), uint32(r))
		}
	}
	return n, err
}

// Violation returns "" or the stable reason code (one of the Reason
// constants) of the first ambiguous request framing seen on this connection.
// Once set it never changes: the whole connection is poisoned. It is safe for
// concurrent use.
func (c *Conn) Violation() string {
	return reason(c.violation.Load()).String()
}

// TLS returns the state of the TLS handshake the listener completed, or nil
// for a plaintext connection. net/http cannot fill in http.Request.TLS for a
// *Conn, so handlers use this instead. The result must not be modified.
func (c *Conn) TLS() *tls.ConnectionState {
	return c.tlsState
}

// CloseWrite shuts down the writing side of the connection. net/http calls it
// before closing a connection it refused, so the response (for example the
// gateway's 400) reaches the client instead of being lost to a TCP reset.
func (c *Conn) CloseWrite() error {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return errors.New("framing: underlying connection does not support CloseWrite")
	}
	return cw.CloseWrite()
}

type connKey struct{}

// ConnContext is meant for http.Server.ConnContext: when c is a *Conn it
// stores it in the returned context, for [FromContext].
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, connKey{}, fc)
	}
	return ctx
}

// FromContext returns the *Conn stored by [ConnContext], or nil when the
// request did not arrive on one (HTTP/2, or a listener not wrapped).
func FromContext(ctx context.Context) *Conn {
	c, _ := ctx.Value(connKey{}).(*Conn)
	return c
}
