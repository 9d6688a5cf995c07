package respcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testEntry(key string, body int) *Entry {
	return &Entry{Key: key, Status: 200, Header: http.Header{"Content-Type": {"text/plain"}, "X-Multi": {"a", "b"}},
		Body: bytes.Repeat([]byte("x"), body), Created: time.Unix(1700000000, 5), Expires: time.Unix(1700000060, 7)}
}

func TestMemoryBoundedByEntries(t *testing.T) {
	ctx := context.Background()
	m, err := NewMemory(MemoryOptions{MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := m.Set(ctx, k, testEntry(k, 1), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if e, _ := m.Get(ctx, "a"); e == nil { // a is now the most recent
		t.Fatal("a missing")
	}
	_ = m.Set(ctx, "d", testEntry("d", 1), time.Minute)
	if e, _ := m.Get(ctx, "b"); e != nil {
		t.Error("b, the least recently used, was kept")
	}
	for _, k := range []string{"a", "c", "d"} {
		if e, _ := m.Get(ctx, k); e == nil || e.Key != k {
			t.Errorf("%s: got %v", k, e)
		}
	}
	if n, _, ev := m.Len(); n != 3 || ev != 1 {
		t.Errorf("Len: %d entries, %d evictions", n, ev)
	}
}

func TestMemoryBoundedByBytes(t *testing.T) {
	ctx := context.Background()
	one := testEntry("k0", 1000).size()
	m, _ := NewMemory(MemoryOptions{MaxBytes: 3*one + one/2})
	for i := range 10 {
		k := fmt.Sprintf("k%d", i)
		if err := m.Set(ctx, k, testEntry(k, 1000), time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, b, _ := m.Len(); b > 3*one+one/2 {
			t.Fatalf("after %d sets: %d bytes, limit %d", i+1, b, 3*one+one/2)
		}
	}
	if n, b, _ := m.Len(); n != 3 || b != 3*one {
		t.Errorf("Len: %d entries, %d bytes", n, b)
	}
	// Replacing an entry accounts for the new size.
	_ = m.Set(ctx, "k9", testEntry("k9", 10), time.Minute)
	if _, b, _ := m.Len(); b != 2*one+testEntry("k9", 10).size() {
		t.Errorf("after replacing: %d bytes", b)
	}
	err := m.Set(ctx, "huge", testEntry("huge", int(4*one)), time.Minute)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("entry over MaxBytes: %v, want ErrTooLarge", err)
	}
	if _, err := NewMemory(MemoryOptions{MaxEntries: -1}); err == nil {
		t.Error("negative bound accepted")
	}
}

// A store that hands back an entry under the wrong key is a miss.
func TestEntryKeyChecked(t *testing.T) {
	m, _ := NewMemory(MemoryOptions{})
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{Store: m}, answer(200, "real", "Cache-Control", "public"))
	k := keyOf(t, f.h, request(http.MethodGet, "/a", nil))
	planted := testEntry("some other key", 0)
	planted.Body, planted.Expires = []byte("planted"), f.clock.now().Add(time.Hour)
	_ = m.Set(context.Background(), k, planted, time.Hour)
	if w := f.get("/a", nil); w.Body.String() != "real" {
		t.Errorf("served %q", w.Body)
	}
}

func TestEntryEncoding(t *testing.T) {
	for _, e := range []*Entry{testEntry("k\x00ey", 100), {Key: "", Status: 204, Header: http.Header{}, Created: time.Unix(0, 0), Expires: time.Unix(1, 0)}} {
		got, err := decodeEntry(encodeEntry(e))
		if err != nil {
			t.Fatal(err)
		}
		if got.Key != e.Key || got.Status != e.Status || !bytes.Equal(got.Body, e.Body) || !reflect.DeepEqual(got.Header, e.Header) ||
			!got.Created.Equal(e.Created) || !got.Expires.Equal(e.Expires) {
			t.Errorf("round trip: got %+v, want %+v", got, e)
		}
	}
	good := encodeEntry(testEntry("k", 10))
	for name, b := range map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{9}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte{}, good...), 0),
		"huge count":     {entryVersion, 0, 200, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad status":     {entryVersion, 0, 7, 0, 0, 0, 0},
	} {
		if _, err := decodeEntry(b); err == nil || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("%s: %v, want a corrupt-entry error", name, err)
		}
	}
}

// Whatever a shared store hands back, decoding never panics and never
// allocates more than the input warrants.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(testEntry("k", 10)))
	f.Add([]byte{entryVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err == nil {
			if again, err := decodeEntry(encodeEntry(e)); err != nil || again.Key != e.Key || !bytes.Equal(again.Body, e.Body) {
				t.Fatalf("re-encoding a decoded entry: %v", err)
			}
		}
	})
}

func TestParseCacheControl(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want cacheControl
	}{
		{nil, cacheControl{maxAge: -1, sMaxAge: -1}},
		{[]string{"public, max-age=60"}, cacheControl{public: true, maxAge: time.Minute, sMaxAge: -1}},
		{[]string{"MAX-AGE=60, S-MAXAGE=10"}, cacheControl{maxAge: time.Minute, sMaxAge: 10 * time.Second}},
		{[]string{`max-age="60"`}, cacheControl{maxAge: time.Minute, sMaxAge: -1}},
		{[]string{"max-age=60, max-age=5"}, cacheControl{maxAge: 5 * time.Second, sMaxAge: -1}},
		{[]string{"max-age=-1"}, cacheControl{maxAge: 0, sMaxAge: -1}},
		{[]string{"max-age=99999999999999999999"}, cacheControl{maxAge: maxDelta * time.Second, sMaxAge: -1}},
		{[]string{`private="Set-Cookie, X-A", no-cache="X"`}, cacheControl{private: true, noCache: true, maxAge: -1, sMaxAge: -1}},
		{[]string{`x="a, public, no-store"`}, cacheControl{maxAge: -1, sMaxAge: -1}},
		{[]string{`x="a\", public"`}, cacheControl{maxAge: -1, sMaxAge: -1}},
		{[]string{`x="unterminated, public`}, cacheControl{maxAge: -1, sMaxAge: -1}},
		{[]string{"no-store", ",,, public ,"}, cacheControl{noStore: true, public: true, maxAge: -1, sMaxAge: -1}},
	} {
		if got := parseCacheControl(tc.in); got != tc.want {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func FuzzParseCacheControl(f *testing.F) {
	f.Add(`public, max-age=60, private="a, b"`)
	f.Fuzz(func(t *testing.T, s string) {
		cc := parseCacheControl([]string{s})
		if cc.maxAge < -1 || cc.sMaxAge < -1 {
			t.Fatalf("%q: negative age %+v", s, cc)
		}
	})
}

// An answer the store refuses for its size is not stored, and is not a
// store failure.
func TestStoreRefusesLargeEntry(t *testing.T) {
	m, _ := NewMemory(MemoryOptions{MaxBytes: 512})
	f := newFixture(t, Policy{TTL: time.Minute, Scope: Public}, Options{Store: m},
		answer(200, strings.Repeat("x", 1000), "Cache-Control", "public"))
	for range 2 {
		if w := f.get("/", nil); w.Body.Len() != 1000 || isHit(w) {
			t.Fatalf("%d bytes, %q", w.Body.Len(), cacheStatus(w))
		}
	}
	if s := f.h.Stats(); s.Stored != 0 || s.Uncacheable != 2 || s.StoreErrors != 0 {
		t.Errorf("stats %+v", s)
	}
}
