// Package validate checks request content before the gateway proxies it:
// generic JSON limits and media types (Limits), OpenAPI request validation
// (OpenAPI) and a web application firewall with the OWASP Core Rule Set (WAF).
//
// Everything expensive (parsing a spec, compiling the CRS) happens once when a
// configuration loads, through a Compiler that shares specs and WAFs between
// the routes that use the same ones. Per request, the gateway reads the body
// once with ReadBody and runs the route's Chain on that byte slice; the
// request keeps an identical body for the proxy.
//
// A refusal is a *Violation: a short, stable reason code for metrics,
// detection rules and dashboards, and a bounded, secret-free detail for the
// security event. Violations never quote header values or body content.
package validate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"
)

// Reason codes of a Violation. They are stable: detection rules key on them.
const (
	ReasonBodyTooLarge      = "body_too_large"
	ReasonBodyUnreadable    = "body_unreadable"
	ReasonContentType       = "content_type"
	ReasonJSONSyntax        = "json_syntax"
	ReasonJSONDepth         = "json_depth"
	ReasonJSONKeys          = "json_keys"
	ReasonJSONDuplicateKey  = "json_duplicate_key"
	ReasonJSONStringLength  = "json_string_length"
	ReasonJSONNumberLength  = "json_number_length"
	ReasonJSONArrayLength   = "json_array_length"
	ReasonOperationNotFound = "operation_not_found"
	ReasonSchemaPath        = "schema_path"
	ReasonSchemaQuery       = "schema_query"
	ReasonSchemaHeader      = "schema_header"
	ReasonSchemaCookie      = "schema_cookie"
	ReasonSchemaBody        = "schema_body"
	ReasonUnknownField      = "unknown_field"
	ReasonWAF               = "waf"
)

// maxDetail bounds Violation.Detail: details end up in events and logs, and
// parts of them (field names) come from the client.
const maxDetail = 256

// Violation is why a request was refused.
type Violation struct {
	// Reason is one of the Reason* codes.
	Reason string
	// Detail says what was wrong, for the security event. It is bounded and
	// holds no header values or body content.
	Detail string
	// Status is the HTTP status to answer with.
	Status int
	// ReportOnly is set by a WAF in detection-only mode: the request would
	// have been blocked, and goes on. The zero value blocks.
	ReportOnly bool
}

func (v *Violation) Error() string { return v.Reason + ": " + v.Detail }

func violation(reason string, status int, detail string) *Violation {
	return &Violation{Reason: reason, Status: status, Detail: sanitize(detail)}
}

// sanitize bounds s and replaces control characters and invalid UTF-8, so a
// client-chosen field name cannot forge log lines.
func sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean && len(s) <= maxDetail {
		return s
	}
	var b []byte
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			r = '?'
		}
		if len(b)+utf8.RuneLen(r) > maxDetail-3 {
			b = append(b, "..."...)
			break
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// DefaultMaxBody is the body size read for validation when Options.MaxBody is 0.
const DefaultMaxBody = 1 << 20

// readAll reads up to max+1 bytes of rd. With a declared length (the
// common case) it reads into a buffer of exactly that size, then makes
// sure nothing follows.
func readAll(rd io.Reader, declared, max int64) ([]byte, error) {
	if declared <= 0 {
		var buf bytes.Buffer
		_, err := buf.ReadFrom(io.LimitReader(rd, max+1))
		return buf.Bytes(), err
	}
	body := make([]byte, declared)
	if _, err := io.ReadFull(rd, body); err != nil {
		return nil, err
	}
	var one [1]byte
	switch _, err := io.ReadFull(rd, one[:]); err {
	case io.EOF:
		return body, nil
	case nil:
		return nil, errors.New("body longer than its declared length")
	default:
		return nil, err
	}
}

// ReadBody reads r's body, at most max bytes (DefaultMaxBody when max <= 0),
// and replaces r.Body with a reader over the same bytes so that the proxy
// forwards exactly what was validated. A body over max is a Violation with
// status 413; one that cannot be read (a client that broke off, bad chunking)
// is one with status 400.
func ReadBody(r *http.Request, max int64) ([]byte, *Violation) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if max <= 0 {
		max = DefaultMaxBody
	}
	if r.ContentLength > max {
		return nil, violation(ReasonBodyTooLarge, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("declared length %d exceeds %d bytes", r.ContentLength, max))
	}
	body, err := readAll(r.Body, r.ContentLength, max)
	r.Body.Close()
	if err != nil {
		// Includes the gateway's own body limit, which it records itself.
		return nil, violation(ReasonBodyUnreadable, http.StatusBadRequest, "request body could not be read")
	}
	if int64(len(body)) > max {
		return nil, violation(ReasonBodyTooLarge, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("body exceeds %d bytes", max))
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, nil
}
