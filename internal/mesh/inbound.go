package mesh

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/rampart-sec/rampart/internal/canonpath"
	"github.com/rampart-sec/rampart/internal/event"
)

const inboundRoute = "inbound"

// inbound serves callers: it authorizes each request against the policy on
// the canonical path and forwards it to the app on loopback with the
// caller's identity.
type inbound struct {
	policy *policy
	rot    *rotation
	events event.Emitter
	log    *slog.Logger
	maxAge time.Duration
	ln     *tlsListener
	proxy  *httputil.ReverseProxy
	app    *http.Transport
}

// connInfo is what one inbound connection proved at its handshake.
type connInfo struct {
	born time.Time
	gen  uint64 // credential generation before the handshake
	peer spiffeid.ID
	leaf *x509.Certificate
	root *x509.Certificate
}

type connKey struct{}

func newInbound(app string, pol *policy, rot *rotation, events event.Emitter, log *slog.Logger, maxAge time.Duration) *inbound {
	in := &inbound{policy: pol, rot: rot, events: events, log: log, maxAge: maxAge}
	in.app = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 512,
		// Shorter than the keep-alive timeout of common app servers (Node's
		// is 5s), so the sidecar drops an idle connection before the app
		// does and never sends a request onto one the app is closing (Go
		// cannot retry a POST that hit that race). Reconnecting on
		// loopback costs little.
		IdleConnTimeout: 4 * time.Second,
		// A proxy passes bodies through as they are.
		DisableCompression: true,
	}
	in.proxy = &httputil.ReverseProxy{
		Transport:  in.app,
		BufferPool: newBufferPool(),
		ErrorLog:   slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		// Rewrite runs after the proxy dropped hop-by-hop headers, including
		// any a caller named in Connection, so the caller cannot remove
		// the identity set here; it reads it from the inbound request,
		// where ServeHTTP put it.
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = app
			pr.SetXForwarded()
			pr.Out.Header[CallerHeader] = pr.In.Header[CallerHeader]
			pr.Out.Header[requestIDHeader] = pr.In.Header[requestIDHeader]
		},
		ErrorHandler: in.appError,
	}
	return in
}

// connContext records, once per connection, the caller the handshake
// verified and the credential generation it was made in.
func (in *inbound) connContext(ctx context.Context, c net.Conn) context.Context {
	info := &connInfo{born: time.Now()}
	if tc, ok := c.(*tls.Conn); ok {
		info.gen, _ = in.ln.takeGen(tc)
		cs := tc.ConnectionState()
		if len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
			chain := cs.VerifiedChains[0]
			leaf := chain[0]
			if id, err := x509svid.IDFromCert(leaf); err == nil && !leaf.IsCA {
				info.peer, info.leaf, info.root = id, leaf, chain[len(chain)-1]
			}
		}
	}
	return context.WithValue(ctx, connKey{}, info)
}

func (in *inbound) emit(r *http.Request, t event.Type, sev event.Severity, caller, rid, reason, detail string) {
	in.events.Emit(event.Event{Type: t, Severity: sev, Route: inboundRoute, ClientIP: clientIP(r.RemoteAddr),
		Principal: caller, RequestID: rid, Reason: reason, Detail: detail})
}

func (in *inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := requestID(r)
	info, _ := r.Context().Value(connKey{}).(*connInfo)
	if info == nil || info.peer.IsZero() {
		in.emit(r, Denied, event.High, "", rid, ReasonNoPeerID, r.Method+" "+logPath(r.URL.EscapedPath()))
		reject(w, http.StatusForbidden, "forbidden", rid, true)
		return
	}
	caller := info.peer.String()
	deny := func(status int, code string, t event.Type, sev event.Severity, reason, path string, closeConn bool) {
		in.emit(r, t, sev, caller, rid, reason, r.Method+" "+logPath(path))
		reject(w, status, code, rid, closeConn)
	}

	// The handshake checked the caller's SVID once; a keep-alive
	// connection can outlive it, or outlive the root it chains to.
	now := time.Now()
	if now.After(info.leaf.NotAfter) || now.Before(info.leaf.NotBefore) {
		deny(http.StatusForbidden, "forbidden", Denied, event.Medium, ReasonPeerExpired, r.URL.EscapedPath(), true)
		return
	}
	if gen, bundle := in.rot.current(); gen != info.gen {
		if bundle == nil || !bundle.HasX509Authority(info.root) {
			deny(http.StatusForbidden, "forbidden", Denied, event.High, ReasonPeerRootPulled, r.URL.EscapedPath(), true)
			return
		}
		// Made with credentials since rotated: serve this request, then
		// close (HTTP/2: GOAWAY), so the caller handshakes again.
		w.Header().Set("Connection", "close")
	} else if now.Sub(info.born) > in.maxAge {
		w.Header().Set("Connection", "close")
	}

	// Tunnels would carry traffic the policy never sees.
	if r.Method == http.MethodConnect {
		deny(http.StatusBadRequest, "bad_request", BadRequest, event.Medium, "connect", r.RequestURI, true)
		return
	}
	if r.Header.Get("Upgrade") != "" {
		deny(http.StatusBadRequest, "bad_request", BadRequest, event.Medium, "upgrade", r.URL.EscapedPath(), true)
		return
	}
	if len(r.RequestURI) == 0 || r.RequestURI[0] != '/' {
		deny(http.StatusBadRequest, "bad_request", BadRequest, event.Medium, "request_target_form", r.RequestURI, true)
		return
	}

	// One canonical view of the path: the policy and the app see the same.
	raw := r.RequestURI
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	canon, semicolon, err := canonpath.Canonical(raw)
	if err != nil {
		reason := "invalid_path"
		var ce *canonpath.Error
		if errors.As(err, &ce) {
			reason = ce.Reason
		}
		deny(http.StatusBadRequest, "bad_request", BadRequest, event.Medium, reason, raw, false)
		return
	}
	if semicolon {
		// Servlet-style path parameters make one path mean two things;
		// templates have no way to allow them.
		deny(http.StatusBadRequest, "bad_request", BadRequest, event.Medium, "semicolon", raw, false)
		return
	}
	if reason := in.policy.allow(info.peer, r.Method, canon); reason != "" {
		deny(http.StatusForbidden, "forbidden", Denied, event.Medium, reason, canon, false)
		return
	}

	if stripHeaders(r.Header) {
		in.emit(r, SpoofedHeader, event.Medium, caller, rid, "internal_headers", "caller sent X-Rampart-* headers; removed")
	}
	r.Header[CallerHeader] = []string{caller}
	r.Header[requestIDHeader] = []string{rid}
	if strings.IndexByte(canon, '%') < 0 {
		r.URL.Path, r.URL.RawPath = canon, ""
	} else if p, err := url.PathUnescape(canon); err == nil {
		r.URL.Path, r.URL.RawPath = p, canon
	}
	in.proxy.ServeHTTP(w, r)
}

func (in *inbound) appError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the caller went away; nobody is listening
	}
	rid := r.Header.Get(requestIDHeader)
	caller := r.Header.Get(CallerHeader)
	in.emit(r, AppUnavailable, event.Low, caller, rid, "app_error", "")
	in.log.Warn("mesh: app request failed", "request_id", rid, "caller", caller, "error", err.Error())
	reject(w, http.StatusBadGateway, "bad_gateway", rid, false)
}
