package redact

import (
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// accessLine is a typical access-log line (265 bytes: time, method, path,
// query, status, client ip, user agent) with nothing to mask.
const accessLine = `{"time":"2026-11-30T10:00:00.123456Z","method":"GET","path":"/v1/orders/12345/items",` +
	`"query":"page=2&sort=desc","status":200,"client_ip":"203.0.113.42",` +
	`"user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}`

// fullLine is a line of logging.AccessLog, all sixteen fields (428 bytes),
// with nothing to mask.
const fullLine = `{"time":"2026-11-30T10:00:00.123456Z","level":"INFO","msg":"access","request_id":"5f0c2a9e7b1d3c4a6e8f0b2d",` +
	`"client_ip":"203.0.113.42","method":"GET","host":"api.example.com","path":"/v1/orders/12345/items","query":"page=2&sort=desc",` +
	`"proto":"HTTP/2.0","status":200,"bytes":5123,"duration_ms":12.5,"route":"orders",` +
	`"user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"}`

// dirtyLine is accessLine with an e-mail address in the query, a card in the
// path and a bearer token in an error.
const dirtyLine = `{"time":"2026-11-30T10:00:00.123456Z","method":"GET","path":"/v1/cards/4111111111111111",` +
	`"query":"email=alice%40example.com&page=2","status":401,"client_ip":"203.0.113.42",` +
	`"error":"rejected Bearer mF_9.B5f-4.1JqM","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"}`

func newBench(b *testing.B, o Options) *Redactor {
	r, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	return r
}

// BenchmarkClean is the common case: a line with nothing to mask. It must
// not allocate.
func BenchmarkClean(b *testing.B) {
	r := newBench(b, Options{})
	b.SetBytes(int64(len(accessLine)))
	for b.Loop() {
		if r.String(accessLine) != accessLine {
			b.Fatal("changed")
		}
	}
}

// BenchmarkCleanFull is BenchmarkClean on a full logging.AccessLog line.
func BenchmarkCleanFull(b *testing.B) {
	r := newBench(b, Options{})
	b.SetBytes(int64(len(fullLine)))
	for b.Loop() {
		if r.String(fullLine) != fullLine {
			b.Fatal("changed")
		}
	}
}

// BenchmarkDirty masks three values in a line of the same size.
func BenchmarkDirty(b *testing.B) {
	r := newBench(b, Options{})
	b.SetBytes(int64(len(dirtyLine)))
	for b.Loop() {
		r.String(dirtyLine)
	}
}

// BenchmarkDirtyAppend is BenchmarkDirty into a reused buffer.
func BenchmarkDirtyAppend(b *testing.B) {
	r := newBench(b, Options{})
	b.SetBytes(int64(len(dirtyLine)))
	buf := make([]byte, 0, 1024)
	for b.Loop() {
		buf = r.Append(buf[:0], dirtyLine)
	}
}

// BenchmarkDirtyHash is BenchmarkDirty with keyed-hash masks.
func BenchmarkDirtyHash(b *testing.B) {
	r := newBench(b, Options{Style: Hash, HashKey: []byte("0123456789abcdef0123456789abcdef")})
	b.SetBytes(int64(len(dirtyLine)))
	for b.Loop() {
		r.String(dirtyLine)
	}
}

// BenchmarkFields is the access log's way: one Field call per value.
func BenchmarkFields(b *testing.B) {
	r := newBench(b, Options{})
	fields := [][2]string{
		{"request_id", "5f0c2a9e7b1d3c4a6e8f0b2d"}, {"client_ip", "203.0.113.42"}, {"method", "GET"},
		{"host", "api.example.com"}, {"path", "/v1/orders/12345/items"}, {"query", "page=2&sort=desc"},
		{"proto", "HTTP/2.0"}, {"route", "orders"}, {"error", ""},
		{"user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"},
	}
	for b.Loop() {
		for _, f := range fields {
			if r.Field(f[0], f[1]) != f[1] {
				b.Fatal("changed")
			}
		}
	}
}

// BenchmarkLongText is 64 KiB of prose-like log text without findings, for
// the cost per byte.
func BenchmarkLongText(b *testing.B) {
	r := newBench(b, Options{})
	s := strings.Repeat("GET /v1/orders/12345 took 12ms status=200 user=bob region=eu-west-1; ", 1000)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		r.String(s)
	}
}

// BenchmarkHandler logs one record with a few attributes through the
// redacting handler into a JSON handler.
func BenchmarkHandler(b *testing.B) {
	r := newBench(b, Options{})
	log := slog.New(r.Handler(slog.NewJSONHandler(io.Discard, nil)))
	for b.Loop() {
		log.Info("request done", "path", "/v1/orders/12345", "status", 200, "user", "bob", "ms", 12.5)
	}
}

// BenchmarkHandlerBaseline is BenchmarkHandler without redaction.
func BenchmarkHandlerBaseline(b *testing.B) {
	b.ReportAllocs()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for b.Loop() {
		log.Info("request done", "path", "/v1/orders/12345", "status", 200, "user", "bob", "ms", 12.5)
	}
}

// BenchmarkCleanByKind is BenchmarkClean with one detector at a time, to
// see what each costs on a line it finds nothing in.
func BenchmarkCleanByKind(b *testing.B) {
	for _, k := range AllKinds() {
		b.Run(k.String(), func(b *testing.B) {
			r := newBench(b, Options{Kinds: []Kind{k}})
			for b.Loop() {
				r.String(accessLine)
			}
		})
	}
}

var sink int

// BenchmarkByteLoop is the floor: one class-table lookup per byte of the
// access line, nothing else. On a noisy or slow machine, read the other
// benchmarks as multiples of this one.
func BenchmarkByteLoop(b *testing.B) {
	b.SetBytes(int64(len(accessLine)))
	for b.Loop() {
		n := 0
		for i := 0; i < len(accessLine); i++ {
			if class[accessLine[i]]&cAlnum != 0 {
				n++
			}
		}
		sink = n
	}
}

// emailRE is a usual e-mail pattern, for BenchmarkRegexpEmail.
var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)

// BenchmarkRegexpEmail runs one e-mail regexp over the access line: the
// regexp for a single detector costs several times all ten hand-written
// ones (BenchmarkClean), which is why there is no regexp on the hot path.
func BenchmarkRegexpEmail(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(accessLine)))
	for b.Loop() {
		if emailRE.MatchString(accessLine) {
			b.Fatal("match")
		}
	}
}
