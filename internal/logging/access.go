package logging

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// AccessRecord is one request in the access log. The JSON keys are fixed (see
// AccessKeys) and none of them names a credential, so only values go through
// redaction.
type AccessRecord struct {
	Time      time.Time
	RequestID string
	ClientIP  string
	Method    string
	Host      string
	Path      string
	Query     string // pass it through SanitizeQuery first
	Proto     string
	Status    int
	Bytes     int64
	Duration  time.Duration
	Route     string
	Error     string
	UserAgent string
}

// AccessKeys are the keys of an access log line, in order.
var AccessKeys = []string{"time", "level", "msg", "request_id", "client_ip", "method", "host", "path", "query",
	"proto", "status", "bytes", "duration_ms", "route", "error", "user_agent"}

// AccessLog writes one JSON line per request, in the same shape as the slog
// JSON loggers ("time", "level":"INFO", "msg":"access", then the fields).
//
// It exists because the access log is on every request's path: encoding a
// fixed record directly costs a fraction of slog's generic attribute walk
// with a ReplaceAttr hook (BenchmarkAccessLog vs BenchmarkAccessLogSlog), and
// that walk was the largest single cost the gateway added to a proxied
// request. Redaction is the same as New's: every string value that looks like
// a bearer credential is masked, then the optional Redactor (where PII
// detection plugs in) sees it.
type AccessLog struct {
	w      io.Writer
	redact Redactor
	mu     sync.Mutex // one line per Write, never interleaved
	bufs   sync.Pool
}

// NewAccessLog returns an access log writing to w (wrap files in a
// BufferedWriter). redact may be nil.
func NewAccessLog(w io.Writer, redact Redactor) *AccessLog {
	return &AccessLog{w: w, redact: redact, bufs: sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}}
}

// Log writes r as one line. Write errors are dropped: the access log must never
// fail a request.
func (l *AccessLog) Log(r *AccessRecord) {
	bp := l.bufs.Get().(*[]byte)
	b := l.Append((*bp)[:0], r)
	l.mu.Lock()
	l.w.Write(b)
	l.mu.Unlock()
	if cap(b) <= 16<<10 {
		*bp = b
		l.bufs.Put(bp)
	}
}

// Append appends r's line (with its newline) to b.
func (l *AccessLog) Append(b []byte, r *AccessRecord) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"access"`...)
	// Values the gateway made or validated (its request id, a parsed
	// address, an HTTP token method, the protocol, its route names) cannot
	// carry a client's secrets or PII, so only what a client writes freely
	// (host, path, query, user agent) and the error go through redaction.
	b = plain(b, "request_id", r.RequestID)
	b = plain(b, "client_ip", r.ClientIP)
	b = plain(b, "method", r.Method)
	b = l.str(b, "host", r.Host)
	b = l.str(b, "path", r.Path)
	b = l.str(b, "query", r.Query)
	b = plain(b, "proto", r.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, r.Bytes, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(r.Duration.Microseconds())/1000, 'f', -1, 64)
	b = plain(b, "route", r.Route)
	b = l.str(b, "error", r.Error) // short, but may quote what failed
	b = l.str(b, "user_agent", r.UserAgent)
	return append(b, "}\n"...)
}

func (l *AccessLog) str(b []byte, key, v string) []byte {
	if LooksLikeToken(v) {
		v = Redacted
	} else if l.redact != nil {
		v = l.redact(key, v)
	}
	return plain(b, key, v)
}

// plain appends a field without redaction (still JSON-escaped).
func plain(b []byte, key, v string) []byte {
	b = append(b, `,"`...)
	b = append(b, key...) // fixed keys: plain ASCII, no escaping needed
	b = append(b, `":`...)
	return AppendJSONString(b, v)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// control characters, U+2028 and U+2029 are escaped, as encoding/json does, so
// a line always parses and log viewers cannot be tricked by raw control bytes.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
