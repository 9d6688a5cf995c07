package respcache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The cache in front of a real httputil.ReverseProxy and a real upstream,
// over real connections, as the gateway runs it.
func TestBehindReverseProxy(t *testing.T) {
	var calls atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		h := w.Header()
		h.Set("Cache-Control", "public, max-age=60")
		switch r.URL.Path {
		case "/stream":
			// Flushed in parts, without a length: still stored whole.
			for _, part := range []string{"a", "b", "c"} {
				_, _ = io.WriteString(w, part)
				http.NewResponseController(w).Flush()
			}
		case "/big":
			_, _ = io.WriteString(w, strings.Repeat("x", 4096))
		default:
			_, _ = io.WriteString(w, "page "+r.URL.RawQuery)
		}
	}))
	defer origin.Close()
	target, _ := url.Parse(origin.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Wrap("r", Policy{TTL: time.Minute, Scope: Public, MaxBody: 1024}, proxy)
	if err != nil {
		t.Fatal(err)
	}
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", r.Header.Get("X-Test-Id"))
		h.ServeHTTP(w, r)
	}))
	defer edge.Close()

	fetch := func(path, id string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, edge.URL+path, nil)
		req.Header.Set("X-Test-Id", id)
		resp, err := edge.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	for _, tc := range []struct {
		path, body string
		stored     bool
	}{
		{"/p?b=2&a=1", "page b=2&a=1", true},
		{"/stream", "abc", true},
		{"/big", strings.Repeat("x", 4096), false},
	} {
		before := calls.Load()
		first, body := fetch(tc.path, "one")
		if body != tc.body || first.Header.Get("X-Request-Id") != "one" {
			t.Errorf("%s first: %q %v", tc.path, body, first.Header)
		}
		second, body := fetch(tc.path, "two")
		if body != tc.body {
			t.Errorf("%s second: body %q", tc.path, body)
		}
		hit := strings.HasPrefix(second.Header.Get(StatusHeader), "rampart; hit")
		wantCalls := int64(2)
		if tc.stored {
			wantCalls = 1
		}
		if hit != tc.stored || calls.Load()-before != wantCalls {
			t.Errorf("%s: hit=%v after %d upstream calls, want hit=%v", tc.path, hit, calls.Load()-before, tc.stored)
		}
		if got := second.Header.Get("X-Request-Id"); got != "two" {
			t.Errorf("%s: X-Request-Id %q, want this request's", tc.path, got)
		}
	}
	// The same parameters in another order are the same answer.
	if resp, body := fetch("/p?a=1&b=2", "three"); !strings.HasPrefix(resp.Header.Get(StatusHeader), "rampart; hit") || body != "page b=2&a=1" {
		t.Errorf("reordered query: %q %q", resp.Header.Get(StatusHeader), body)
	}
}
