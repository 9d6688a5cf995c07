package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// routeMask hides the values of named JSON fields in a route's responses
// from callers that lack every one of its scopes. It fails closed: a
// response it cannot parse is refused, never passed on unmasked.
type routeMask struct {
	fields   map[string]bool // lowercased names
	unless   []string
	lastFour bool
	maxBody  int64
}

func compileMask(m config.Mask) *routeMask {
	if len(m.Fields) == 0 {
		return nil
	}
	rm := &routeMask{fields: make(map[string]bool, len(m.Fields)), unless: m.UnlessScopes,
		lastFour: m.Style == "last_four", maxBody: int64(m.MaxBody)}
	for _, f := range m.Fields {
		rm.fields[strings.ToLower(f)] = true
	}
	return rm
}

// exempt reports whether p may see the clear values.
func (m *routeMask) exempt(p *principal.Principal) bool {
	if p == nil {
		return false
	}
	for _, s := range m.unless {
		if p.HasScope(s) {
			return true
		}
	}
	return false
}

// maskError says why a response could not be masked; it becomes a 502.
type maskError struct{ reason string }

func (e *maskError) Error() string { return "response masking: " + e.reason }

// maxMaskDepth bounds nesting so that a hostile upstream cannot exhaust the stack.
const maxMaskDepth = 64

// apply rewrites resp's body with the fields masked.
func (m *routeMask) apply(resp *http.Response) error {
	if resp.StatusCode < 200 || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified || resp.Request.Method == http.MethodHead {
		return nil
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return &maskError{"compressed"}
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return &maskError{"not_json"}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, m.maxBody+1))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read response to mask: %w", err)
	}
	if int64(len(body)) > m.maxBody {
		return &maskError{"too_large"}
	}
	out := bytes.NewBuffer(make([]byte, 0, len(body)))
	if err := m.rewrite(out, body); err != nil {
		return &maskError{"bad_json"}
	}
	resp.Body = io.NopCloser(out)
	resp.ContentLength = int64(out.Len())
	resp.Header.Set("Content-Length", strconv.Itoa(out.Len()))
	// The masked body is not the upstream's: its validators no longer match.
	resp.Header.Del("ETag")
	resp.Header.Del("Content-MD5")
	resp.Header.Del("Digest")
	return nil
}

// rewrite copies one JSON document from src to out, member order kept,
// with the values of masked names replaced. Names are compared after
// unescaping, so "s\u0073n" is "ssn".
func (m *routeMask) rewrite(out *bytes.Buffer, src []byte) error {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	if err := m.value(out, dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

func (m *routeMask) value(out *bytes.Buffer, dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= maxMaskDepth {
			return errors.New("too deep")
		}
		if t == '[' {
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := m.value(out, dec, depth+1); err != nil {
					return err
				}
			}
			out.WriteByte(']')
		} else {
			out.WriteByte('{')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				writeJSONString(out, k)
				out.WriteByte(':')
				if m.fields[strings.ToLower(k)] {
					var raw json.RawMessage
					if err := dec.Decode(&raw); err != nil {
						return err
					}
					m.masked(out, raw)
					continue
				}
				if err := m.value(out, dec, depth+1); err != nil {
					return err
				}
			}
			out.WriteByte('}')
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case string:
		writeJSONString(out, t)
	case json.Number:
		out.WriteString(t.String())
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	}
	return nil
}

// masked writes the mask for one value. null stays null (it holds nothing);
// last_four keeps the end of a string or number only when at least four
// characters are hidden in front of it.
func (m *routeMask) masked(out *bytes.Buffer, raw json.RawMessage) {
	if string(raw) == "null" {
		out.WriteString("null")
		return
	}
	if m.lastFour {
		var s string
		switch {
		case len(raw) > 0 && raw[0] == '"':
			_ = json.Unmarshal(raw, &s)
		case len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')):
			s = string(raw)
		}
		if n := utf8.RuneCountInString(s); n >= 8 {
			r := []rune(s)
			writeJSONString(out, "****"+string(r[n-4:]))
			return
		}
	}
	out.WriteString(`"****"`)
}

// writeJSONString writes s as a JSON string, escaping only what JSON
// requires so that unmasked text keeps its bytes (json.Marshal would also
// escape <, > and &). Invalid UTF-8 becomes U+FFFD, as encoding/json does.
func writeJSONString(out *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	out.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			out.WriteByte('\\')
			out.WriteByte(byte(r))
		case r < 0x20:
			out.WriteString(`\u00`)
			out.WriteByte(hex[r>>4])
			out.WriteByte(hex[r&0xf])
		default:
			out.WriteRune(r)
		}
	}
	out.WriteByte('"')
}
