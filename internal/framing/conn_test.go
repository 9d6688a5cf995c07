package framing

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ioDeadline only keeps a broken test from hanging; no test asserts timing.
const ioDeadline = 10 * time.Second

// reportHandler answers like the gateway: 400 and Connection: close on a
// poisoned connection, otherwise a summary of what it served.
func reportHandler(w http.ResponseWriter, r *http.Request) {
	c := FromContext(r.Context())
	if c == nil {
		fmt.Fprintf(w, "unwrapped proto=%s", r.Proto)
		return
	}
	if v := c.Violation(); v != "" {
		w.Header().Set("Connection", "close")
		http.Error(w, "violation="+v, http.StatusBadRequest)
		return
	}
	if r.URL.Path == "/tunnel" && r.Header.Get("Upgrade") != "" {
		serveTunnel(w, c)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	fmt.Fprintf(w, "ok %s %s body=%d tls=%t", r.Method, r.URL.Path, len(body), c.TLS() != nil)
}

// serveTunnel switches protocols, reads tunnel data up to "END" and reports
// whether the tunnel bytes were flagged.
func serveTunnel(w http.ResponseWriter, c *Conn) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer nc.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	brw.Flush()
	nc.SetReadDeadline(time.Now().Add(ioDeadline))
	var got []byte
	for !strings.HasSuffix(string(got), "END") {
		b, err := brw.ReadByte()
		if err != nil {
			return
		}
		got = append(got, b)
	}
	fmt.Fprintf(nc, "tunnel violation=%q\n", c.Violation())
}

func startServer(t *testing.T, inner net.Listener, o Options, protocols *http.Protocols) string {
	t.Helper()
	ln := NewListener(inner, o)
	srv := &http.Server{
		Handler:           http.HandlerFunc(reportHandler),
		ConnContext:       ConnContext,
		ReadHeaderTimeout: ioDeadline,
		Protocols:         protocols,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return inner.Addr().String()
}

func listenTCP(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln
}

type result struct {
	status int
	body   string
}

// exchange writes each part to c, then reads responses until the server
// closes the connection. It reports the responses.
func exchange(t *testing.T, c net.Conn, parts ...string) []result {
	t.Helper()
	c.SetDeadline(time.Now().Add(ioDeadline))
	for _, p := range parts {
		if _, err := io.WriteString(c, p); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	return readResponses(t, bufio.NewReader(c), -1)
}

// readResponses reads n responses, or until EOF when n < 0.
func readResponses(t *testing.T, br *bufio.Reader, n int) []result {
	t.Helper()
	var out []result
	for n < 0 || len(out) < n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err) {
				return out
			}
			t.Fatalf("read response: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("read response body: %v", err)
		}
		out = append(out, result{resp.StatusCode, strings.TrimSpace(string(b))})
	}
	return out
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func TestServerFraming(t *testing.T) {
	const (
		host      = "Host: x\r\n"
		closeConn = "Connection: close\r\n"
		clte      = "violation=" + ReasonContentLengthWithTransferEncoding
	)
	bodyText := smuggleBodyText
	tests := []struct {
		name  string
		parts []string
		want  []result
	}{
		{name: "CL then TE", parts: []string{"POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
			want: []result{{400, clte}}},
		{name: "TE then CL", parts: []string{"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
			want: []result{{400, clte}}},
		{name: "case variants", parts: []string{"POST / HTTP/1.1\r\n" + host + "content-LENGTH: 5\r\nTRANSFER-encoding: ChUnKeD\r\n\r\n0\r\n\r\n"},
			want: []result{{400, clte}}},
		{name: "TE chunked with CL 0", parts: []string{"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
			want: []result{{400, clte}}},
		{name: "smuggle refuses the pipelined request after it", parts: []string{
			"POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\n" + host + "\r\n"},
			want: []result{{400, clte}}},
		{name: "TE on HTTP/1.0 keep-alive", parts: []string{
			"POST / HTTP/1.0\r\n" + host + "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\n" + host + "\r\n"},
			want: []result{{400, "violation=" + ReasonTransferEncodingHTTP10}}},
		{name: "obs-fold", parts: []string{"GET / HTTP/1.1\r\n" + host + "X-A: a\r\n b\r\n\r\n"},
			want: []result{{400, "violation=" + ReasonObsFold}}},
		{name: "bare LF", parts: []string{"GET / HTTP/1.1\n" + host + "\r\n"},
			want: []result{{400, "violation=" + ReasonBareLF}}},

		{name: "honest GET", parts: []string{"GET /a HTTP/1.1\r\n" + host + closeConn + "\r\n"},
			want: []result{{200, "ok GET /a body=0 tls=false"}}},
		{name: "honest POST whose body is header text", parts: []string{
			"POST /p HTTP/1.1\r\n" + host + closeConn + "Content-Length: " + strconv.Itoa(len(bodyText)) + "\r\n\r\n",
			bodyText[:20], bodyText[20:]},
			want: []result{{200, "ok POST /p body=" + strconv.Itoa(len(bodyText)) + " tls=false"}}},
		{name: "honest chunked POST whose body is header text", parts: []string{
			"POST /c HTTP/1.1\r\n" + host + closeConn + "Transfer-Encoding: chunked\r\n\r\n",
			strconv.FormatInt(int64(len(bodyText)), 16) + ";ext=1\r\n" + bodyText[:10], bodyText[10:] + "\r\n0\r\nX-Trailer: 1\r\n\r\n"},
			want: []result{{200, "ok POST /c body=" + strconv.Itoa(len(bodyText)) + " tls=false"}}},
		{name: "honest pipelined", parts: []string{
			"GET /1 HTTP/1.1\r\n" + host + "\r\n" +
				"POST /2 HTTP/1.1\r\n" + host + "Content-Length: 2\r\n\r\nhi\r\n" +
				"GET /3 HTTP/1.1\r\n" + host + closeConn + "\r\n"},
			want: []result{{200, "ok GET /1 body=0 tls=false"}, {200, "ok POST /2 body=2 tls=false"}, {200, "ok GET /3 body=0 tls=false"}}},
		{name: "Upgrade-Insecure-Requests is not an upgrade", parts: []string{
			"GET /u HTTP/1.1\r\n" + host + "Upgrade-Insecure-Requests: 1\r\n\r\n" +
				"POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
			want: []result{{400, clte}}},
	}
	addr := startServer(t, listenTCP(t), Options{}, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			got := exchange(t, c, tc.parts...)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("responses = %v, want %v (then close)", got, tc.want)
			}
		})
	}
}

// TestServerPoisonsLaterRequest: a connection that served an honest request
// is refused and closed at its first ambiguous one, including after the
// CR/LF that Go skips following a POST.
func TestServerPoisonsLaterRequest(t *testing.T) {
	addr := startServer(t, listenTCP(t), Options{}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioDeadline))
	br := bufio.NewReader(c)

	io.WriteString(c, "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
	if got := readResponses(t, br, 1); fmt.Sprint(got) != fmt.Sprint([]result{{200, "ok POST /first body=2 tls=false"}}) {
		t.Fatalf("honest request: %v", got)
	}
	io.WriteString(c, "\r\nPOST /second HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n")
	want := []result{{400, "violation=" + ReasonContentLengthWithTransferEncoding}}
	if got := readResponses(t, br, -1); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("smuggling request: %v, want %v then close", got, want)
	}
}

// TestServerUpgradeStopsInspection: tunnel bytes after a switch of protocols
// look like a smuggling probe but are not HTTP and must not be flagged.
func TestServerUpgradeStopsInspection(t *testing.T) {
	addr := startServer(t, listenTCP(t), Options{}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioDeadline))
	io.WriteString(c, "GET /tunnel HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(c, "POST / HTTP/1.1\r\n"+smuggleBodyText+"0\r\n\r\nEND")
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read tunnel reply: %v", err)
	}
	if want := "tunnel violation=\"\"\n"; line != want {
		t.Fatalf("tunnel reply %q, want %q", line, want)
	}
}

func TestContext(t *testing.T) {
	if FromContext(context.Background()) != nil {
		t.Fatal("FromContext of an empty context is not nil")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if FromContext(ConnContext(context.Background(), a)) != nil {
		t.Fatal("ConnContext stored a connection that is not a *Conn")
	}
	fc := newConn(a, nil)
	if FromContext(ConnContext(context.Background(), fc)) != fc {
		t.Fatal("FromContext did not return the stored *Conn")
	}
}

// testTLS returns a server config with a fresh self-signed certificate for
// 127.0.0.1, and a pool that trusts it.
func testTLS(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatalf("serial: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "framing test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}, pool
}

func dialTLS(t *testing.T, addr string, pool *x509.CertPool, protos ...string) *tls.Conn {
	t.Helper()
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: ioDeadline},
		Config:    &tls.Config{RootCAs: pool, NextProtos: protos, ServerName: "127.0.0.1"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioDeadline)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	return c.(*tls.Conn)
}

func TestTLSHTTP1(t *testing.T) {
	cfg, pool := testTLS(t)
	addr := startServer(t, listenTCP(t), Options{TLSConfig: cfg}, nil)

	c := dialTLS(t, addr, pool, "http/1.1")
	defer c.Close()
	got := exchange(t, c, "GET /t HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if want := []result{{200, "ok GET /t body=0 tls=true"}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("honest request over TLS: %v, want %v", got, want)
	}

	c2 := dialTLS(t, addr, pool) // no ALPN at all: HTTP/1.1
	defer c2.Close()
	got = exchange(t, c2, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if want := []result{{400, "violation=" + ReasonContentLengthWithTransferEncoding}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("smuggling over TLS: %v, want %v", got, want)
	}
}

func TestTLSHTTP2(t *testing.T) {
	explicit := new(http.Protocols)
	explicit.SetHTTP1(true)
	explicit.SetHTTP2(true)
	for name, protocols := range map[string]*http.Protocols{"default protocols": nil, "explicit protocols": explicit} {
		t.Run(name, func(t *testing.T) {
			cfg, pool := testTLS(t)
			addr := startServer(t, listenTCP(t), Options{TLSConfig: cfg}, protocols)
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: ioDeadline}
			resp, err := client.Get("https://" + addr + "/h2")
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.ProtoMajor != 2 || string(body) != "unwrapped proto=HTTP/2.0" {
				t.Fatalf("got %s %q, want HTTP/2.0 served on the unwrapped *tls.Conn", resp.Proto, body)
			}
		})
	}
}

// notifyListener reports every connection its inner listener accepts.
type notifyListener struct {
	net.Listener
	accepted chan net.Conn
}

func (l *notifyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- c
	}
	return c, err
}

func newNotifyListener(t *testing.T) *notifyListener {
	return &notifyListener{Listener: listenTCP(t), accepted: make(chan net.Conn, 16)}
}

func waitAccepted(t *testing.T, l *notifyListener) {
	t.Helper()
	select {
	case <-l.accepted:
	case <-time.After(ioDeadline):
		t.Fatal("connection was not accepted")
	}
}

// TestTLSSlowHandshakeDoesNotBlock: clients that never finish their handshake
// do not delay another client's handshake and request.
func TestTLSSlowHandshakeDoesNotBlock(t *testing.T) {
	cfg, pool := testTLS(t)
	inner := newNotifyListener(t)
	addr := startServer(t, inner, Options{TLSConfig: cfg, HandshakeTimeout: time.Hour}, nil)

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer silent.Close()
	partial, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer partial.Close()
	partial.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00}) // a record header, then nothing
	waitAccepted(t, inner)
	waitAccepted(t, inner)

	c := dialTLS(t, addr, pool, "http/1.1")
	defer c.Close()
	got := exchange(t, c, "GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if want := []result{{200, "ok GET /fast body=0 tls=true"}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("request behind pending handshakes: %v, want %v", got, want)
	}
}

// acceptAll accepts from ln until it fails, sending each connection on the
// returned channel, then the error.
func acceptAll(ln net.Listener) (<-chan net.Conn, <-chan error) {
	conns, errc := make(chan net.Conn, 16), make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				errc <- err
				return
			}
			conns <- c
		}
	}()
	return conns, errc
}

func TestTLSListenerAccept(t *testing.T) {
	cfg, pool := testTLS(t)
	inner := newNotifyListener(t)
	ln := NewListener(inner, Options{TLSConfig: cfg, HandshakeTimeout: 200 * time.Millisecond})
	defer ln.Close()
	conns, _ := acceptAll(ln)

	// A failed handshake is closed and never returned.
	bad, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer bad.Close()
	bad.SetDeadline(time.Now().Add(ioDeadline))
	io.WriteString(bad, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := io.ReadAll(bad); isTimeout(err) {
		t.Fatal("plaintext client on the TLS listener was not disconnected")
	}

	// A client that never starts its handshake is closed after the timeout.
	silent, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer silent.Close()
	silent.SetDeadline(time.Now().Add(ioDeadline))
	if _, err := io.ReadAll(silent); isTimeout(err) {
		t.Fatal("silent client was not disconnected after the handshake timeout")
	}

	for _, tc := range []struct {
		alpn   []string
		wantH1 bool
	}{{[]string{"http/1.1"}, true}, {nil, true}, {[]string{"h2", "http/1.1"}, false}} {
		client := dialTLS(t, inner.Addr().String(), pool, tc.alpn...)
		var got net.Conn
		select {
		case got = <-conns:
		case <-time.After(ioDeadline):
			t.Fatalf("ALPN %v: handshaken connection not returned by Accept", tc.alpn)
		}
		if got.RemoteAddr().String() != client.LocalAddr().String() {
			t.Fatalf("ALPN %v: Accept returned %v, want the client at %v (a failed handshake leaked?)",
				tc.alpn, got.RemoteAddr(), client.LocalAddr())
		}
		fc, isConn := got.(*Conn)
		_, isTLS := got.(*tls.Conn)
		switch {
		case tc.wantH1 && (!isConn || fc.TLS() == nil || !fc.TLS().HandshakeComplete):
			t.Errorf("ALPN %v: got %T, want *Conn with TLS state", tc.alpn, got)
		case !tc.wantH1 && !isTLS:
			t.Errorf("ALPN %v: got %T, want *tls.Conn", tc.alpn, got)
		}
		got.Close()
		client.Close()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestTLSListenerCloseNoLeak: Close ends pending handshakes, closes
// connections handshaken but not accepted, fails Accept, and leaves no
// goroutine behind.
func TestTLSListenerCloseNoLeak(t *testing.T) {
	cfg, pool := testTLS(t)
	before := runtime.NumGoroutine()

	inner := newNotifyListener(t)
	ln := NewListener(inner, Options{TLSConfig: cfg, HandshakeTimeout: time.Hour})
	firstc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept() // starts the accept loop; takes one connection only
		if err == nil {
			firstc <- c
		}
		close(firstc)
	}()
	first := dialTLS(t, inner.Addr().String(), pool, "http/1.1")
	defer first.Close()
	waitAccepted(t, inner)
	if c, ok := <-firstc; ok {
		defer c.Close()
	} else {
		t.Fatal("first Accept failed")
	}

	// Handshaken, waiting for an Accept that never comes.
	waiting := dialTLS(t, inner.Addr().String(), pool, "http/1.1")
	defer waiting.Close()
	waitAccepted(t, inner)
	// Mid-handshake.
	var silent []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		silent = append(silent, c)
		waitAccepted(t, inner)
	}

	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
	for i, c := range append(silent, waiting) {
		c.SetDeadline(time.Now().Add(ioDeadline))
		if _, err := io.ReadAll(c); isTimeout(err) {
			t.Fatalf("connection %d still open after Close", i)
		}
	}

	deadline := time.Now().Add(ioDeadline)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after Close", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond) // polling, bounded by the deadline
	}
}

// errListener fails Accept with the queued errors, then with a permanent one.
type errListener struct {
	net.Listener
	errs chan error
}

func (l *errListener) Accept() (net.Conn, error) {
	select {
	case err := <-l.errs:
		return nil, err
	default:
		return nil, errors.New("listener broken")
	}
}

type temporaryError struct{}

func (temporaryError) Error() string   { return "temporary" }
func (temporaryError) Timeout() bool   { return false }
func (temporaryError) Temporary() bool { return true }

// TestTLSListenerAcceptErrors: temporary errors are handed to Accept and the
// listener keeps going; a permanent error is returned by every later Accept.
func TestTLSListenerAcceptErrors(t *testing.T) {
	cfg, _ := testTLS(t)
	inner := &errListener{Listener: listenTCP(t), errs: make(chan error, 1)}
	inner.errs <- temporaryError{}
	ln := NewListener(inner, Options{TLSConfig: cfg})
	defer ln.Close()
	if _, err := ln.Accept(); !errors.As(err, new(temporaryError)) {
		t.Fatalf("first Accept: %v, want the temporary error", err)
	}
	for i := range 2 {
		if _, err := ln.Accept(); err == nil || !strings.Contains(err.Error(), "listener broken") {
			t.Fatalf("Accept %d after a permanent error: %v", i, err)
		}
	}
}
