// Package services holds the demo's sample upstream services. They are ordinary
// HTTP services: the gateway in front of them does the security work, and the
// accounts service also checks, with sdk/principal, the identity the gateway
// vouches for (zero trust: the network between them is not trusted either).
// Each keeps its own SQLite database (no shared database, no shared
// credentials); the accounts service stores personal data encrypted with
// sdk/fieldcrypt.
package services

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/rampart-sec/rampart/sdk/fieldcrypt"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// account is a row of the accounts service. SSN and Card are sealed by
// fieldcrypt before they are written: the database file holds only
// "rampart:v1:..." ciphertexts, each bound to its row and column.
type account struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Plan string `json:"plan"`
	SSN  string `json:"ssn" fieldcrypt:"pii"`
	Card string `json:"card" fieldcrypt:"pii"`
}

// AccountsService is the accounts service and its database.
type AccountsService struct {
	http.Handler
	db *sql.DB
}

// Close closes the database.
func (a *AccountsService) Close() error { return a.db.Close() }

// CallerHeader is where the mesh sidecar in front of a service names the
// verified SPIFFE ID of the workload that called (internal/mesh sets it;
// the service listens on loopback only, so nothing else can).
const CallerHeader = "X-Rampart-Caller"

// Accounts serves GET /accounts/{id}, GET /me, GET /status and GET /echo
// (which shows the request headers the service received, to show the
// gateway's header hygiene) with its database in dir. identity wraps the
// handlers that need a caller: the demo passes sdk/principal's
// Verifier.Middleware. A request its sidecar says comes from the workload
// trustedCaller may read an account without a user (the sidecar's policy
// already limited it to GET /accounts/{id}).
func Accounts(dir string, identity func(http.Handler) http.Handler, trustedCaller string) (*AccountsService, error) {
	db, err := openDB(dir, "accounts")
	if err != nil {
		return nil, err
	}
	crypt, err := fieldKey(dir)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := seedAccounts(db, crypt); err != nil {
		db.Close()
		return nil, err
	}
	svc := &AccountsService{db: db}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"service": "accounts", "status": "ok"})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	userOrService := func(h http.Handler) http.Handler {
		withUser := identity(h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if trustedCaller != "" && r.Header.Get(CallerHeader) == trustedCaller && r.Header.Get(principal.IdentityHeader) == "" {
				h.ServeHTTP(w, r)
				return
			}
			withUser.ServeHTTP(w, r)
		})
	}
	mux.Handle("GET /accounts/{id}", userOrService(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a account
		err := db.QueryRowContext(r.Context(), `SELECT id, name, plan, ssn, card FROM accounts WHERE id = ?`, r.PathValue("id")).
			Scan(&a.ID, &a.Name, &a.Plan, &a.SSN, &a.Card)
		if errors.Is(err, sql.ErrNoRows) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such account"})
			return
		}
		if err == nil {
			err = crypt.Open(a.ID, &a)
		}
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal"})
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
	svc.Handler = mux
	return svc, nil
}

// seedAccounts writes the demo's two accounts, their PII sealed, unless
// they are there from an earlier run.
func seedAccounts(db *sql.DB, crypt *fieldcrypt.Crypter) error {
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL, plan TEXT NOT NULL, ssn TEXT NOT NULL, card TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create accounts table: %w", err)
	}
	for _, a := range []account{
		{ID: "42", Name: "Ada Lovelace", Plan: "pro", SSN: "078-05-1120", Card: "4111111111111111"},
		{ID: "7", Name: "Alan Turing", Plan: "free", SSN: "219-09-9999", Card: "5555555555554444"},
	} {
		if err := crypt.Seal(a.ID, &a); err != nil {
			return fmt.Errorf("seal account %s: %w", a.ID, err)
		}
		if _, err := db.Exec(`INSERT OR IGNORE INTO accounts (id, name, plan, ssn, card) VALUES (?, ?, ?, ?, ?)`, a.ID, a.Name, a.Plan, a.SSN, a.Card); err != nil {
			return fmt.Errorf("insert account %s: %w", a.ID, err)
		}
	}
	return nil
}

// OrdersService is the orders service and its database.
type OrdersService struct {
	http.Handler
	db *sql.DB
}

// Close closes the database.
func (o *OrdersService) Close() error { return o.db.Close() }

type order struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	Item    string `json:"item"`
	Qty     int    `json:"qty"`
}

// AccountsAPI is how the orders service reaches the accounts service: an
// mTLS client (sdk/mtls) and the base URL of the accounts sidecar.
type AccountsAPI struct {
	Client  *http.Client
	BaseURL string
}

// Orders serves GET /orders, POST /orders and GET /orders/{id}, with its own
// database in dir, and, through accounts, GET /orders/{id}/account (the
// account's name: a call the accounts sidecar allows) and GET
// /orders/{id}/payment (the account's payment details: a call it refuses,
// because the orders service has no business reading them).
func Orders(dir string, accounts *AccountsAPI) (*OrdersService, error) {
	db, err := openDB(dir, "orders")
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, account TEXT NOT NULL, item TEXT NOT NULL, qty INTEGER NOT NULL);
		INSERT OR IGNORE INTO orders (id, account, item, qty) VALUES (1001, '42', 'notebook', 2)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("create orders table: %w", err)
	}
	scan := func(rows interface{ Scan(...any) error }) (order, error) {
		var o order
		var id int
		err := rows.Scan(&id, &o.Account, &o.Item, &o.Qty)
		o.ID = itoa(id)
		return o, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		rows, err := db.QueryContext(r.Context(), `SELECT id, account, item, qty FROM orders ORDER BY id LIMIT 100`)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal"})
			return
		}
		defer rows.Close()
		list := []order{}
		for rows.Next() {
			o, err := scan(rows)
			if err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal"})
				return
			}
			list = append(list, o)
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		o, err := scan(db.QueryRowContext(r.Context(), `SELECT id, account, item, qty FROM orders WHERE id = ?`, r.PathValue("id")))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such order"})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal"})
		default:
			writeJSON(w, http.StatusOK, o)
		}
	})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var in order
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil || in.Item == "" || in.Qty < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want {account, item, qty>0}"})
			return
		}
		res, err := db.ExecContext(r.Context(), `INSERT INTO orders (account, item, qty) VALUES (?, ?, ?)`, in.Account, in.Item, in.Qty)
		var id int64
		if err == nil {
			id, err = res.LastInsertId()
		}
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal"})
			return
		}
		in.ID = itoa(int(id))
		writeJSON(w, http.StatusCreated, in)
	})
	if accounts != nil {
		call := func(w http.ResponseWriter, r *http.Request, path string, answer func(map[string]any)) {
			o, err := scan(db.QueryRowContext(r.Context(), `SELECT id, account, item, qty FROM orders WHERE id = ?`, r.PathValue("id")))
			if err != nil {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such order"})
				return
			}
			req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, accounts.BaseURL+fmt.Sprintf(path, o.Account), nil)
			if err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal"})
				return
			}
			resp, err := accounts.Client.Do(req)
			if err != nil {
				writeJSON(w, http.StatusBadGateway, map[string]string{"error": "accounts unreachable"})
				return
			}
			defer resp.Body.Close()
			var acct map[string]any
			if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&acct) != nil {
				writeJSON(w, http.StatusBadGateway, map[string]any{"error": "the accounts service refused the call", "accounts_status": resp.StatusCode})
				return
			}
			answer(map[string]any{"order": o.ID, "account": o.Account, "name": acct["name"]})
		}
		mux.HandleFunc("GET /orders/{id}/account", func(w http.ResponseWriter, r *http.Request) {
			call(w, r, "/accounts/%s", func(v map[string]any) { writeJSON(w, http.StatusOK, v) })
		})
		mux.HandleFunc("GET /orders/{id}/payment", func(w http.ResponseWriter, r *http.Request) {
			call(w, r, "/accounts/%s/payment", func(v map[string]any) { writeJSON(w, http.StatusOK, v) })
		})
	}
	return &OrdersService{Handler: mux, db: db}, nil
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
