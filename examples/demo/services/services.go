// Package services holds the demo's sample upstream services. They are ordinary
// HTTP services: the gateway in front of them does the security work, and the
// accounts service also checks, with sdk/principal, the identity the gateway
// vouches for (zero trust: the network between them is not trusted either).
package services

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// Accounts serves GET /accounts/{id}, GET /me, GET /status and GET /echo
// (which shows the request headers the service received, to show the
// gateway's header hygiene). identity wraps the handlers that need a caller:
// the demo passes sdk/principal's Verifier.Middleware.
func Accounts(identity func(http.Handler) http.Handler) http.Handler {
	accounts := map[string]map[string]string{
		"42": {"id": "42", "name": "Ada Lovelace", "plan": "pro", "ssn": "078-05-1120", "card": "4111111111111111"},
		"7":  {"id": "7", "name": "Alan Turing", "plan": "free", "ssn": "219-09-9999", "card": "5555555555554444"},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"service": "accounts", "status": "ok"})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.Handle("GET /accounts/{id}", identity(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := accounts[r.PathValue("id")]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such account"})
			return
		}
		writeJSON(w, http.StatusOK, a)
	})))
	mux.Handle("GET /me", identity(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal.FromContext(r.Context())
		writeJSON(w, http.StatusOK, map[string]any{
			"subject": p.Subject, "kind": p.Kind, "issuer": p.Issuer, "method": p.Method,
			"scopes": p.Scopes, "roles": p.Roles, "verified_by": "sdk/principal",
			"authorization_header_received": r.Header.Get("Authorization") != "",
		})
	})))
	mux.HandleFunc("GET /echo", func(w http.ResponseWriter, r *http.Request) {
		seen := map[string]string{"path": r.URL.EscapedPath()}
		for k := range r.Header {
			lk := strings.ToLower(k)
			if strings.HasPrefix(lk, "x-") || lk == "forwarded" {
				seen[lk] = strings.Join(r.Header.Values(k), ", ")
			}
		}
		writeJSON(w, http.StatusOK, seen)
	})
	return mux
}

// Orders serves GET /orders, POST /orders and GET /orders/{id}, in memory.
func Orders() http.Handler {
	var mu sync.Mutex
	orders := map[string]map[string]any{"1001": {"id": "1001", "account": "42", "item": "notebook", "qty": 2}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		list := make([]map[string]any, 0, len(orders))
		for _, o := range orders {
			list = append(list, o)
		}
		mu.Unlock()
		sort.Slice(list, func(i, j int) bool { return list[i]["id"].(string) < list[j]["id"].(string) })
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		o, ok := orders[r.PathValue("id")]
		mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such order"})
			return
		}
		writeJSON(w, http.StatusOK, o)
	})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Account string `json:"account"`
			Item    string `json:"item"`
			Qty     int    `json:"qty"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil || in.Item == "" || in.Qty < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {account, item, qty>0}"})
			return
		}
		mu.Lock()
		id := 1001 + len(orders)
		o := map[string]any{"id": itoa(id), "account": in.Account, "item": in.Item, "qty": in.Qty}
		orders[itoa(id)] = o
		mu.Unlock()
		writeJSON(w, http.StatusCreated, o)
	})
	return mux
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
