package framing

import "bytes"

// Reason codes returned by [Conn.Violation]. They are stable: events, metrics
// and alerts use them.
const (
	// ReasonContentLengthWithTransferEncoding: one request head carries both
	// Content-Length and Transfer-Encoding.
	ReasonContentLengthWithTransferEncoding = "content_length_with_transfer_encoding"
	// ReasonTransferEncodingHTTP10: an HTTP/1.0 request carries
	// Transfer-Encoding, which Go ignores.
	ReasonTransferEncodingHTTP10 = "transfer_encoding_in_http10"
	// ReasonObsFold: a header or trailer line is an obs-fold continuation.
	ReasonObsFold = "obs_fold"
	// ReasonBareLF: a line of a request head or trailer section ends in LF
	// without CR.
	ReasonBareLF = "bare_lf"
)

// reason is a violation code; 0 means none. A small integer, so a Conn can
// hold it in an atomic.
type reason uint32

const (
	reasonNone reason = iota
	reasonCLTE
	reasonTEHTTP10
	reasonObsFold
	reasonBareLF
)

func (r reason) String() string {
	switch r {
	case reasonCLTE:
		return ReasonContentLengthWithTransferEncoding
	case reasonTEHTTP10:
		return ReasonTransferEncodingHTTP10
	case reasonObsFold:
		return ReasonObsFold
	case reasonBareLF:
		return ReasonBareLF
	}
	return ""
}

// stopCause says why inspection ended without a violation. Only tests and
// debugging read it.
type stopCause uint8

const (
	stopNone     stopCause = iota
	stopTunnel             // Upgrade or CONNECT: the connection may stop being HTTP/1.
	stopVersion            // not HTTP/1.x: HTTP/2 preface, or a version Go refuses.
	stopRejected           // framing Go itself rejects, after which it closes the connection.
)

// state is the position of the inspector in the HTTP/1.1 message grammar.
type state uint8

const (
	stStart            state = iota // before a request line (Go skips up to 4 CR/LF after a POST)
	stMethod                        // method, up to the first SP
	stTarget                        // request-target, up to the second SP
	stVersion                       // version, up to LF
	stLineStart                     // first byte of a header line, or of the empty line
	stHeadCR                        // CR at the start of a line: the head ends at the next LF
	stName                          // header name that may still be one we care about
	stSkipLine                      // rest of a header line that does not matter (up to LF)
	stCLValue                       // Content-Length value
	stTEValue                       // Transfer-Encoding value
	stValueCR                       // CR after a Content-Length or Transfer-Encoding value
	stBody                          // Content-Length body bytes
	stChunkSize                     // hex chunk size
	stChunkSizeOWS                  // whitespace after the chunk size
	stChunkExt                      // chunk extension, up to CR
	stChunkSizeLF                   // LF ending a chunk-size line
	stChunkData                     // chunk data bytes
	stChunkDataCR                   // CR after chunk data
	stChunkDataLF                   // LF after chunk data
	stTrailerLineStart              // first byte of a trailer line, or of the final empty line
	stTrailerLine                   // rest of a trailer line (up to LF)
	stTrailerCR                     // CR at the start of a trailer line: the message ends at LF
	stStopped                       // no more inspection
)

// header identifies the header field whose name or value is being parsed.
type header uint8

const (
	hdrNone header = iota
	hdrContentLength
	hdrTransferEncoding
	hdrUpgrade
)

const (
	nameContentLength    = "content-length"
	nameTransferEncoding = "transfer-encoding"
	nameUpgrade          = "upgrade"
	valueChunked         = "chunked"

	maxMethod         = len("CONNECT") + 1  // longest method we compare, plus one to see "longer"
	maxVersion        = len("HTTP/1.1") + 2 // room for a trailing CR and one byte more
	maxCL             = 1<<63 - 1           // strconv.ParseUint(s, 10, 63), as in net/http
	maxChunkHexDigits = 16                  // net/http's parseHexUint limit
	maxPostCRLF       = 4                   // net/http skips up to 4 CR/LF bytes after a POST
)

// inspector follows the framing of the HTTP/1.x requests on one connection.
// Its zero value expects the start of a connection. It is a plain value with
// no pointers, so two inspectors that saw the same bytes compare equal.
type inspector struct {
	st     state
	reason reason
	cause  stopCause
	last   byte   // last byte of the previous feed, to see CR before an LF at p[0]
	msgs   uint64 // request heads completed

	// Request line.
	method     [maxMethod]byte
	methodLen  uint8
	version    [maxVersion]byte
	versionLen uint8
	lastPOST   bool  // the previous request was a POST
	skipped    uint8 // CR/LF bytes skipped before this request line

	// Header section.
	hdr       header
	nameLen   uint8
	http10    bool
	hasCL     bool
	cl        uint64
	teCount   uint8
	teChunked bool
	upgrade   bool

	// Content-Length and Transfer-Encoding value being parsed.
	val       uint64 // Content-Length value
	valDigits uint8  // Content-Length: 1 once a digit was seen; Transfer-Encoding: bytes of "chunked" matched
	valTrail  bool   // saw whitespace after the value
	valBad    bool   // Transfer-Encoding value is not "chunked"

	// Body.
	remaining   uint64
	chunkDigits uint8
}

// feed inspects the next bytes the server read and returns the violation
// found so far. It never retains p.
func (in *inspector) feed(p []byte) reason {
	if in.st == stStopped || len(p) == 0 {
		return in.reason
	}
	for i := 0; i < len(p) && in.st != stStopped; {
		b := p[i]
		switch in.st {
		case stStart:
			if in.lastPOST && in.skipped < maxPostCRLF && (b == '\r' || b == '\n') {
				in.skipped++
				i++
				continue
			}
			in.beginRequest()
			continue

		case stMethod:
			rest := p[i:]
			sp := bytes.IndexByte(rest, ' ')
			if sp < 0 {
				sp = len(rest)
			}
			if bytes.IndexByte(rest[:sp], '\n') >= 0 {
				in.stop(stopRejected) // a line without SP: Go rejects it
				continue
			}
			// Only short methods matter; a longer one keeps a prefix that
			// matches none of them.
			in.methodLen += uint8(copy(in.method[in.methodLen:], rest[:sp]))
			i += sp
			if i < len(p) {
				in.st = stTarget
				i++
			}

		case stTarget:
			// Targets are long and uninteresting: jump to the next SP, unless
			// the line ends first (Go rejects a line without a version).
			rest := p[i:]
			sp := bytes.IndexByte(rest, ' ')
			if sp < 0 {
				sp = len(rest)
			}
			if bytes.IndexByte(rest[:sp], '\n') >= 0 {
				in.stop(stopRejected)
				continue
			}
			i += sp
			if i < len(p) {
				in.st = stVersion
				i++
			}

		case stVersion:
			rest := p[i:]
			lf := bytes.IndexByte(rest, '\n')
			if lf < 0 {
				lf = len(rest)
			}
			// A version too long to fit is invalid whatever the rest is.
			in.versionLen += uint8(copy(in.version[in.versionLen:], rest[:lf]))
			i += lf
			if i < len(p) {
				bare := in.prev(p, i) != '\r'
				i++
				in.endRequestLine(bare)
			}

		case stLineStart:
			i++
			switch b {
			case '\r':
				in.st = stHeadCR
			case '\n':
				in.flag(reasonBareLF)
			case ' ', '\t':
				in.flag(reasonObsFold)
			default:
				in.nameLen = 1
				switch lower(b) {
				case nameContentLength[0]:
					in.hdr, in.st = hdrContentLength, stName
				case nameTransferEncoding[0]:
					in.hdr, in.st = hdrTransferEncoding, stName
				case nameUpgrade[0]:
					in.hdr, in.st = hdrUpgrade, stName
				default:
					in.hdr, in.st = hdrNone, stSkipLine
				}
			}

		case stHeadCR:
			i++
			if b != '\n' {
				in.stop(stopRejected)
				continue
			}
			in.endHead()

		case stName:
			name := in.hdr.name()
			n := int(in.nameLen)
			for i < len(p) && n < len(name) && lower(p[i]) == name[n] {
				i++
				n++
			}
			in.nameLen = uint8(n)
			if i == len(p) {
				continue
			}
			b = p[i]
			i++
			switch {
			case b == ':' && n == len(name):
				in.startValue()
			case b == '\n':
				in.stop(stopRejected) // no colon: Go rejects the head
			default:
				in.hdr, in.st = hdrNone, stSkipLine
			}

		case stSkipLine, stTrailerLine:
			lf := bytes.IndexByte(p[i:], '\n')
			if lf < 0 {
				i = len(p)
				continue
			}
			i += lf
			bare := in.prev(p, i) != '\r'
			i++
			if in.st == stTrailerLine {
				in.endTrailerLine(bare)
			} else {
				in.endHeaderLine(bare)
			}

		case stCLValue:
			i++
			switch {
			case b == '\r':
				in.st = stValueCR
			case b == '\n':
				in.endHeaderLine(true)
			case b == ' ' || b == '\t':
				in.valTrail = in.valDigits > 0
			case '0' <= b && b <= '9' && !in.valTrail:
				d := uint64(b - '0')
				if in.val > (maxCL-d)/10 {
					in.stop(stopRejected)
					continue
				}
				in.val = in.val*10 + d
				in.valDigits = 1
			default:
				in.stop(stopRejected) // not a plain decimal: Go answers 400
			}

		case stTEValue:
			i++
			switch {
			case b == '\r':
				in.st = stValueCR
			case b == '\n':
				in.endHeaderLine(true)
			case b == ' ' || b == '\t':
				if int(in.valDigits) == len(valueChunked) {
					in.valTrail = true
				} else if in.valDigits > 0 {
					in.valBad = true
					in.st = stSkipLine
				}
			case !in.valTrail && int(in.valDigits) < len(valueChunked) && lower(b) == valueChunked[in.valDigits]:
				in.valDigits++
			default:
				in.valBad = true
				in.st = stSkipLine
			}

		case stValueCR:
			i++
			if b != '\n' {
				in.stop(stopRejected) // CR inside a value: Go answers 400
				continue
			}
			in.endHeaderLine(false)

		case stBody:
			n := uint64(len(p) - i)
			if n >= in.remaining {
				i += int(in.remaining)
				in.remaining = 0
				in.endMessage()
				continue
			}
			in.remaining -= n
			i = len(p)

		case stChunkSize:
			for ; i < len(p); i++ {
				d, ok := hexDigit(p[i])
				if !ok {
					break
				}
				if in.chunkDigits == maxChunkHexDigits {
					in.stop(stopRejected)
					break
				}
				in.chunkDigits++
				in.remaining = in.remaining<<4 | d
			}
			if i == len(p) || in.st == stStopped {
				continue
			}
			b = p[i]
			i++
			if in.chunkDigits == 0 {
				in.stop(stopRejected)
				continue
			}
			switch b {
			case ';':
				in.st = stChunkExt
			case ' ', '\t':
				in.st = stChunkSizeOWS
			case '\r':
				in.st = stChunkSizeLF
			default:
				in.stop(stopRejected)
			}

		case stChunkSizeOWS:
			// Go trims trailing whitespace before cutting at ';', so whitespace
			// may only be followed by more whitespace and the line end.
			i++
			switch b {
			case ' ', '\t':
			case '\r':
				in.st = stChunkSizeLF
			default:
				in.stop(stopRejected)
			}

		case stChunkExt:
			i++
			switch b {
			case '\r':
				in.st = stChunkSizeLF
			case '\n':
				in.stop(stopRejected)
			}

		case stChunkSizeLF:
			i++
			switch {
			case b != '\n':
				in.stop(stopRejected)
			case in.remaining == 0:
				in.st = stTrailerLineStart
			default:
				in.st = stChunkData
			}

		case stChunkData:
			n := uint64(len(p) - i)
			if n >= in.remaining {
				i += int(in.remaining)
				in.remaining = 0
				in.st = stChunkDataCR
				continue
			}
			in.remaining -= n
			i = len(p)

		case stChunkDataCR, stChunkDataLF:
			i++
			switch {
			case in.st == stChunkDataCR && b == '\r':
				in.st = stChunkDataLF
			case in.st == stChunkDataLF && b == '\n':
				in.st, in.chunkDigits = stChunkSize, 0
			default:
				in.stop(stopRejected)
			}

		case stTrailerLineStart:
			i++
			switch b {
			case '\r':
				in.st = stTrailerCR
			case '\n':
				in.flag(reasonBareLF)
			case ' ', '\t':
				in.flag(reasonObsFold)
			default:
				in.st = stTrailerLine
			}

		case stTrailerCR:
			i++
			if b != '\n' {
				in.stop(stopRejected)
				continue
			}
			in.endMessage()
		}
	}
	if in.st != stStopped {
		in.last = p[len(p)-1]
	}
	return in.reason
}

// prev returns the byte before p[i] in the stream.
func (in *inspector) prev(p []byte, i int) byte {
	if i > 0 {
		return p[i-1]
	}
	return in.last
}

// flag records a violation and ends inspection.
func (in *inspector) flag(r reason) {
	in.reason = r
	in.stop(stopNone)
}

// stop ends inspection. Parse state is cleared so that the final state does
// not depend on how reads split the stream.
func (in *inspector) stop(c stopCause) {
	*in = inspector{st: stStopped, reason: in.reason, cause: c, msgs: in.msgs}
}

// beginRequest resets the per-request fields, keeping what spans requests.
func (in *inspector) beginRequest() {
	*in = inspector{
		st:       stMethod,
		last:     in.last,
		msgs:     in.msgs,
		lastPOST: in.lastPOST,
	}
}

func (in *inspector) endRequestLine(bareLF bool) {
	if bareLF {
		in.flag(reasonBareLF)
		return
	}
	v := in.version[:in.versionLen]
	if len(v) > 0 && v[len(v)-1] == '\r' {
		v = v[:len(v)-1]
	}
	// net/http's ParseHTTPVersion: exactly "HTTP/d.d"; its server serves
	// major version 1 only (HTTP/2 arrives here only as the h2c preface).
	if len(v) != len("HTTP/1.1") || string(v[:len("HTTP/1.")]) != "HTTP/1." || v[7] < '0' || v[7] > '9' {
		in.stop(stopVersion)
		return
	}
	in.http10 = v[7] == '0'
	in.st = stLineStart
}

// startValue runs at the colon of a header we care about.
func (in *inspector) startValue() {
	in.val, in.valDigits, in.valTrail, in.valBad = 0, 0, false, false
	switch in.hdr {
	case hdrContentLength:
		if in.teCount > 0 {
			in.flag(reasonCLTE)
			return
		}
		in.st = stCLValue
	case hdrTransferEncoding:
		switch {
		case in.hasCL:
			in.flag(reasonCLTE)
			return
		case in.http10:
			in.flag(reasonTEHTTP10)
			return
		}
		in.st = stTEValue
	case hdrUpgrade:
		in.upgrade = true
		in.st = stSkipLine
	}
}

func (in *inspector) endHeaderLine(bareLF bool) {
	if bareLF {
		in.flag(reasonBareLF)
		return
	}
	switch in.hdr {
	case hdrContentLength:
		// Go rejects an empty value, and differing duplicates.
		if in.valDigits == 0 || (in.hasCL && in.cl != in.val) {
			in.stop(stopRejected)
			return
		}
		in.hasCL, in.cl = true, in.val
	case hdrTransferEncoding:
		if in.teCount < 2 {
			in.teCount++
		}
		in.teChunked = !in.valBad && int(in.valDigits) == len(valueChunked)
	}
	in.hdr = hdrNone
	in.st = stLineStart
}

func (in *inspector) endHead() {
	in.msgs++
	in.lastPOST = string(in.method[:in.methodLen]) == "POST"
	if in.upgrade || string(in.method[:in.methodLen]) == "CONNECT" {
		in.stop(stopTunnel)
		return
	}
	switch {
	case in.teCount > 0: // HTTP/1.1+ only: on HTTP/1.0 it was flagged
		if in.teCount > 1 || !in.teChunked {
			in.stop(stopRejected) // Go answers 501
			return
		}
		in.st, in.remaining, in.chunkDigits = stChunkSize, 0, 0
	case in.hasCL && in.cl > 0:
		in.st, in.remaining = stBody, in.cl
	default:
		in.endMessage()
	}
}

func (in *inspector) endTrailerLine(bareLF bool) {
	if bareLF {
		in.flag(reasonBareLF)
		return
	}
	in.st = stTrailerLineStart
}

func (in *inspector) endMessage() {
	in.st = stStart
	in.skipped = 0
}

func (h header) name() string {
	switch h {
	case hdrContentLength:
		return nameContentLength
	case hdrTransferEncoding:
		return nameTransferEncoding
	case hdrUpgrade:
		return nameUpgrade
	}
	return ""
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func hexDigit(b byte) (uint64, bool) {
	switch {
	case '0' <= b && b <= '9':
		return uint64(b - '0'), true
	case 'a' <= b && b <= 'f':
		return uint64(b-'a') + 10, true
	case 'A' <= b && b <= 'F':
		return uint64(b-'A') + 10, true
	}
	return 0, false
}
