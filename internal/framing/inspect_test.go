package framing

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// smuggleBodyText is header text that must not be flagged when it is body data.
const smuggleBodyText = "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"

type inspectCase struct {
	name  string
	in    string
	want  string    // violation reason, "" for none
	cause stopCause // expected stop cause when want is ""
	msgs  uint64    // request heads the inspector must have completed (0: not checked)
}

func inspectCases() []inspectCase {
	chunkedBody := func(s string) string {
		return strconv.FormatInt(int64(len(s)), 16) + "\r\n" + s + "\r\n0\r\n\r\n"
	}
	return []inspectCase{
		// Attacks: ambiguities Go accepts.
		{name: "CL then TE", want: ReasonContentLengthWithTransferEncoding,
			in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "TE then CL", want: ReasonContentLengthWithTransferEncoding,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
		{name: "lower case names", want: ReasonContentLengthWithTransferEncoding,
			in: "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "upper case names and value", want: ReasonContentLengthWithTransferEncoding,
			in: "POST / HTTP/1.1\r\nHOST: x\r\nTRANSFER-ENCODING: CHUNKED\r\nCONTENT-LENGTH: 5\r\n\r\n0\r\n\r\n"},
		{name: "TE chunked with CL 0", want: ReasonContentLengthWithTransferEncoding,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{name: "CL 0 then TE with odd spacing", want: ReasonContentLengthWithTransferEncoding,
			in: "GET / HTTP/1.1\r\nHost: x\r\nContent-Length:0\r\nTransfer-Encoding:\t chunked \t\r\n\r\n0\r\n\r\n"},
		{name: "TE on HTTP/1.0", want: ReasonTransferEncodingHTTP10,
			in: "POST / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
		{name: "CL and TE on HTTP/1.0", want: ReasonContentLengthWithTransferEncoding,
			in: "POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		{name: "obs-fold", want: ReasonObsFold,
			in: "POST / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "obs-fold hides TE value", want: ReasonObsFold,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"},
		{name: "whitespace-only continuation", want: ReasonObsFold,
			in: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\t\r\n\r\n"},
		{name: "obs-fold in trailer", want: ReasonObsFold,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n 2\r\n\r\n"},
		{name: "bare LF in request line", want: ReasonBareLF,
			in: "GET / HTTP/1.1\nHost: x\r\n\r\n"},
		{name: "bare LF in header line", want: ReasonBareLF,
			in: "GET / HTTP/1.1\r\nX-A: a\nTransfer-Encoding: chunked\r\nHost: x\r\n\r\n0\r\n\r\n"},
		{name: "bare LF after Content-Length", want: ReasonBareLF,
			in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\n\r\nhello"},
		{name: "bare LF ends head", want: ReasonBareLF,
			in: "GET / HTTP/1.1\r\nHost: x\r\n\n"},
		{name: "bare LF in trailer", want: ReasonBareLF,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\n\r\n"},
		{name: "smuggle pipelined after honest GET", want: ReasonContentLengthWithTransferEncoding,
			in: "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "smuggle after POST body and CRLF", want: ReasonContentLengthWithTransferEncoding,
			in: "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"},
		{name: "smuggle after chunked POST with trailer", want: ReasonContentLengthWithTransferEncoding,
			in: "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},

		// Honest requests.
		{name: "GET", msgs: 1,
			in: "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\nUpgrade-Insecure-Requests: 1\r\nCookie: a=b\r\n\r\n"},
		{name: "HTTP/1.0 GET", msgs: 1, in: "GET / HTTP/1.0\r\n\r\n"},
		{name: "POST with CL", msgs: 1,
			in: "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"a\":\"hello\"}"},
		{name: "duplicate identical CL", msgs: 1,
			in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
		{name: "chunked POST with extension and trailer", msgs: 1,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5;name=\"v\"\r\nhello\r\na \t\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n"},
		{name: "CL body contains header text", msgs: 1,
			in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(smuggleBodyText)) + "\r\n\r\n" + smuggleBodyText},
		{name: "chunked body contains header text", msgs: 1,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedBody(smuggleBodyText)},
		{name: "header value contains header text", msgs: 1,
			in: "GET / HTTP/1.1\r\nHost: x\r\nX-Note: Content-Length: 5, Transfer-Encoding: chunked\r\n\r\n"},
		{name: "pipelined honest", msgs: 3,
			in: "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n"},

		// Inspection stops: tunnels and protocols that are not HTTP/1.
		{name: "Upgrade stops inspection", cause: stopTunnel, msgs: 1,
			in: "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" +
				"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{name: "CONNECT stops inspection", cause: stopTunnel, msgs: 1,
			in: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" + smuggleBodyText},
		{name: "HTTP/2 preface", cause: stopVersion,
			in: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + smuggleBodyText},

		// Inspection stops: framing Go rejects itself (and then closes).
		{name: "conflicting CL", cause: stopRejected,
			in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"},
		{name: "CL with plus", cause: stopRejected,
			in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"},
		{name: "CL empty", cause: stopRejected,
			in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n"},
		{name: "CL overflow", cause: stopRejected,
			in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\n"},
		{name: "TE twice", cause: stopRejected,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{name: "TE not chunked", cause: stopRejected,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"},
		{name: "bad chunk size", cause: stopRejected,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"},
		{name: "chunk data without CRLF", cause: stopRejected,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXXGET / HTTP/1.1\r\n\r\n"},
		{name: "chunk line bare LF", cause: stopRejected,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"},
		{name: "chunk size too long", cause: stopRejected,
			in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000005\r\nhello\r\n0\r\n\r\n"},
		{name: "HTTP/0.9 request line", cause: stopRejected, in: "GET /\r\n\r\n"},
		{name: "CRLF before request after GET", cause: stopRejected,
			in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
}

func feedAll(chunks ...[]byte) inspector {
	var in inspector
	for _, c := range chunks {
		in.feed(c)
	}
	return in
}

func TestInspector(t *testing.T) {
	for _, tc := range inspectCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := feedAll([]byte(tc.in))
			if got := in.reason.String(); got != tc.want {
				t.Fatalf("violation = %q, want %q", got, tc.want)
			}
			if tc.want == "" && in.cause != tc.cause {
				t.Errorf("stop cause = %d, want %d (state %d)", in.cause, tc.cause, in.st)
			}
			if tc.msgs != 0 && in.msgs != tc.msgs {
				t.Errorf("completed %d request heads, want %d", in.msgs, tc.msgs)
			}
			if tc.want == "" && tc.cause == stopNone && in.st != stStart {
				t.Errorf("honest input ends in state %d, want a request boundary", in.st)
			}
		})
	}
}

// TestInspectorSplits feeds every case split at every byte offset, and one
// byte at a time: the result must not depend on how reads split the stream.
func TestInspectorSplits(t *testing.T) {
	for _, tc := range inspectCases() {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.in)
			whole := feedAll(data)
			for i := 1; i < len(data); i++ {
				if got := feedAll(data[:i], data[i:]); got != whole {
					t.Fatalf("split at %d: %+v, whole: %+v", i, got, whole)
				}
				for j := i + 1; j < len(data); j += 7 {
					if got := feedAll(data[:i], data[i:j], data[j:]); got != whole {
						t.Fatalf("split at %d and %d: %+v, whole: %+v", i, j, got, whole)
					}
				}
			}
			var bytewise inspector
			for i := range data {
				bytewise.feed(data[i : i+1])
			}
			if bytewise != whole {
				t.Fatalf("byte by byte: %+v, whole: %+v", bytewise, whole)
			}
		})
	}
}

// TestInspectorMatchesGo checks that the inspector frames honest requests
// exactly as net/http does: after the bytes Go consumed for one request and
// its body, the inspector is at a request boundary.
func TestInspectorMatchesGo(t *testing.T) {
	for _, tc := range inspectCases() {
		t.Run(tc.name, func(t *testing.T) {
			checkAgainstGo(t, []byte(tc.in))
		})
	}
}

// checkAgainstGo parses data with net/http; when Go reads a request and its
// body without error, the inspector fed the consumed bytes must be at a
// request boundary after exactly one request, or have stopped for a reason
// that does not hide a framing disagreement.
func checkAgainstGo(t *testing.T, data []byte) {
	t.Helper()
	cr := &countingReader{r: bytes.NewReader(data)}
	br := bufio.NewReader(cr)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return
	}
	consumed := cr.n - int64(br.Buffered())
	in := feedAll(data[:consumed])
	switch {
	case in.reason != reasonNone:
		// Poisoned: the gateway refuses and closes, framing no longer matters.
	case in.cause == stopTunnel || in.cause == stopVersion:
		// Tunnels, and versions the net/http server refuses.
	case in.cause == stopRejected:
		if serverAccepts(req) {
			t.Fatalf("inspector gave up on a request Go accepts (%d bytes): %q", consumed, data[:consumed])
		}
	case in.st != stStart || in.msgs != 1:
		t.Fatalf("Go consumed %d bytes for one request; inspector in state %d after %d heads: %q",
			consumed, in.st, in.msgs, data[:consumed])
	}
}

// serverAccepts approximates the checks http.Server makes beyond
// http.ReadRequest (header names and values, Host), so that the inspector may
// give up on what only the server rejects.
func serverAccepts(req *http.Request) bool {
	if req.ProtoMajor != 1 {
		return false
	}
	hosts := req.Header.Values("Host")
	if len(hosts) > 1 || (req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != "CONNECT") {
		return false
	}
	for k, vv := range req.Header {
		if !validToken(k) {
			return false
		}
		for _, v := range vv {
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
					return false
				}
			}
		}
	}
	return true
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// FuzzInspect: arbitrary bytes split arbitrarily never panic, and the result
// does not depend on the split.
func FuzzInspect(f *testing.F) {
	for _, tc := range inspectCases() {
		f.Add([]byte(tc.in), []byte{1, 7, 30, 2})
	}
	f.Fuzz(func(t *testing.T, data, splits []byte) {
		whole := feedAll(data)
		var split inspector
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(splits) > 0 {
				n = min(int(splits[i%len(splits)])+1, len(rest))
			}
			split.feed(rest[:n])
			rest = rest[n:]
		}
		if split != whole {
			t.Fatalf("split feed %+v != whole feed %+v", split, whole)
		}
	})
}

// FuzzFramingMatchesGo: wherever net/http reads a request and its body, the
// inspector agrees on where the request ends.
func FuzzFramingMatchesGo(f *testing.F) {
	for _, tc := range inspectCases() {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstGo(t, data)
	})
}

// BenchmarkInspect feeds typical keep-alive traffic in realistic read sizes.
// One op is one request.
func BenchmarkInspect(b *testing.B) {
	get := []byte("GET /api/v1/accounts/42?expand=owner HTTP/1.1\r\n" +
		"Host: api.example.com\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n" +
		"Accept: application/json\r\n" +
		"Accept-Encoding: gzip, deflate, br\r\n" +
		"Accept-Language: en-US,en;q=0.9\r\n" +
		"Authorization: Bearer eyJhbGciOiJFZERTQSIsImtpZCI6IjEifQ.eyJzdWIiOiI0MiIsInNjb3BlIjoiYWNjb3VudHM6cmVhZCJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl\r\n" +
		"Cookie: session=abc123; theme=dark\r\n" +
		"Connection: keep-alive\r\n\r\n")
	postHead := []byte("POST /api/v1/orders HTTP/1.1\r\n" +
		"Host: api.example.com\r\n" +
		"User-Agent: rampart-sdk/1.0\r\n" +
		"Content-Type: application/json\r\n" +
		"Authorization: Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiI0MiJ9.c2ln\r\n" +
		"Content-Length: 64\r\n\r\n")
	postBody := []byte(`{"item":"book","quantity":1,"note":"Content-Length: 5 chunked"}` + "\n")
	post := append(append([]byte{}, postHead...), postBody...)
	chunked := []byte("POST /upload HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n" +
		"20\r\n0123456789abcdef0123456789abcdef\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n")
	pipelined := bytes.Repeat(get, 4096/len(get))

	run := func(b *testing.B, perOp int, reads ...[]byte) {
		b.Helper()
		var n int64
		for _, r := range reads {
			n += int64(len(r))
		}
		b.SetBytes(n / int64(perOp))
		b.ReportAllocs()
		var in inspector
		for b.Loop() {
			for _, r := range reads {
				in.feed(r)
			}
		}
		if in.reason != reasonNone || in.st != stStart {
			b.Fatalf("benchmark input not clean: reason %v state %d", in.reason, in.st)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perOp), "ns/req")
	}
	b.Run("GET", func(b *testing.B) { run(b, 1, get) })
	b.Run("POST", func(b *testing.B) { run(b, 1, post) })
	b.Run("POST-split-head-body", func(b *testing.B) { run(b, 1, postHead, postBody) })
	b.Run("POST-chunked", func(b *testing.B) { run(b, 1, chunked) })
	b.Run("GET-pipelined-4KiB", func(b *testing.B) { run(b, len(pipelined)/len(get), pipelined) })
}
