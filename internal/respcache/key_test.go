package respcache

import (
	"net/http"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/sdk/principal"
)

// keyOf is the key the handler makes for r, or "" when it refuses to key it.
func keyOf(t *testing.T, h *Handler, r *http.Request) string {
	t.Helper()
	v, ok := DefaultView(r)
	if !ok {
		return ""
	}
	k, ok := h.key(r, v)
	if !ok {
		return ""
	}
	return k
}

func TestKeys(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := c.Wrap("r", Policy{TTL: time.Second, Scope: Public, Vary: []string{"Accept-Language"}}, http.NotFoundHandler())
	priv, _ := c.Wrap("r", Policy{TTL: time.Second, Vary: []string{"Accept-Language"}}, http.NotFoundHandler())
	other, _ := c.Wrap("s", Policy{TTL: time.Second, Scope: Public, Vary: []string{"Accept-Language"}}, http.NotFoundHandler())
	get := func(target string, header ...string) *http.Request {
		return request(http.MethodGet, target, nil, header...)
	}
	withHost := func(r *http.Request, host string) *http.Request { r.Host = host; return r }

	same := []struct {
		name string
		a, b *http.Request
	}{
		{"parameter order", get("/p?a=1&b=2"), get("/p?b=2&a=1")},
		{"host case and trailing dot", withHost(get("/p"), "API.Example.com."), withHost(get("/p"), "api.example.com")},
		{"host with port", withHost(get("/p"), "API.example.com.:8443"), withHost(get("/p"), "api.example.com:8443")},
		{"duplicate slashes", get("/a//b/./c"), get("/a/b/c")},
		{"unkeyed header", get("/p", "X-Other", "1"), get("/p")},
	}
	for _, tc := range same {
		ka, kb := keyOf(t, pub, tc.a), keyOf(t, pub, tc.b)
		if ka == "" || ka != kb {
			t.Errorf("%s: keys differ (%q, %q)", tc.name, ka, kb)
		}
	}
	differ := []struct {
		name string
		a, b *http.Request
	}{
		{"path", get("/p"), get("/q")},
		{"path case", get("/p"), get("/P")},
		{"method", get("/p"), request(http.MethodHead, "/p", nil)},
		{"host", withHost(get("/p"), "a.example"), withHost(get("/p"), "b.example")},
		{"repeated parameter order", get("/p?a=1&a=2"), get("/p?a=2&a=1")},
		{"names differing in case keep their order", get("/p?A=1&a=2"), get("/p?a=2&A=1")},
		{"encoded name is not moved", get("/p?%61=1&a=2"), get("/p?a=2&%61=1")},
		{"encoded value is not decoded", get("/p?a=%31"), get("/p?a=1")},
		{"plus is not a space", get("/p?a=b+c"), get("/p?a=b%20c")},
		{"no value and empty value", get("/p?a"), get("/p?a=")},
		{"empty query", get("/p?"), get("/p?a")},
		{"parameter boundary", get("/p?a=1&b=2"), get("/p?a=1%26b%3D2")},
		{"keyed header", get("/p", "Accept-Language", "en"), get("/p", "Accept-Language", "fr")},
		{"keyed header absent or empty", get("/p"), get("/p", "Accept-Language", "")},
		{"keyed header values split", get("/p", "Accept-Language", "en", "Accept-Language", "fr"), get("/p", "Accept-Language", "en, fr")},
	}
	for _, tc := range differ {
		ka, kb := keyOf(t, pub, tc.a), keyOf(t, pub, tc.b)
		if ka == "" || kb == "" || ka == kb {
			t.Errorf("%s: keys equal or refused (%q, %q)", tc.name, ka, kb)
		}
	}
	if keyOf(t, pub, get("/p")) == keyOf(t, other, get("/p")) {
		t.Error("two routes share a key")
	}
	if keyOf(t, pub, get("/p")) == keyOf(t, priv, get("/p")) {
		t.Error("two scopes share a key")
	}
	ka := keyOf(t, priv, request(http.MethodGet, "/p", alice))
	kb := keyOf(t, priv, request(http.MethodGet, "/p", bob))
	kk := keyOf(t, priv, request(http.MethodGet, "/p", aliceAPIKey))
	if ka == kb || ka == kk {
		t.Error("private keys of two principals are equal")
	}
	if keyOf(t, pub, request(http.MethodGet, "/p", alice)) != keyOf(t, pub, request(http.MethodGet, "/p", bob)) {
		t.Error("public keys depend on the principal")
	}
	for _, target := range []string{"/p?a=1;b=2", "/a/%2e%2e/%2e%2e/x"} {
		if k := keyOf(t, pub, get(target)); k != "" {
			t.Errorf("%s: keyed, want refused", target)
		}
	}
}

// Principal keys differ for every difference the upstream is told about,
// and cannot be made equal by choosing a subject.
func TestPrincipalKey(t *testing.T) {
	base := func() *principal.Principal {
		return &principal.Principal{Subject: "alice", Kind: principal.User, Issuer: "rampart", Method: principal.JWT,
			Roles: []string{"admin"}, Scopes: []string{"accounts:read"}, Claims: map[string]any{"azp": "web"}}
	}
	key := PrincipalKey(base())
	if PrincipalKey(base()) != key {
		t.Fatal("key not stable")
	}
	for name, change := range map[string]func(p *principal.Principal){
		"subject boundary": func(p *principal.Principal) { p.Issuer, p.Subject = "rampar", "talice" },
		"method":           func(p *principal.Principal) { p.Method = principal.APIKey },
		"kind":             func(p *principal.Principal) { p.Kind = principal.Client },
		"fewer scopes":     func(p *principal.Principal) { p.Scopes = nil },
		"scope boundary":   func(p *principal.Principal) { p.Roles, p.Scopes = nil, []string{"admin", "accounts:read"} },
		"no roles":         func(p *principal.Principal) { p.Roles = nil },
		"other client":     func(p *principal.Principal) { p.Claims = map[string]any{"azp": "third-party"} },
		"client_id":        func(p *principal.Principal) { p.Claims = map[string]any{"azp": "web", "client_id": "x"} },
	} {
		p := base()
		change(p)
		if PrincipalKey(p) == key {
			t.Errorf("%s: same key", name)
		}
	}
	p := base()
	p.Claims["jti"] = "token-2"
	if PrincipalKey(p) != key {
		t.Error("a per-token claim changes the key: every token would miss")
	}
	if PrincipalKey(nil) != "" {
		t.Error("nil principal has a key")
	}
}
