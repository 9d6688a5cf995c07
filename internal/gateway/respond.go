package gateway

import (
	"net/http"
)

// reject writes a short JSON error with the request id and nothing else: no
// internals, no echo of the input. The details go to the log and the event.
func reject(w http.ResponseWriter, status int, code, requestID string, closeConn bool) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if closeConn {
		h.Set("Connection", "close")
	}
	w.WriteHeader(status)
	// code and requestID are from fixed sets / validated alphabets: no escaping needed.
	w.Write([]byte(`{"error":"` + code + `","request_id":"` + requestID + `"}` + "\n"))
}

// recorder captures the status and size of a response for metrics and the
// access log. It unwraps for http.ResponseController (Flush, Hijack, deadlines).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 || r.status < 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Flush lets streaming responses through without the proxy probing Unwrap.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
