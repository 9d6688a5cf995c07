package redact

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
)

// Handler returns a slog.Handler that masks, before passing the record on to
// next: the message; every string attribute value, in groups at any depth and
// in attributes added with WithAttrs, with its key as context (see Field);
// every value of a credential-named key whatever its type; integers long
// enough to be card numbers; errors and fmt.Stringers (as their text); and
// other values as the JSON a JSON handler would write for them. Keys and
// group names are written as they are.
func (r *Redactor) Handler(next slog.Handler) slog.Handler {
	return &handler{r: r, next: next}
}

type handler struct {
	r    *Redactor
	next slog.Handler
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	msg := h.r.String(rec.Message)
	changed := msg != rec.Message
	var buf [8]slog.Attr
	attrs := buf[:0]
	rec.Attrs(func(a slog.Attr) bool {
		ra, ch := h.r.attr(a)
		attrs = append(attrs, ra)
		changed = changed || ch
		return true
	})
	if !changed {
		return h.next.Handle(ctx, rec)
	}
	out := slog.NewRecord(rec.Time, rec.Level, msg, rec.PC)
	out.AddAttrs(attrs...)
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	ras := make([]slog.Attr, len(as))
	for i, a := range as {
		ras[i], _ = h.r.attr(a)
	}
	return &handler{r: h.r, next: h.next.WithAttrs(ras)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{r: h.r, next: h.next.WithGroup(name)}
}

// attr returns a with its value masked, and whether anything changed.
func (r *Redactor) attr(a slog.Attr) (slog.Attr, bool) {
	v := a.Value.Resolve()
	changed := v.Kind() != a.Value.Kind()
	if v.Kind() != slog.KindGroup && r.on[Credential] && credentialKey(a.Key) {
		if v.Kind() == slog.KindString && (v.String() == "" || isPlaceholder(v.String())) {
			return slog.Attr{Key: a.Key, Value: v}, changed
		}
		return slog.String(a.Key, r.Field(a.Key, v.String())), true
	}
	switch v.Kind() {
	case slog.KindString:
		if s := r.Field(a.Key, v.String()); s != v.String() {
			return slog.String(a.Key, s), true
		}
	case slog.KindGroup:
		group := v.Group()
		var out []slog.Attr
		for i, ga := range group {
			ra, ch := r.attr(ga)
			if ch && out == nil {
				out = make([]slog.Attr, len(group))
				copy(out, group[:i])
			}
			if out != nil {
				out[i] = ra
			}
		}
		if out != nil {
			return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}, true
		}
	case slog.KindInt64, slog.KindUint64:
		// Only a number of card length can be one; the rest is not scanned.
		var b [24]byte
		var d []byte
		if v.Kind() == slog.KindInt64 {
			d = strconv.AppendInt(b[:0], v.Int64(), 10)
		} else {
			d = strconv.AppendUint(b[:0], v.Uint64(), 10)
		}
		if len(d) >= 13 {
			if s := r.Field(a.Key, string(d)); s != string(d) {
				return slog.String(a.Key, s), true
			}
		}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			if s := r.Field(a.Key, x.Error()); s != x.Error() {
				return slog.String(a.Key, s), true
			}
		case fmt.Stringer:
			if s := r.Field(a.Key, x.String()); s != x.String() {
				return slog.String(a.Key, s), true
			}
		case []byte:
			if s := r.Field(a.Key, string(x)); s != string(x) {
				return slog.String(a.Key, s), true
			}
		default:
			// Mask what the JSON handler would write. Masking JSON text
			// keeps it JSON, so the value is written back as raw JSON.
			j, err := json.Marshal(x)
			if err != nil {
				break
			}
			if s := r.String(string(j)); s != string(j) {
				return slog.Any(a.Key, rawJSON(s)), true
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}, changed
}

// rawJSON is masked JSON text: the JSON handler writes it as JSON, the text
// handler as text.
type rawJSON string

func (j rawJSON) MarshalJSON() ([]byte, error) { return []byte(j), nil }
func (j rawJSON) MarshalText() ([]byte, error) { return []byte(j), nil }
func (j rawJSON) String() string               { return string(j) }
