package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
)

// startUpstream serves newHandler(size) on 127.0.0.1:0 and stops it, checking
// the graceful shutdown, when the test ends.
func startUpstream(t *testing.T, size int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, newServer(newHandler(size)), ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestUpstreamResponses(t *testing.T) {
	base := startUpstream(t, 64)
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantLen    int // body bytes read
		wantCLen   int64
	}{
		{"get root", http.MethodGet, "/", http.StatusOK, 64, 64},
		{"get any path", http.MethodGet, "/a/b/c?q=1", http.StatusOK, 64, 64},
		{"healthz", http.MethodGet, "/healthz", http.StatusOK, 3, 3},
		{"head has no body", http.MethodHead, "/", http.StatusOK, 0, 64},
		{"post answered", http.MethodPost, "/", http.StatusOK, 64, 64},
		{"put refused", http.MethodPut, "/", http.StatusMethodNotAllowed, -1, -1},
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantLen < 0 {
				return
			}
			if len(body) != tt.wantLen {
				t.Errorf("body length = %d, want %d", len(body), tt.wantLen)
			}
			if resp.ContentLength != tt.wantCLen {
				t.Errorf("Content-Length = %d, want %d", resp.ContentLength, tt.wantCLen)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

// The shared header slices must not leak one response's values into the next.
func TestUpstreamHeadersStableAcrossRequests(t *testing.T) {
	base := startUpstream(t, 10)
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	for _, path := range []string{"/", "/healthz", "/", "/healthz"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		want := 10
		if path == "/healthz" {
			want = 3
		}
		if len(body) != want || resp.ContentLength != int64(want) {
			t.Errorf("GET %s: body %d bytes, Content-Length %d, want %d", path, len(body), resp.ContentLength, want)
		}
	}
}

func TestRunRejectsBadSize(t *testing.T) {
	for _, size := range []string{"0", "-1", "2000000"} {
		if err := run([]string{"-addr", "127.0.0.1:0", "-size", size}); err == nil {
			t.Errorf("-size %s: got nil error", size)
		}
	}
}
