package respcache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Entry is a stored response. It is immutable once stored: stores and
// requests share it.
type Entry struct {
	// Key is the key it was stored under; a hit compares it.
	Key    string
	Status int
	Header http.Header
	Body   []byte
	// Created is when the upstream made the response, as far as the cache
	// knows (received, less the upstream's Age); Age is counted from it.
	Created time.Time
	// Expires is when it stops being served.
	Expires time.Time
}

// entryOverhead approximates the fixed memory cost of an entry.
const entryOverhead = 256

// size approximates the memory e holds.
func (e *Entry) size() int64 {
	n := entryOverhead + len(e.Key) + len(e.Body)
	for k, vs := range e.Header {
		n += len(k) + 16
		for _, v := range vs {
			n += len(v) + 16
		}
	}
	return int64(n)
}

// entryVersion starts every encoded entry, so a format change reads old
// values as corrupt (a miss) instead of misreading them.
const entryVersion = 1

// encodeEntry is the binary form of e for a shared store: the version, then
// length-prefixed fields.
func encodeEntry(e *Entry) []byte {
	b := make([]byte, 0, int(e.size()))
	b = append(b, entryVersion)
	b = appendField(b, e.Key)
	b = binary.AppendUvarint(b, uint64(e.Status))
	b = binary.AppendVarint(b, e.Created.UnixNano())
	b = binary.AppendVarint(b, e.Expires.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(e.Header)))
	for k, vs := range e.Header {
		b = appendField(b, k)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendField(b, v)
		}
	}
	return appendField(b, string(e.Body))
}

var errCorrupt = errors.New("corrupt cache entry")

// decoder reads an encoded entry; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes reads a length-prefixed field; it shares d's buffer.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// count reads a count of items that each take at least one byte, so a
// corrupt count cannot make the decoder allocate more than the input.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return 0
	}
	return int(n)
}

// decodeEntry parses what encodeEntry made. It never panics, whatever b is.
func decodeEntry(b []byte) (*Entry, error) {
	if len(b) == 0 || b[0] != entryVersion {
		return nil, fmt.Errorf("decode cache entry: %w: unknown version", errCorrupt)
	}
	d := &decoder{b: b[1:]}
	e := &Entry{Key: string(d.bytes())}
	status := d.uvarint()
	e.Created = time.Unix(0, d.varint())
	e.Expires = time.Unix(0, d.varint())
	nh := d.count()
	e.Header = make(http.Header, nh)
	for i := 0; i < nh && d.err == nil; i++ {
		k := string(d.bytes())
		nv := d.count()
		vs := make([]string, 0, nv)
		for j := 0; j < nv && d.err == nil; j++ {
			vs = append(vs, string(d.bytes()))
		}
		e.Header[k] = vs
	}
	e.Body = d.bytes()
	switch {
	case d.err != nil:
		return nil, fmt.Errorf("decode cache entry: %w", d.err)
	case len(d.b) != 0:
		return nil, fmt.Errorf("decode cache entry: %w: %d trailing bytes", errCorrupt, len(d.b))
	case status < 100 || status > 599:
		return nil, fmt.Errorf("decode cache entry: %w: status %d", errCorrupt, status)
	}
	e.Status = int(status)
	return e, nil
}
