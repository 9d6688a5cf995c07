package loadgen

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRunCountsAndFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	get := func(path string) func(*http.Client) bool {
		return func(c *http.Client) bool {
			resp, err := c.Get(srv.URL + path)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}
	}
	rate, err := Run(get("/ok"), func() *http.Client { return srv.Client() }, 2, 200*time.Millisecond)
	if err != nil || rate <= 0 {
		t.Fatalf("Run = %v, %v", rate, err)
	}
	if _, err := Run(get("/bad"), func() *http.Client { return srv.Client() }, 2, 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "failed") {
		t.Fatalf("failures were not reported: %v", err)
	}
}

func TestFreeAddrAndWaitTCP(t *testing.T) {
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the reserved address cannot be bound: %v", err)
	}
	defer ln.Close()
	if err := WaitTCP(addr); err != nil {
		t.Fatal(err)
	}
}
