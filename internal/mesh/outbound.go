package mesh

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/rampart-sec/rampart/internal/event"
)

// outbound serves one dependency: plaintext HTTP from the app on loopback,
// forwarded over mTLS to a target that must prove the expected SPIFFE ID.
type outbound struct {
	name   string
	route  string
	want   spiffeid.ID
	target string
	src    Source
	rot    *rotation
	events event.Emitter
	log    *slog.Logger
	maxAge time.Duration
	ln     net.Listener
	proxy  *httputil.ReverseProxy

	mu  sync.Mutex
	cur atomic.Pointer[generation]
}

// generation is a transport whose connections were all made with the
// credentials of one rotation generation. A rotation (or maxAge) replaces
// it: new requests get new connections, so the target is authenticated
// again with the new bundle and sees the new SVID, while requests in flight
// finish on the old connections, which then idle out (IdleConnTimeout).
type generation struct {
	*http.Transport
	gen  uint64
	born time.Time
}

// peerIdentityError marks a target that failed the SPIFFE verification, as
// opposed to one that could not be reached.
type peerIdentityError struct{ err error }

func (e *peerIdentityError) Error() string { return e.err.Error() }
func (e *peerIdentityError) Unwrap() error { return e.err }

func newOutbound(d Dependency, want spiffeid.ID, src Source, rot *rotation, events event.Emitter, log *slog.Logger, maxAge time.Duration) *outbound {
	o := &outbound{name: d.Name, route: "outbound/" + d.Name, want: want, target: d.Target,
		src: src, rot: rot, events: events, log: log, maxAge: maxAge}
	o.proxy = &httputil.ReverseProxy{
		Transport:  o,
		BufferPool: newBufferPool(),
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "https"
			pr.Out.URL.Host = o.target
			pr.Out.Host = ""
			pr.Out.Header[requestIDHeader] = pr.In.Header[requestIDHeader]
		},
		ErrorHandler: o.targetError,
	}
	return o
}

func (o *outbound) newTransport(gen uint64) *generation {
	conf := o.src.ClientConfig(tlsconfig.AuthorizeID(o.want))
	verify := conf.VerifyConnection
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := verify(cs); err != nil {
			return &peerIdentityError{err}
		}
		return nil
	}
	// HTTP/1.1, not HTTP/2: the target's sidecar retires connections after
	// a rotation with Connection: close on a response, after which an
	// HTTP/1.1 client never sends on that connection again. HTTP/2 retires
	// them with GOAWAY, and a request racing the GOAWAY is refused; Go's
	// client cannot retry it when its body (streamed from the app) was
	// already sent, so the app would see a 502 at every rotation now and
	// then.
	conf.NextProtos = []string{"http/1.1"}
	return &generation{gen: gen, born: time.Now(), Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     conf,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 256,
		// Shorter than the inbound IdleTimeout (a minute), so this side
		// closes an idle connection first and never sends on one the
		// target is closing.
		IdleConnTimeout:    30 * time.Second,
		DisableCompression: true,
	}}
}

// transport returns the transport of the current generation, replacing a
// stale one.
func (o *outbound) transport() *generation {
	gen, _ := o.rot.current()
	t := o.cur.Load()
	if t != nil && t.gen == gen && time.Since(t.born) < o.maxAge {
		return t
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if t = o.cur.Load(); t != nil && t.gen == gen && time.Since(t.born) < o.maxAge {
		return t
	}
	n := o.newTransport(gen)
	if old := o.cur.Swap(n); old != nil {
		old.CloseIdleConnections()
	}
	return n
}

// RoundTrip sends the proxied request on the current generation.
func (o *outbound) RoundTrip(r *http.Request) (*http.Response, error) {
	return o.transport().RoundTrip(r)
}

func (o *outbound) close() {
	if t := o.cur.Load(); t != nil {
		t.CloseIdleConnections()
	}
}

func (o *outbound) emit(r *http.Request, t event.Type, sev event.Severity, rid, reason, detail string) {
	o.events.Emit(event.Event{Type: t, Severity: sev, Route: o.route, ClientIP: clientIP(r.RemoteAddr),
		Principal: o.want.String(), RequestID: rid, Reason: reason, Detail: detail})
}

func (o *outbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := requestID(r)
	if r.Method == http.MethodConnect || len(r.RequestURI) == 0 || r.RequestURI[0] != '/' {
		o.emit(r, BadRequest, event.Medium, rid, "request_target_form", r.Method+" "+logPath(r.RequestURI))
		reject(w, http.StatusBadRequest, "bad_request", rid, true)
		return
	}
	// The target's sidecar strips these too; not sending them keeps a
	// dependency that is not behind a sidecar from believing them.
	stripHeaders(r.Header)
	r.Header[requestIDHeader] = []string{rid}
	o.proxy.ServeHTTP(w, r)
}

func (o *outbound) targetError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the app went away
	}
	rid := r.Header.Get(requestIDHeader)
	var pe *peerIdentityError
	if errors.As(err, &pe) {
		// A target with another identity is a misrouted request at best,
		// an impostor at worst: nothing was sent to it.
		o.emit(r, PeerIdentity, event.High, rid, "peer_identity", pe.Error())
		o.log.Warn("mesh: dependency failed SPIFFE verification", "dependency", o.name, "target", o.target,
			"want", o.want.String(), "request_id", rid, "error", pe.Error())
	} else {
		o.emit(r, OutboundFailure, event.Low, rid, "target_error", "")
		o.log.Warn("mesh: dependency request failed", "dependency", o.name, "target", o.target,
			"request_id", rid, "error", err.Error())
	}
	reject(w, http.StatusBadGateway, "bad_gateway", rid, false)
}
