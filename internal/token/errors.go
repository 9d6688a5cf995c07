package token

import (
	"encoding/json"
	"mime"
	"net/http"
)

// oauthError is an RFC 6749 section 5.2 error. Description is fixed text
// chosen by this package: never a token, a secret or input echoed back.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	status      int
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func errInvalidRequest(d string) *oauthError {
	return &oauthError{Code: "invalid_request", Description: d, status: http.StatusBadRequest}
}

func errInvalidClient() *oauthError {
	return &oauthError{Code: "invalid_client", Description: "client authentication failed", status: http.StatusUnauthorized}
}

func errInvalidGrant(d string) *oauthError {
	return &oauthError{Code: "invalid_grant", Description: d, status: http.StatusBadRequest}
}

func errUnauthorizedClient(d string) *oauthError {
	return &oauthError{Code: "unauthorized_client", Description: d, status: http.StatusBadRequest}
}

func errInvalidScope() *oauthError {
	return &oauthError{Code: "invalid_scope", Description: "a requested scope or audience is not allowed for this client", status: http.StatusBadRequest}
}

func errServer() *oauthError {
	return &oauthError{Code: "server_error", Description: "the request could not be completed", status: http.StatusInternalServerError}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers with e and the request id (RFC 6749 lets an error
// response carry members beyond its own; clients ignore them).
func writeError(w http.ResponseWriter, e *oauthError) {
	if e.status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="rampart-token"`)
	}
	writeJSON(w, e.status, struct {
		*oauthError
		RequestID string `json:"request_id,omitempty"`
	}{e, w.Header().Get("X-Request-Id")})
}

// maxFormBytes bounds a form body: no legitimate OAuth request is larger.
const maxFormBytes = 64 << 10

// parseForm reads a POST form body (application/x-www-form-urlencoded
// only) and refuses a parameter given twice (RFC 6749 section 3.2).
func parseForm(w http.ResponseWriter, r *http.Request) *oauthError {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return errInvalidRequest("the body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return errInvalidRequest("malformed form body")
	}
	// Query parameters are not part of a token request: a parameter there
	// could be a second value a proxy sees differently.
	if r.URL.RawQuery != "" {
		return errInvalidRequest("parameters must be in the body")
	}
	for _, v := range r.PostForm {
		if len(v) > 1 {
			return errInvalidRequest("a parameter was given more than once")
		}
	}
	return nil
}
