// Package framing detects HTTP/1.x request-smuggling probes that Go's
// net/http server lets through, by watching the raw bytes the server reads.
//
// # Why this exists
//
// Rampart rejects every request whose message framing is ambiguous: 400, a
// security event, connection closed. Go's HTTP/1 server is strict about most
// framing errors, but RFC 9112 lets a server accept a few ambiguous forms, and
// Go does, silently normalizing them before the handler runs. A handler
// therefore cannot see that the client sent them:
//
//   - Content-Length together with Transfer-Encoding (RFC 9112 §6.3): Go
//     frames by the chunked coding and deletes Content-Length.
//   - Transfer-Encoding on an HTTP/1.0 request: Go ignores it (issue 12785)
//     and frames by Content-Length, or as an empty body. With
//     "Connection: keep-alive" the chunked body is then read as the next
//     request.
//   - obs-fold continuation lines (a header line starting with SP or HTAB):
//     Go joins them to the previous value, also for Transfer-Encoding and
//     Content-Length, and in chunked trailers.
//   - A bare LF as a line terminator in the head or trailers (RFC 9112 §2.2
//     allows recipients to accept it).
//
// A front proxy that reads any of these differently from Go desynchronizes
// from the gateway; that is the whole request-smuggling attack class.
//
// Checked against Go 1.26 and left to Go, because it already answers 400/501
// and closes the connection: conflicting duplicate Content-Length, a
// Content-Length that is not plain decimal digits (a leading '+', '-', hex,
// empty, a list), two Transfer-Encoding header lines (even both "chunked"),
// any coding other than a lone "chunked", invalid chunk sizes or chunk
// extensions with stray CR, bare LF in chunk lines, a space or tab before the
// colon, invalid bytes in header names or values, and duplicate Host headers.
// Identical duplicate Content-Length values are accepted by Go and here (RFC
// 9112 §6.3 allows it; there is no ambiguity).
//
// # How
//
// [NewListener] wraps a TCP listener. HTTP/1.x connections are returned as
// [*Conn], whose Read runs a small incremental state machine over the bytes it
// returns, without copying or altering them. It follows Go's own framing rules
// exactly: request line, header lines, the body (Content-Length bytes, or
// chunks and trailers), the up to four CR/LF bytes Go skips after a POST, and
// the next pipelined request. Memory per connection is constant: long lines are
// skipped once their header name is known not to matter.
//
// When a request head is ambiguous the connection's violation is set (the first
// one wins) before Go has finished reading that head, so it is always visible
// to the handler of that request through [FromContext] and [Conn.Violation].
// The whole connection is poisoned: the handler of every later request on it,
// and of an earlier pipelined request still running when Go reads ahead, sees
// the violation too, and must answer 400 with "Connection: close".
//
// Inspection stops for good (bytes pass through untouched, no violation) after
// a request carrying an Upgrade header or using CONNECT, since the connection
// may become a tunnel, and after input whose framing Go itself rejects, since
// Go closes such connections. A handler that answers an Upgrade or CONNECT
// request without switching protocols must therefore close the connection
// ("Connection: close"), or later requests on it go uninspected.
//
// HTTP/2 (negotiated by ALPN "h2") has no Content-Length/Transfer-Encoding
// ambiguity in its framing; such connections are returned as the *tls.Conn so
// net/http serves them as usual, and FromContext returns nil for them.
//
// Because HTTP/1 connections reach net/http as a *Conn rather than a
// *tls.Conn, http.Request.TLS is nil for them; use [Conn.TLS] instead.
package framing
