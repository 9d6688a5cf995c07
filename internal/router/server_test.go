package router

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/canonpath"
)

// TestPathTricksOverRealServer sends raw request lines (a Go client would
// clean them up) to a real HTTP server whose handler does what the gateway
// does: canonicalize the path as received, then route on that one view.
func TestPathTricksOverRealServer(t *testing.T) {
	specs := []Spec{
		0: {Path: "/public/*"},
		1: {Path: "/admin", Methods: []string{"GET"}},
		2: {Path: "/admin/*", Methods: []string{"GET"}},
		3: {Path: "/static/*", AllowSemicolon: true},
	}
	r := mustNew(t, specs)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _, _ := strings.Cut(req.RequestURI, "?")
		canon, semi, err := canonpath.Canonical(raw)
		if err != nil {
			var ce *canonpath.Error
			errors.As(err, &ce)
			w.Header().Set("X-Reason", ce.Reason)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var p Params
		idx, res, allow := r.Match(req.Host, canon, req.Method, semi, &p)
		w.Header().Set("X-Route", strconv.Itoa(idx))
		w.Header().Set("X-Canonical", canon)
		switch res {
		case Found:
			w.WriteHeader(http.StatusOK)
		case MethodNotAllowed:
			w.Header().Set("Allow", allow)
			w.WriteHeader(http.StatusMethodNotAllowed)
		case SemicolonNotAllowed:
			w.Header().Set("X-Reason", "semicolon")
			w.WriteHeader(http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()

	tests := []struct {
		name, method, target string
		status               int
		route                string // X-Route, when status is 200/405 or the semicolon 400
		reason               string // X-Reason for 400
	}{
		// Attacks: every trick either fails or lands on the admin route.
		{"dotdot out of public", "GET", "/public/../admin", 200, "1", ""},
		{"dotdot out of public, other method", "DELETE", "/public/../admin", 405, "-1", ""},
		{"encoded dotdot out of public", "DELETE", "/public/%2e%2e/admin", 405, "-1", ""},
		{"encoded slash", "GET", "/public/..%2fadmin", 400, "", "encoded_slash"},
		{"encoded backslash", "GET", "/public/..%5cadmin", 400, "", "encoded_backslash"},
		{"raw backslash", "GET", `/public/..\admin`, 400, "", "backslash"},
		{"double encoding", "GET", "/public/%252e%252e/admin", 400, "", "double_encoding"},
		{"servlet dotdot", "GET", "/static/..;/admin", 400, "", "traversal"},
		{"matrix param on admin matches nothing", "GET", "/admin;jsessionid=x", 404, "", ""},
		{"matrix param below admin", "GET", "/admin/x;jsessionid=y", 400, "2", "semicolon"},
		{"matrix param on public", "GET", "/public/a;x", 400, "0", "semicolon"},
		{"encoded NUL", "GET", "/admin%00.css", 400, "", "control_char"},
		{"encoded fragment", "GET", "/admin%23/../public/x", 400, "", "fragment"},
		{"above the root", "GET", "/../admin", 400, "", "traversal"},
		{"double slash", "DELETE", "//admin", 405, "-1", ""},
		{"upper case", "DELETE", "/ADMIN", 405, "-1", ""},
		{"upper case below", "POST", "/Admin/Users", 405, "-1", ""},
		{"trailing slash", "DELETE", "/admin/", 405, "-1", ""},
		// Honest requests.
		{"public", "POST", "/public/form", 200, "0", ""},
		{"admin", "GET", "/admin", 200, "1", ""},
		{"admin below", "GET", "/admin/users?x=1", 200, "2", ""},
		{"static with matrix param", "GET", "/static/app.js;v=2", 200, "3", ""},
		{"unknown", "GET", "/elsewhere", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawRequest(t, srv.Listener.Addr().String(), tt.method, tt.target)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s: status %d (route %q, reason %q); want %d",
					tt.method, tt.target, resp.StatusCode, resp.Header.Get("X-Route"), resp.Header.Get("X-Reason"), tt.status)
			}
			if tt.route != "" && resp.Header.Get("X-Route") != tt.route {
				t.Errorf("route %q, want %q", resp.Header.Get("X-Route"), tt.route)
			}
			if tt.reason != "" && resp.Header.Get("X-Reason") != tt.reason {
				t.Errorf("reason %q, want %q", resp.Header.Get("X-Reason"), tt.reason)
			}
			if tt.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q, want \"GET, HEAD\"", resp.Header.Get("Allow"))
			}
		})
	}
}

// rawRequest writes one request line byte for byte and reads the response.
func rawRequest(t *testing.T, addr, method, target string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", method, target); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
