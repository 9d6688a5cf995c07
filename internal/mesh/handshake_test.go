package mesh

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// Connections that never finish their handshake cannot pile up: past the
// limit, new ones are dropped at once, with an event.
func TestHandshakeLimit(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ev := newRecorder()
	l := newTLSListener(raw, &tls.Config{MinVersion: tls.VersionTLS13}, time.Minute, 1,
		func() uint64 { return 0 }, func(a net.Addr, err error) { ev.Emit(handshakeEvent(a, err)) })
	defer l.Close()

	silent, err := net.Dial("tcp", raw.Addr().String()) // holds the only slot
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// The slot is taken once the first connection is accepted; until then a
	// second one might take it, so dial until one is dropped.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		c.Close()
		if err == io.EOF {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection was dropped")
		}
	}
	ev.wait(t, HandshakeRefused, ReasonOverloaded)
}
