package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"
	"time"
)

func TestTryTimeoutRetriesOnNextTarget(t *testing.T) {
	hung := newBackend(t, "hung", hangUntilGone(t))
	ok := newBackend(t, "ok", nil)
	p := newPool(t, Options{Targets: urls(hung, ok), TryTimeout: 200 * time.Millisecond, Retries: 1})
	for range 4 {
		if got := mustFetch(t, p, "/"); got != "ok" {
			t.Fatalf("got %q", got)
		}
	}
	if hung.hits.Load() == 0 {
		t.Fatal("the hanging target was never tried; the test proves nothing")
	}
	if ok.hits.Load() != 4 {
		t.Fatalf("ok target got %d requests, want 4", ok.hits.Load())
	}
}

func TestTryTimeoutWithoutRetriesIsADeadlineError(t *testing.T) {
	hung := newBackend(t, "hung", hangUntilGone(t))
	p := newPool(t, Options{Targets: urls(hung), TryTimeout: 20 * time.Millisecond, Passive: PassiveOptions{ConsecutiveFailures: 5}})
	_, _, err := fetch(t, p, http.MethodGet, "/")
	if !isErr(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want context.DeadlineExceeded", err)
	}
	if st := p.Status()[0]; st.ConsecutiveFailures != 1 || st.InFlight != 0 {
		t.Fatalf("status %+v: a timeout must count as a failure and release the slot", st)
	}
}

func TestTotalTimeoutBoundsAllAttempts(t *testing.T) {
	a := newBackend(t, "a", hangUntilGone(t))
	b := newBackend(t, "b", hangUntilGone(t))
	p := newPool(t, Options{Targets: urls(a, b), Timeout: 60 * time.Millisecond, TryTimeout: 40 * time.Millisecond, Retries: 5})
	_, _, err := fetch(t, p, http.MethodGet, "/")
	if !isErr(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "no response headers within timeout") {
		t.Fatalf("err %v: want the total timeout, not a try timeout", err)
	}
	if p.InFlight() != 0 {
		t.Fatalf("in flight %d", p.InFlight())
	}
}

func TestClientCancelIsNotATargetFailure(t *testing.T) {
	entered := make(chan struct{}, 4)
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done()
	})
	p := newPool(t, Options{Targets: urls(b), Retries: 3, TryTimeout: time.Minute,
		Passive: PassiveOptions{ConsecutiveFailures: 1}, Breaker: BreakerOptions{ConsecutiveFailures: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.RoundTrip(newRequest(t, ctx, http.MethodGet, "/", nil))
		errc <- err
	}()
	receive(t, entered, "the request to arrive")
	cancel()
	err := receive(t, errc, "RoundTrip to return")
	if !isErr(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if b.hits.Load() != 1 {
		t.Fatalf("a canceled request was retried: %d attempts", b.hits.Load())
	}
	if st := p.Status()[0]; st.Ejected || st.ConsecutiveFailures != 0 || st.InFlight != 0 {
		t.Fatalf("status %+v after a client cancel", st)
	}
	if p.CircuitState() != CircuitClosed {
		t.Fatal("client cancel opened the circuit")
	}
	// A request whose client is already gone is not sent at all.
	if _, err := p.RoundTrip(newRequest(t, ctx, http.MethodGet, "/", nil)); !isErr(err, context.Canceled) || b.hits.Load() != 1 {
		t.Fatalf("dead client's request: err %v, hits %d", err, b.hits.Load())
	}
}

func TestRetryRules(t *testing.T) {
	const retries = 2
	cases := []struct {
		name     string
		handler  http.HandlerFunc
		method   string
		body     io.Reader
		header   http.Header
		attempts int64
	}{
		{"GET dropped connection is retried", dropConnection, http.MethodGet, nil, nil, 1 + retries},
		{"HEAD dropped connection is retried", dropConnection, http.MethodHead, nil, nil, 1 + retries},
		{"OPTIONS dropped connection is retried", dropConnection, http.MethodOptions, nil, nil, 1 + retries},
		{"GET 502 is retried", status(http.StatusBadGateway), http.MethodGet, nil, nil, 1 + retries},
		{"GET 503 is retried", status(http.StatusServiceUnavailable), http.MethodGet, nil, nil, 1 + retries},
		{"GET 504 is not retried", status(http.StatusGatewayTimeout), http.MethodGet, nil, nil, 1},
		{"GET 500 is not retried", status(http.StatusInternalServerError), http.MethodGet, nil, nil, 1},
		{"POST to a dying target is sent once", dropConnection, http.MethodPost, nil, nil, 1},
		{"POST with body to a dying target is sent once", dropConnection, http.MethodPost, strings.NewReader("x=1"), nil, 1},
		{"POST 503 is not retried", status(http.StatusServiceUnavailable), http.MethodPost, nil, nil, 1},
		{"PATCH is sent once", dropConnection, http.MethodPatch, nil, nil, 1},
		{"PUT is sent once", dropConnection, http.MethodPut, nil, nil, 1},
		{"DELETE is sent once", dropConnection, http.MethodDelete, nil, nil, 1},
		{"GET with a body is sent once", dropConnection, http.MethodGet, strings.NewReader("q"), nil, 1},
		{"GET upgrade is sent once", dropConnection, http.MethodGet, nil,
			http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"websocket"}}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newBackend(t, "b", c.handler)
			p := newPool(t, Options{Targets: urls(b), Retries: retries})
			req := newRequest(t, context.Background(), c.method, "/", c.body)
			for k, v := range c.header {
				req.Header[k] = v
			}
			resp, err := p.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			if got := b.hits.Load(); got != c.attempts {
				t.Fatalf("target saw %d attempts, want %d (err %v)", got, c.attempts, err)
			}
		})
	}
}

func TestRetriesUseDifferentTargets(t *testing.T) {
	a := newBackend(t, "a", dropConnection)
	b := newBackend(t, "b", dropConnection)
	p := newPool(t, Options{Targets: urls(a, b), Retries: 1})
	for range 5 {
		if _, _, err := fetch(t, p, http.MethodGet, "/"); err == nil {
			t.Fatal("a dying pool answered")
		}
	}
	// Every request tried each target once instead of one target twice.
	if a.hits.Load() != 5 || b.hits.Load() != 5 {
		t.Fatalf("attempts a %d, b %d, want 5 each", a.hits.Load(), b.hits.Load())
	}

	// Connect errors are retried elsewhere too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := mustURL(t, "http://"+ln.Addr().String())
	ln.Close()
	d := newBackend(t, "d", nil)
	p2 := newPool(t, Options{Targets: append(urls(d), closed), Retries: 1})
	for range 4 {
		if got := mustFetch(t, p2, "/"); got != "d" {
			t.Fatalf("got %q", got)
		}
	}
}

func TestErrorFromLastAttemptIsReturned(t *testing.T) {
	b := newBackend(t, "b", dropConnection)
	p := newPool(t, Options{Targets: urls(b), Retries: 1})
	_, _, err := fetch(t, p, http.MethodGet, "/")
	if err == nil || errors.Is(err, ErrNoHealthyTarget) || !strings.Contains(err.Error(), b.url.Host) {
		t.Fatalf("err %v: want the transport error naming the target", err)
	}
}

func TestRequestWithoutURLIsRefused(t *testing.T) {
	b := newBackend(t, "b", nil)
	p := newPool(t, Options{Targets: urls(b)})
	req := newRequest(t, context.Background(), http.MethodGet, "/", nil)
	req.URL = nil
	if _, err := p.RoundTrip(req); err == nil || p.InFlight() != 0 {
		t.Fatalf("err %v, in flight %d", err, p.InFlight())
	}
}

// TestStreaming proves that neither body is buffered and that neither
// timeout cuts a body that outlives it.
func TestStreaming(t *testing.T) {
	const timeout = 150 * time.Millisecond
	gotFirst := make(chan struct{})
	sentFirst := make(chan struct{})
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil || string(buf) != "first" {
			http.Error(w, "bad first part", http.StatusBadRequest)
			return
		}
		close(gotFirst)
		rest, _ := io.ReadAll(r.Body)
		_, _ = w.Write([]byte("chunk1:" + string(rest) + ";"))
		w.(http.Flusher).Flush()
		<-sentFirst
		// Let both timeouts pass on purpose: the body must survive them.
		time.Sleep(2 * timeout)
		_, _ = w.Write([]byte("chunk2"))
	})
	p := newPool(t, Options{Targets: urls(b), Timeout: timeout, TryTimeout: timeout})

	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte("first"))
		select {
		case <-gotFirst:
			_, _ = pw.Write([]byte("second"))
			pw.Close()
		case <-time.After(10 * time.Second):
			pw.CloseWithError(errors.New("the upstream never saw the first part: request body buffered"))
		}
	}()
	resp, err := p.RoundTrip(newRequest(t, context.Background(), http.MethodPost, "/", pr))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString(';')
	if err != nil || first != "chunk1:second;" {
		t.Fatalf("first chunk %q, err %v", first, err)
	}
	close(sentFirst)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "chunk2" {
		t.Fatalf("rest %q, err %v: the body was cut", rest, err)
	}
}

func TestCloseKeepsInFlightRequests(t *testing.T) {
	next := make(chan struct{})
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		<-next
		_, _ = w.Write([]byte("b"))
	})
	p := newPool(t, Options{Targets: urls(b)})
	resp, err := p.RoundTrip(newRequest(t, context.Background(), http.MethodGet, "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p.Close()
	close(next)
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "ab" {
		t.Fatalf("body %q, err %v after Close", body, err)
	}
}

// TestWebSocketUpgrade runs a real upgrade handshake through
// httputil.ReverseProxy with the pool as its transport, then echoes bytes
// for longer than both timeouts.
func TestWebSocketUpgrade(t *testing.T) {
	const timeout = 150 * time.Millisecond
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "echo") || r.Host == "" {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(c, brw)
	})
	p := newPool(t, Options{Targets: urls(b), Timeout: timeout, TryTimeout: timeout, Retries: 2})
	front := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) {},
		Transport: p,
	})
	t.Cleanup(front.Close)

	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: gw.example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	echo := func(msg string) {
		t.Helper()
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q, err %v", buf, err)
		}
	}
	echo("hello")
	// Let both timeouts pass on purpose: the upgraded stream must survive.
	time.Sleep(2 * timeout)
	echo("still here")
	conn.Close()
	waitFor(t, "the upgraded connection to be released", func() bool { return p.InFlight() == 0 })
	if b.hits.Load() != 1 {
		t.Fatalf("upgrade sent %d times", b.hits.Load())
	}
}
