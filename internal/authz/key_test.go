package authz

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/rampart-sec/rampart/sdk/principal"
)

func TestCompileKey(t *testing.T) {
	k, err := CompileKey(`string(principal.claims.tenant) + "/" + request.headers["x-app"]`)
	if err != nil {
		t.Fatal(err)
	}
	if !k.NeedsPrincipal() || !k.NeedsRequest() {
		t.Fatal("references not seen")
	}
	p := &principal.Principal{Subject: "alice", Claims: map[string]any{"tenant": "acme"}}
	req := &Request{Headers: http.Header{"X-App": {"mobile"}}}
	if got, err := k.Eval(p, req); err != nil || got != "acme/mobile" {
		t.Fatalf("Eval = %q, %v", got, err)
	}
	// A claim the token lacks is an error for the caller to handle, not a panic.
	if _, err := k.Eval(&principal.Principal{Subject: "bob"}, req); err == nil {
		t.Fatal("missing claim evaluated")
	}

	onlyReq, err := CompileKey(`request.headers["x-tenant"]`)
	if err != nil || onlyReq.NeedsPrincipal() || !onlyReq.NeedsRequest() {
		t.Fatalf("request-only key: %v", err)
	}

	for src, want := range map[string]string{
		`principal.claims.tenant`:    "rate limit key: must be string, is dyn (convert the value, e.g. string(principal.claims.tenant))",
		`principal.subjet`:           "rate limit key: 1:10: undefined field 'subjet'",
		`principal.roles.size() > 1`: "rate limit key: must be string, is bool",
	} {
		_, err := CompileKey(src)
		var ce *CompileError
		if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("CompileKey(%q) = %v, want %q", src, err, want)
		}
	}
}
