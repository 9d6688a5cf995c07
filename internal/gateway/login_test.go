package gateway

import (
	"net/http"
	"reflect"
	"testing"
)

func TestStripCookies(t *testing.T) {
	for _, c := range []struct {
		in, want []string
	}{
		{[]string{"a=1; __Host-rampart-session=xyz; b=2"}, []string{"a=1; b=2"}},
		{[]string{"__Host-rampart-session=xyz"}, nil},
		{[]string{"__Host-rampart-login=l", "theme=dark"}, []string{"theme=dark"}},
		{[]string{"a=1;b=2"}, []string{"a=1;b=2"}}, // untouched when nothing is removed
		{[]string{"x__Host-rampart-session=1; __Host-rampart-session-not=2"}, []string{"x__Host-rampart-session=1; __Host-rampart-session-not=2"}},
	} {
		h := http.Header{"Cookie": append([]string(nil), c.in...)}
		stripCookies(h, "__Host-rampart-session", "__Host-rampart-login")
		if got := h["Cookie"]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q -> %q, want %q", c.in, got, c.want)
		}
	}
}

// A session-authenticated write must come from the gateway's own origin.
func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		method, site, origin string
		ok                   bool
	}{
		{"GET", "cross-site", "", true}, // reads are not state changes
		{"POST", "same-origin", "", true},
		{"POST", "same-site", "", false}, // a sibling subdomain
		{"POST", "cross-site", "https://gw.example", false},
		{"POST", "none", "", false},
		{"DELETE", "", "https://gw.example", true}, // older browsers: Origin
		{"DELETE", "", "https://evil.example", false},
		{"PUT", "", "", false}, // no evidence at all
	} {
		r, _ := http.NewRequest(c.method, "https://gw.example/x", nil)
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := sameOrigin(r, "https", "gw.example"); got != c.ok {
			t.Errorf("%s site=%q origin=%q: %v, want %v", c.method, c.site, c.origin, got, c.ok)
		}
	}
}
