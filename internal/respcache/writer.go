package respcache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// captureWriter passes a forwarded response through to the client and keeps
// a copy while it may still be stored.
type captureWriter struct {
	w      http.ResponseWriter
	h      *Handler
	head   bool   // the request is HEAD: no body is expected
	auth   bool   // the request carried a principal
	status string // Cache-Status to send; "" for miss or uncacheable
	// skip are the headers already set before the upstream answered: they
	// belong to this request (its id...), not to the response.
	skip []string

	wrote    bool
	keep     bool // still storable
	code     int
	header   http.Header
	declared int64 // Content-Length, or -1
	created  time.Time
	expires  time.Time
	body     []byte
}

func newCaptureWriter(w http.ResponseWriter, h *Handler, head, auth bool, status string) *captureWriter {
	cw := &captureWriter{w: w, h: h, head: head, auth: auth, status: status, declared: -1}
	for k := range w.Header() {
		cw.skip = append(cw.skip, k)
	}
	return cw
}

func (cw *captureWriter) Header() http.Header { return cw.w.Header() }

// Unwrap lets http.ResponseController reach the client's writer (Flush).
func (cw *captureWriter) Unwrap() http.ResponseWriter { return cw.w }

func (cw *captureWriter) WriteHeader(code int) {
	if cw.wrote || code < 200 {
		// Informational answers (103 Early Hints) pass; so do superfluous
		// calls, for net/http to complain about.
		cw.w.WriteHeader(code)
		return
	}
	cw.wrote, cw.code = true, code
	hdr := cw.w.Header()
	now := cw.h.c.now()
	d := cw.h.policy.decide(code, hdr, cw.auth, now)
	cw.keep = d.reason == ""
	status := cw.status
	switch {
	case cw.keep:
		cw.header = storedHeader(hdr, cw.skip)
		cw.created, cw.expires = now.Add(-d.age), now.Add(d.lifetime)
		if n, err := strconv.ParseInt(hdr.Get("Content-Length"), 10, 64); err == nil {
			cw.declared = n
			if !cw.head {
				cw.body = make([]byte, 0, n)
			}
		}
		if status == "" {
			status = statusMiss
		}
	case d.reason == notUnkeyedVary:
		cw.h.unkeyedVary(d.header)
	}
	if status == "" {
		status = statusUncacheable
	}
	hdr[StatusHeader] = append(hdr[StatusHeader], status)
	cw.w.WriteHeader(code)
}

func (cw *captureWriter) Write(p []byte) (int, error) {
	if !cw.wrote {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.keep {
		if int64(len(cw.body)+len(p)) > cw.h.policy.maxBody {
			cw.keep, cw.body = false, nil
		} else {
			cw.body = append(cw.body, p...)
		}
	}
	return cw.w.Write(p)
}

// entry is the response as it may be stored under key, or nil when it may
// not: not storable, too large, its body shorter or longer than declared
// (an upstream that broke off mid-body), or followed by trailers that were
// not announced (they would be lost).
func (cw *captureWriter) entry(key string) *Entry {
	if !cw.keep {
		return nil
	}
	if !cw.head && cw.declared >= 0 && int64(len(cw.body)) != cw.declared {
		return nil
	}
	for k := range cw.w.Header() {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return nil
		}
	}
	return &Entry{Key: key, Status: cw.code, Header: cw.header, Body: slices.Clip(cw.body),
		Created: cw.created, Expires: cw.expires}
}
