package mesh

import (
	"net/http"

	"github.com/rampart-sec/rampart/internal/requestid"
)

// Headers the sidecar sets.
const (
	// CallerHeader carries the verified SPIFFE ID of the caller to the app.
	CallerHeader = "X-Rampart-Caller"
	// identityHeader is the gateway's signed identity token
	// (sdk/principal.IdentityHeader). It is the one X-Rampart-* header a
	// caller may send: the app verifies its signature and audience, so
	// passing it on grants nothing, and the gateway reaches meshed services
	// through their sidecars.
	identityHeader   = "X-Rampart-Identity"
	requestIDHeader  = "X-Request-Id"
	internalPrefix   = "X-Rampart-"
	maxLoggedPathLen = 256
)

// stripHeaders removes what only the sidecar may assert: X-Rampart-*
// (except the signed identity token) and the forwarding headers, which the
// app would otherwise believe. Names are compared with '_' as '-', because
// some servers and frameworks (CGI, WSGI, nginx with
// underscores_in_headers) map X_Rampart_Caller onto X-Rampart-Caller. It
// reports whether X-Rampart-* headers were present.
func stripHeaders(h http.Header) bool {
	spoofed := false
	for k := range h {
		switch {
		case len(k) >= len(internalPrefix) && sameName(k[:len(internalPrefix)], internalPrefix):
			if k == identityHeader {
				continue
			}
			delete(h, k)
			spoofed = true
		case sameName(k, "Forwarded"), sameName(k, "X-Forwarded-For"), sameName(k, "X-Forwarded-Host"),
			sameName(k, "X-Forwarded-Proto"), sameName(k, "X-Real-Ip"):
			delete(h, k)
		}
	}
	return spoofed
}

// sameName compares header names ASCII case-insensitively with '_' == '-'.
func sameName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// reject writes a short JSON error: the code and the request id, no detail.
func reject(w http.ResponseWriter, status int, code, requestID string, closeConn bool) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if closeConn {
		h.Set("Connection", "close")
	}
	w.WriteHeader(status)
	// code and requestID come from fixed sets and a checked alphabet: no escaping needed.
	w.Write([]byte(`{"error":"` + code + `","request_id":"` + requestID + `"}` + "\n"))
}

// requestID keeps a well-formed X-Request-Id from the caller (the gateway
// or a caller's sidecar), so one request has one id along the chain, and
// makes one otherwise (120 random bits).
func requestID(r *http.Request) string {
	if id := r.Header.Get(requestIDHeader); requestid.Valid(id) {
		return id
	}
	return requestid.New()
}

// logPath bounds an attacker-chosen path for events and logs.
func logPath(p string) string {
	if len(p) > maxLoggedPathLen {
		return p[:maxLoggedPathLen]
	}
	return p
}

// bufferPool recycles the proxies' copy buffers.
type bufferPool struct{ ch chan []byte }

func newBufferPool() *bufferPool { return &bufferPool{ch: make(chan []byte, 256)} }

func (b *bufferPool) Get() []byte {
	select {
	case buf := <-b.ch:
		return buf
	default:
		return make([]byte, 32<<10)
	}
}

func (b *bufferPool) Put(buf []byte) {
	select {
	case b.ch <- buf:
	default:
	}
}
