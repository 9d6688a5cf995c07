package authn

import (
	"errors"
	"net/http"
	"testing"
)

func TestBearerToken(t *testing.T) {
	cases := []struct {
		name   string
		values []string
		tok    string
		err    string // "" ok, "none" ErrNoCredentials, else the reason
	}{
		{"ok", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", ""},
		{"scheme in any case", []string{"bEaReR abc"}, "abc", ""},
		{"several spaces", []string{"Bearer   abc"}, "abc", ""},
		{"padding", []string{"Bearer abc=="}, "abc==", ""},
		{"b64token alphabet", []string{"Bearer a-b.c_d~e+f/g"}, "a-b.c_d~e+f/g", ""},
		{"no header", nil, "", "none"},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", ReasonMalformed},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", ReasonMalformed},
		{"scheme only", []string{"Bearer"}, "", ReasonMalformed},
		{"scheme and space", []string{"Bearer "}, "", ReasonMalformed},
		{"no space", []string{"Bearerabc"}, "", ReasonMalformed},
		{"tab", []string{"Bearer\tabc"}, "", ReasonMalformed},
		{"two tokens", []string{"Bearer abc def"}, "", ReasonMalformed},
		{"comma list", []string{"Bearer abc, Bearer def"}, "", ReasonMalformed},
		{"quote", []string{`Bearer "abc"`}, "", ReasonMalformed},
		{"only padding", []string{"Bearer =="}, "", ReasonMalformed},
		{"padding inside", []string{"Bearer a=b"}, "", ReasonMalformed},
		{"control byte", []string{"Bearer a\x00b"}, "", ReasonMalformed},
		{"non-ASCII", []string{"Bearer aé"}, "", ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			if c.values != nil {
				h["Authorization"] = c.values
			}
			tok, err := BearerToken(h)
			switch c.err {
			case "":
				if err != nil || tok != c.tok {
					t.Fatalf("got %q, %v; want %q", tok, err, c.tok)
				}
			case "none":
				if !errors.Is(err, ErrNoCredentials) || tok != "" {
					t.Fatalf("got %q, %v; want ErrNoCredentials", tok, err)
				}
			default:
				var e *Error
				if !errors.As(err, &e) || e.Reason != c.err || e.Code != "invalid_request" || tok != "" {
					t.Fatalf("got %q, %v; want reason %s (invalid_request)", tok, err, c.err)
				}
			}
		})
	}
}
