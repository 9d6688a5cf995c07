// Package admin serves the admin listener: liveness, readiness and Prometheus
// metrics. It binds to loopback by default and carries no user traffic.
package admin

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyFunc reports whether the server should receive traffic, with details
// for the response body.
type ReadyFunc func() (ready bool, details any)

// Handler returns the admin mux: /healthz, /readyz and /metrics, and, when
// identityJWKS is not nil, /identity/jwks.json: the public keys services use
// to verify the gateway's identity tokens (sdk/principal).
func Handler(reg *prometheus.Registry, ready ReadyFunc, identityJWKS []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, details := ready()
		status, word := http.StatusOK, "ready"
		if !ok {
			status, word = http.StatusServiceUnavailable, "not_ready"
		}
		writeJSON(w, status, map[string]any{"status": word, "details": details})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if identityJWKS != nil {
		mux.HandleFunc("GET /identity/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/jwk-set+json")
			w.Header().Set("Cache-Control", "max-age=300")
			w.Write(identityJWKS)
		})
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
