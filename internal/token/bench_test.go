package token

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// benchRequest serves one form POST through the handler.
func benchRequest(b *testing.B, h http.Handler, path, body, user, pass string) {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
	}
}

func reportRate(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// BenchmarkClientCredentials issues client_credentials tokens through the
// HTTP handler over a SQLite store, from GOMAXPROCS goroutines.
func BenchmarkClientCredentials(b *testing.B) {
	e := newEnv(b, newSQLite, nil)
	h := e.srv.Handler()
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}.Encode()
	benchRequest(b, h, "/oauth2/token", body, "svc", svcSecret) // the first request verifies the secret
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchRequest(b, h, "/oauth2/token", body, "svc", svcSecret)
		}
	})
	reportRate(b, start)
}

// BenchmarkIntrospect introspects an access token through the HTTP handler.
func BenchmarkIntrospect(b *testing.B) {
	e := newEnv(b, newSQLite, nil)
	h := e.srv.Handler()
	tok := clientcredentialsToken(b, e)
	body := url.Values{"token": {tok}}.Encode()
	benchRequest(b, h, "/oauth2/introspect", body, "web", webSecret)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchRequest(b, h, "/oauth2/introspect", body, "web", webSecret)
		}
	})
	reportRate(b, start)
}
