package respcache

import (
	"net/http"
	"testing"
	"time"
)

// discard is a ResponseWriter that keeps nothing, so benchmarks measure the
// cache and not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

func benchHandler(b *testing.B, p Policy) *Handler {
	b.Helper()
	c, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 2048)
	h, err := c.Wrap("bench", p, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Cache-Control", "public, max-age=60")
		hdr.Set("Etag", `"abc"`)
		_, _ = w.Write(body)
	}))
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// A private-scope hit from memory: key, lookup, headers and a 2 KiB body.
func BenchmarkHit(b *testing.B) {
	h := benchHandler(b, Policy{TTL: time.Hour, Vary: []string{"Accept-Language"}})
	r := request(http.MethodGet, "/accounts/42?fields=name&expand=owner", alice, "Accept-Language", "en")
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, r)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	if s := h.Stats(); s.Hits == 0 || s.Misses != 1 {
		b.Fatalf("stats %+v", s)
	}
}

// A miss: the clock moves past the TTL before every request, so each one
// finds its entry stale, forwards, captures the answer and stores it.
func BenchmarkMiss(b *testing.B) {
	clk := newClock()
	h := benchHandler(b, Policy{TTL: time.Minute, Vary: []string{"Accept-Language"}})
	h.c.now = clk.now
	r := request(http.MethodGet, "/accounts/42?fields=name&expand=owner", alice, "Accept-Language", "en")
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		clk.advance(time.Hour)
		h.ServeHTTP(w, r)
	}
	if s := h.Stats(); s.Hits != 0 || s.Stored == 0 {
		b.Fatalf("stats %+v", s)
	}
}

// A private-scope hit from Redis: one GET round trip and a decode.
func BenchmarkHitRedis(b *testing.B) {
	c, prefix := testRedis(b)
	s := newTestRedisStore(b, c, prefix)
	h := benchHandler(b, Policy{TTL: time.Hour, Vary: []string{"Accept-Language"}})
	h.c.store = s
	r := request(http.MethodGet, "/accounts/42?fields=name&expand=owner", alice, "Accept-Language", "en")
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, r)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
	if s := h.Stats(); s.Hits == 0 || s.Misses != 1 {
		b.Fatalf("stats %+v", s)
	}
}
