// Package transit serves Rampart's keyrings over HTTP with the semantics
// of Vault's transit engine (our own code): services send plaintext and
// get ciphertext back, and never hold the keys.
//
//	POST /v1/transit/encrypt/{key}            {"plaintext": B64, "context": B64}
//	POST /v1/transit/decrypt/{key}            {"ciphertext": "rampart:v1:…", "context": B64}
//	POST /v1/transit/rewrap/{key}             {"ciphertext": "rampart:v1:…", "context": B64}
//	POST /v1/transit/datakey/plaintext/{key}  {"bits": 256, "context": B64}
//	POST /v1/transit/datakey/wrapped/{key}    (the same, without the plaintext key)
//
// Each body may instead carry "batch_input": [{…}, …]; the answer then
// holds "batch_results" in the same order, each with its own "error".
// A single item answers {"data": {…}} or, on failure, a 4xx with
// {"error": CODE}. Codes are short and stable: unauthorized, forbidden,
// unknown_key, bad_ciphertext, decrypt_failed, unknown_version,
// version_disabled, version_too_old, bad_input, bad_request,
// batch_too_large, too_large, internal.
//
// Callers authenticate with an OAuth2 bearer token (client credentials),
// verified by the gateway's own verifier, and need a scope per key and
// operation: keys:<key>:encrypt, keys:<key>:decrypt, keys:<key>:rewrap,
// keys:<key>:datakey. Every call is a security event naming who, which
// key, which operation and how many items, never the data.
package transit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/keys"
	"github.com/rampart-sec/rampart/internal/requestid"
	"github.com/rampart-sec/rampart/sdk/fieldcrypt"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// Event types of the transit API.
const (
	// EventOp is one transit call that passed authorization: who, key,
	// operation, item and failure counts.
	EventOp event.Type = "keys_transit"
	// EventUnauthenticated is a call without a valid bearer token (401).
	EventUnauthenticated event.Type = "keys_transit_unauthenticated"
	// EventForbidden is a call whose token lacks the key's scope (403).
	EventForbidden event.Type = "keys_transit_forbidden"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxBody  = 1 << 20
	DefaultMaxBatch = 1000
)

// Authenticator verifies a bearer token for the given issuers;
// *authn.Verifier is one.
type Authenticator interface {
	Verify(ctx context.Context, tok string, allowed []string) (*principal.Principal, error)
}

// Options are a Handler's dependencies.
type Options struct {
	Keys *keys.Manager
	Auth Authenticator
	// Issuers are the configured issuer names whose tokens are accepted.
	Issuers []string
	Events  event.Emitter
	// MaxBody bounds a request body in bytes (0: DefaultMaxBody).
	MaxBody int64
	// MaxBatch bounds the items of a batch (0: DefaultMaxBatch).
	MaxBatch int
	// RequestInfo returns the request id and client address of a call, as
	// the server that mounts the handler resolved them (its request id,
	// the client behind trusted proxies). Nil: a new request id per call,
	// set as the X-Request-Id response header, and the peer address.
	// Headers the client sent are never believed.
	RequestInfo func(*http.Request) (requestID, clientIP string)
}

// Handler is the transit API.
type Handler struct {
	o   Options
	mux *http.ServeMux
}

// New checks o and returns the handler.
func New(o Options) (*Handler, error) {
	if o.Keys == nil || o.Auth == nil {
		return nil, errors.New("transit: keys and an authenticator are required")
	}
	if len(o.Issuers) == 0 {
		return nil, errors.New("transit: no issuers: no token could ever be accepted")
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Events == nil {
		o.Events = discard{}
	}
	if o.RequestInfo == nil {
		o.RequestInfo = func(r *http.Request) (string, string) { return requestid.New(), clientIP(r) }
	}
	h := &Handler{o: o, mux: http.NewServeMux()}
	h.mux.Handle("POST /v1/transit/encrypt/{key}", h.op("encrypt", h.encrypt))
	h.mux.Handle("POST /v1/transit/decrypt/{key}", h.op("decrypt", h.decrypt))
	h.mux.Handle("POST /v1/transit/rewrap/{key}", h.op("rewrap", h.rewrap))
	h.mux.Handle("POST /v1/transit/datakey/plaintext/{key}", h.op("datakey", h.datakey(true)))
	h.mux.Handle("POST /v1/transit/datakey/wrapped/{key}", h.op("datakey", h.datakey(false)))
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// item is one input, alone or in batch_input.
type item struct {
	Plaintext  string `json:"plaintext,omitempty"`
	Ciphertext string `json:"ciphertext,omitempty"`
	Context    string `json:"context,omitempty"`
	Bits       int    `json:"bits,omitempty"`
}

type request struct {
	item
	BatchInput []item `json:"batch_input,omitempty"`
}

// result is one output; Plaintext is a pointer because an empty plaintext
// is a valid answer that must still appear.
type result struct {
	Ciphertext string  `json:"ciphertext,omitempty"`
	Plaintext  *string `json:"plaintext,omitempty"`
	KeyVersion int     `json:"key_version,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// failure is an item's error: its API code and the HTTP status it gets
// when the request had only that item.
type failure struct {
	code   string
	status int
}

func (f *failure) Error() string { return f.code }

var (
	errBadInput = &failure{"bad_input", http.StatusBadRequest}
	errInternal = &failure{"internal", http.StatusInternalServerError}
)

// classify maps a keys error to its API failure.
func classify(err error) *failure {
	var f *failure
	switch {
	case errors.As(err, &f):
		return f
	case errors.Is(err, keys.ErrUnknownKey):
		return &failure{"unknown_key", http.StatusNotFound}
	case errors.Is(err, keys.ErrMalformedCiphertext):
		return &failure{"bad_ciphertext", http.StatusBadRequest}
	case errors.Is(err, keys.ErrDecrypt):
		return &failure{"decrypt_failed", http.StatusBadRequest}
	case errors.Is(err, keys.ErrUnknownVersion):
		return &failure{"unknown_version", http.StatusBadRequest}
	case errors.Is(err, keys.ErrVersionDisabled):
		return &failure{"version_disabled", http.StatusBadRequest}
	case errors.Is(err, keys.ErrVersionTooOld):
		return &failure{"version_too_old", http.StatusBadRequest}
	}
	return errInternal
}

type opFunc func(key string, in item) (result, error)

// op wraps one operation with authentication, authorization, body
// decoding, batching and its event.
func (h *Handler) op(name string, fn opFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		id, client := h.o.RequestInfo(r)
		if w.Header().Get("X-Request-Id") == "" {
			w.Header().Set("X-Request-Id", id)
		}
		ev := event.Event{Type: EventOp, Severity: event.Info, Route: "transit/" + name,
			ClientIP: client, RequestID: id}
		tok, ok := bearer(r)
		if !ok {
			h.refuse(w, ev, EventUnauthenticated, http.StatusUnauthorized, "unauthorized", "missing bearer token", key)
			return
		}
		p, err := h.o.Auth.Verify(r.Context(), tok, h.o.Issuers)
		if err != nil || p == nil {
			h.refuse(w, ev, EventUnauthenticated, http.StatusUnauthorized, "unauthorized", "token refused", key)
			return
		}
		ev.Principal = p.Subject
		if !keys.ValidName(key) {
			// No such keyring can exist; answering before the scope check
			// reveals nothing.
			h.reject(w, ev, http.StatusNotFound, "unknown_key", key)
			return
		}
		if !p.HasScope("keys:" + key + ":" + name) {
			h.refuse(w, ev, EventForbidden, http.StatusForbidden, "forbidden", "missing scope for "+name, key)
			return
		}
		if _, err := h.o.Keys.Get(key); err != nil {
			// Once, for the whole request, rather than once per batch item.
			h.reject(w, ev, http.StatusNotFound, "unknown_key", key)
			return
		}

		var req request
		r.Body = http.MaxBytesReader(w, r.Body, h.o.MaxBody)
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				h.reject(w, ev, http.StatusRequestEntityTooLarge, "too_large", key)
				return
			}
			h.reject(w, ev, http.StatusBadRequest, "bad_request", key)
			return
		}
		if req.BatchInput == nil {
			ev.Detail = fmt.Sprintf("key=%q op=%s items=1", key, name)
			res, err := fn(key, req.item)
			if err != nil {
				f := classify(err)
				ev.Reason, ev.Severity = f.code, severityOf(f)
				ev.Detail += " failed=1"
				h.o.Events.Emit(ev)
				writeJSON(w, f.status, errorBody{f.code, ev.RequestID})
				return
			}
			ev.Reason = "ok"
			h.o.Events.Emit(ev)
			writeJSON(w, http.StatusOK, map[string]result{"data": res})
			return
		}
		if req.item != (item{}) {
			h.reject(w, ev, http.StatusBadRequest, "bad_request", key)
			return
		}
		if len(req.BatchInput) > h.o.MaxBatch {
			h.reject(w, ev, http.StatusBadRequest, "batch_too_large", key)
			return
		}
		results := make([]result, len(req.BatchInput))
		failed := 0
		ev.Reason = "ok"
		for i, in := range req.BatchInput {
			res, err := fn(key, in)
			if err != nil {
				f := classify(err)
				res = result{Error: f.code}
				failed++
				if severityOf(f) > ev.Severity {
					ev.Severity, ev.Reason = severityOf(f), f.code
				}
			}
			results[i] = res
		}
		if failed > 0 && ev.Reason == "ok" {
			ev.Reason = "partial"
		}
		ev.Detail = fmt.Sprintf("key=%q op=%s items=%d failed=%d", key, name, len(results), failed)
		h.o.Events.Emit(ev)
		writeJSON(w, http.StatusOK, map[string]map[string][]result{"data": {"batch_results": results}})
	})
}

// severityOf raises the event of a call whose ciphertexts fail to
// authenticate: that is tampering or probing, not a client bug.
func severityOf(f *failure) event.Severity {
	if f.code == "decrypt_failed" {
		return event.Low
	}
	return event.Info
}

func (h *Handler) refuse(w http.ResponseWriter, ev event.Event, t event.Type, status int, code, detail, key string) {
	ev.Type, ev.Severity, ev.Reason = t, event.Medium, code
	ev.Detail = fmt.Sprintf("key=%q %s", key, detail)
	h.o.Events.Emit(ev)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rampart-transit"`)
	}
	writeJSON(w, status, errorBody{code, ev.RequestID})
}

func (h *Handler) reject(w http.ResponseWriter, ev event.Event, status int, code, key string) {
	ev.Reason, ev.Severity = code, event.Low
	ev.Detail = fmt.Sprintf("key=%q", key)
	h.o.Events.Emit(ev)
	writeJSON(w, status, errorBody{code, ev.RequestID})
}

func (h *Handler) encrypt(key string, in item) (result, error) {
	pt, ad, err := decodeInput(in.Plaintext, in.Context)
	if err != nil {
		return result{}, err
	}
	ct, err := h.o.Keys.Encrypt(key, pt, ad)
	if err != nil {
		return result{}, err
	}
	return result{Ciphertext: ct, KeyVersion: version(ct)}, nil
}

func (h *Handler) decrypt(key string, in item) (result, error) {
	_, ad, err := decodeInput("", in.Context)
	if err != nil {
		return result{}, err
	}
	pt, err := h.o.Keys.Decrypt(key, in.Ciphertext, ad)
	if err != nil {
		return result{}, err
	}
	s := base64.StdEncoding.EncodeToString(pt)
	return result{Plaintext: &s}, nil
}

func (h *Handler) rewrap(key string, in item) (result, error) {
	_, ad, err := decodeInput("", in.Context)
	if err != nil {
		return result{}, err
	}
	ct, err := h.o.Keys.Rewrap(key, in.Ciphertext, ad)
	if err != nil {
		return result{}, err
	}
	return result{Ciphertext: ct, KeyVersion: version(ct)}, nil
}

func (h *Handler) datakey(withPlaintext bool) opFunc {
	return func(key string, in item) (result, error) {
		_, ad, err := decodeInput("", in.Context)
		if err != nil {
			return result{}, err
		}
		bits := in.Bits
		if bits == 0 {
			bits = 256
		}
		if bits != 128 && bits != 256 && bits != 512 {
			return result{}, errBadInput
		}
		pt, ct, err := h.o.Keys.DataKey(key, bits, ad)
		if err != nil {
			return result{}, err
		}
		res := result{Ciphertext: ct, KeyVersion: version(ct)}
		if withPlaintext {
			s := base64.StdEncoding.EncodeToString(pt)
			res.Plaintext = &s
		}
		clear(pt)
		return res, nil
	}
}

func decodeInput(plaintext, context string) (pt, ad []byte, err error) {
	if pt, err = base64.StdEncoding.DecodeString(plaintext); err != nil {
		return nil, nil, errBadInput
	}
	if context != "" {
		if ad, err = base64.StdEncoding.DecodeString(context); err != nil {
			return nil, nil, errBadInput
		}
	}
	return pt, ad, nil
}

// version reads the version back from a ciphertext the keyring just made.
func version(ct string) int {
	v, _ := fieldcrypt.Version(ct)
	return v
}

type discard struct{}

func (discard) Emit(event.Event) {}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(h[7:])
	return tok, tok != ""
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// errorBody is a refusal: a stable code, and the request id that finds the
// call's event and log lines.
type errorBody struct {
	Error     string `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
