package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

const healthPath = "/healthz"

// backend is a real upstream on 127.0.0.1 that counts the requests it gets
// (health checks excluded) and answers with its name unless h says otherwise.
type backend struct {
	*httptest.Server
	name string
	hits atomic.Int64
	url  *url.URL
}

func newBackend(t testing.TB, name string, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{name: name}
	b.Server = httptest.NewServer(b.handler(h))
	t.Cleanup(b.Close)
	b.url = mustURL(t, b.URL)
	return b
}

func (b *backend) handler(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != healthPath {
			b.hits.Add(1)
		}
		if h == nil {
			_, _ = io.WriteString(w, b.name)
			return
		}
		h(w, r)
	})
}

// hangUntilGone answers nothing until the client gives up or the test ends.
func hangUntilGone(t *testing.T) http.HandlerFunc {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}
}

// dropConnection closes the TCP connection without a response, with a reset.
func dropConnection(w http.ResponseWriter, _ *http.Request) {
	c, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func urls(bs ...*backend) []*url.URL {
	out := make([]*url.URL, len(bs))
	for i, b := range bs {
		out[i] = b.url
	}
	return out
}

func newPool(t testing.TB, o Options) *Pool {
	t.Helper()
	if o.Name == "" {
		o.Name = "test"
	}
	p, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// fakeClock drives ejection and breaker windows so tests need not wait.
type fakeClock struct{ n atomic.Int64 }

func (c *fakeClock) now() int64              { return c.n.Load() }
func (c *fakeClock) advance(d time.Duration) { c.n.Add(int64(d)) }

func withFakeClock(p *Pool) *fakeClock {
	c := &fakeClock{}
	p.clock = c.now
	return c
}

func newRequest(t testing.TB, ctx context.Context, method, path string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, "http://gateway.invalid"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// fetch sends one request through p and reads the whole answer.
func fetch(t testing.TB, p *Pool, method, path string) (code int, body string, err error) {
	t.Helper()
	resp, err := p.RoundTrip(newRequest(t, context.Background(), method, path, nil))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// mustFetch expects an answer from some target and returns its body.
func mustFetch(t testing.TB, p *Pool, path string) string {
	t.Helper()
	code, body, err := fetch(t, p, http.MethodGet, path)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: code %d, err %v", path, code, err)
	}
	return body
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// receive waits for a value on ch with a generous deadline.
func receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

type healthEvent struct {
	target  string
	healthy bool
}

func recordHealth(o *Options) <-chan healthEvent {
	ch := make(chan healthEvent, 64)
	o.OnHealthChange = func(target string, healthy bool) { ch <- healthEvent{target, healthy} }
	return ch
}

func isErr(err, target error) bool { return err != nil && errors.Is(err, target) }
