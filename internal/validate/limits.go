package validate

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// LimitsOptions configure a route's generic body checks (no spec needed).
type LimitsOptions struct {
	// MediaTypes are the media types a request body may have: "type/subtype",
	// "type/*", "type/*+suffix" (application/*+json) or "*/*". A request
	// with a body must declare exactly one Content-Type, and a listed one.
	// Empty: the JSON media types when JSON is set, anything otherwise.
	MediaTypes []string
	// JSON bounds JSON bodies (application/json and type/*+json) and
	// refuses malformed ones; nil does not scan bodies.
	JSON *JSONLimits
}

// Limits is a compiled LimitsOptions.
type Limits struct {
	media []string // lowercased; empty allows any
	json  *JSONLimits
}

// NewLimits checks o and compiles it.
func NewLimits(o LimitsOptions) (*Limits, error) {
	l := &Limits{}
	for _, m := range o.MediaTypes {
		mt := strings.ToLower(strings.TrimSpace(m))
		typ, sub, ok := strings.Cut(mt, "/")
		if !ok || !token(typ) || !(token(sub) || sub == "*") || (typ == "*" && sub != "*") || strings.Contains(mt, ";") {
			return nil, fmt.Errorf("media type %q: want type/subtype, type/* or */*", m)
		}
		l.media = append(l.media, mt)
	}
	if o.JSON != nil {
		j := *o.JSON
		if j.MaxDepth < 0 || j.MaxKeys < 0 || j.MaxStringLen < 0 || j.MaxNumberLen < 0 || j.MaxArrayLen < 0 {
			return nil, errors.New("json limits must not be negative")
		}
		j = j.withDefaults()
		l.json = &j
		if len(l.media) == 0 {
			// A route that bounds JSON accepts only JSON: many frameworks
			// parse a JSON body whatever its declared type, which would
			// walk around the limits.
			l.media = []string{"application/json", "application/*+json"}
		}
	}
	return l, nil
}

// Check enforces the media type and, for JSON bodies, the JSON limits.
// body is what ReadBody returned.
func (l *Limits) Check(r *http.Request, body []byte) *Violation {
	v, _ := l.check(r, body)
	return v
}

// check is Check, and also reports whether body was scanned as JSON and
// passed: a later stage may then build it with buildJSON.
func (l *Limits) check(r *http.Request, body []byte) (v *Violation, scannedJSON bool) {
	if len(body) == 0 {
		return nil, false
	}
	if len(l.media) == 0 && len(r.Header["Content-Type"]) == 0 {
		// Any type is allowed, and a body that declares none is not JSON.
		return nil, false
	}
	mt, v := mediaType(r.Header)
	if v != nil {
		return v, false
	}
	if len(l.media) > 0 && !l.allowed(mt) {
		return violation(ReasonContentType, http.StatusUnsupportedMediaType, "media type "+quoteBounded(mt)+" not allowed"), false
	}
	if l.json == nil || !isJSON(mt) {
		return nil, false
	}
	if v := scanJSON(body, *l.json); v != nil {
		return v, false
	}
	return nil, true
}

// scanJSON runs checkJSON and turns its error into a Violation.
func scanJSON(body []byte, lim JSONLimits) *Violation {
	err := checkJSON(body, lim)
	if err == nil {
		return nil
	}
	status := http.StatusBadRequest
	if err.reason != ReasonJSONSyntax && err.reason != ReasonJSONDuplicateKey {
		status = http.StatusRequestEntityTooLarge
	}
	return violation(err.reason, status, fmt.Sprintf("%s at offset %d", err.what, err.off))
}

func (l *Limits) allowed(mt string) bool {
	typ, sub, _ := strings.Cut(mt, "/")
	for _, m := range l.media {
		switch {
		case m == mt, m == "*/*":
			return true
		case strings.HasSuffix(m, "/*") && m[:len(m)-2] == typ:
			return true
		case strings.HasPrefix(m, typ+"/*+") && strings.HasSuffix(sub, m[len(typ)+2:]):
			// application/*+json matches application/problem+json.
			return true
		}
	}
	return false
}

// mediaType returns the lowercased media type of the body. A body needs
// exactly one well-formed Content-Type; JSON must be UTF-8 (RFC 8259), since
// a charset parameter that some parsers honour and others ignore is a
// parser differential.
func mediaType(h http.Header) (string, *Violation) {
	vs := h["Content-Type"]
	switch len(vs) {
	case 0:
		return "", violation(ReasonContentType, http.StatusUnsupportedMediaType, "body without Content-Type")
	case 1:
	default:
		return "", violation(ReasonContentType, http.StatusBadRequest, "more than one Content-Type")
	}
	mt, params, _ := strings.Cut(vs[0], ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || !token(typ) || !token(sub) {
		return "", violation(ReasonContentType, http.StatusUnsupportedMediaType, "malformed Content-Type")
	}
	if isJSON(mt) {
		for p := range strings.SplitSeq(params, ";") {
			k, val, _ := strings.Cut(p, "=")
			if strings.EqualFold(strings.TrimSpace(k), "charset") {
				cs := strings.ToLower(strings.Trim(strings.TrimSpace(val), `"`))
				if cs != "utf-8" && cs != "utf8" {
					return "", violation(ReasonContentType, http.StatusUnsupportedMediaType, "JSON charset is not UTF-8")
				}
			}
		}
	}
	return mt, nil
}

func isJSON(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// token reports whether s is an RFC 9110 token.
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// quoteBounded quotes a short, client-chosen value for a detail.
func quoteBounded(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return fmt.Sprintf("%q", s)
}
