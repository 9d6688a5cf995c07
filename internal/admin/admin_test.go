package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAdminEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "rampart_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Inc()
	var ready atomic.Bool
	srv := httptest.NewServer(Handler(reg, func() (bool, any) { return ready.Load(), map[string]int{"upstreams": 1} }, []byte(`{"keys":[]}`)))
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "not_ready") {
		t.Fatalf("readyz not ready: %d %s", code, body)
	}
	ready.Store(true)
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"upstreams":1`) {
		t.Fatalf("readyz ready: %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "rampart_test_total 1") {
		t.Fatalf("metrics: %d %s", code, body)
	}
	if code, body := get("/identity/jwks.json"); code != 200 || body != `{"keys":[]}` {
		t.Fatalf("identity jwks: %d %s", code, body)
	}
	if code, _ := get("/debug/pprof/"); code != 404 {
		t.Fatalf("unexpected endpoint served: %d", code)
	}
}
