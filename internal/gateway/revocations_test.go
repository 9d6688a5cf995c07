package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/rampart-sec/rampart/internal/token"
	"github.com/rampart-sec/rampart/internal/token/store"
	"github.com/rampart-sec/rampart/internal/token/store/storetest"
)

// Revoking a client at the token service reaches a running gateway through
// the revocation feed: the client's still-unexpired access token, already
// in the gateway's verified-token cache, is refused within the poll
// interval, while another client's token keeps working.
func TestRevocationReachesGateway(t *testing.T) {
	st, _ := storetest.SQLite(t)
	ctx := t.Context()
	for _, c := range []store.Client{
		{ID: "batch", SecretHash: store.HashSecret("batch-secret"), AuthMethod: token.AuthSecretBasic,
			GrantTypes: []string{token.GrantClientCredentials}, Scopes: []string{"orders:read"}, Audiences: []string{"api"}},
		{ID: "reports", SecretHash: store.HashSecret("reports-secret"), AuthMethod: token.AuthSecretBasic,
			GrantTypes: []string{token.GrantClientCredentials}, Scopes: []string{"orders:read"}, Audiences: []string{"api"}},
		{ID: "gateway", SecretHash: store.HashSecret("gateway-secret"), AuthMethod: token.AuthSecretBasic,
			GrantTypes: []string{token.GrantClientCredentials}, Scopes: []string{token.RevocationsScope}},
	} {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	srv, err := token.New(ctx, token.Config{Issuer: issuer, IssuerName: "rampart"}, token.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts.Config.Handler = srv.Handler()
	ts.Start()
	defer ts.Close()

	up := newUpstream(t, "orders", nil)
	t.Setenv("FEED_SECRET", "gateway-secret")
	g := startGateway(t, fmt.Sprintf(`
gateway: {listen: 127.0.0.1:0, admin: 127.0.0.1:0, tls: {disabled: true}}
issuers:
  - name: rampart
    issuer: %s
    jwks_uri: %s/.well-known/jwks.json
    audiences: [api]
    algorithms: [EdDSA]
    token_type: at+jwt
    revocations: {endpoint: "%s/revocations", client_id: gateway, client_secret: "${FEED_SECRET}", interval: 100ms}
upstreams:
  orders: {targets: ["http://%s"]}
routes:
  - {name: orders, match: {path: /orders}, upstream: orders, auth: {issuers: [rampart], scopes: [orders:read]}}
`, issuer, issuer, issuer, up.addr))
	waitIssuer(t, g.addrs.Admin, "rampart")

	tokenFor := func(id, secret string) string {
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: issuer + "/oauth2/token", Scopes: []string{"orders:read"}}
		tok, err := cc.Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	batch, reports := tokenFor("batch", "batch-secret"), tokenFor("reports", "reports-secret")
	call := func(tok string) int {
		status, _, _ := raw(t, g.addrs.Gateway, get("/orders", "Authorization: Bearer "+tok))
		return status
	}
	if call(batch) != 200 || call(reports) != 200 {
		t.Fatal("fresh tokens refused")
	}
	now := time.Now()
	if err := st.RevokeClient(ctx, "batch", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for call(batch) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the revoked client's cached token still passes after 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := call(reports); s != 200 {
		t.Fatalf("another client's token suffered from the revocation: %d", s)
	}
	if !strings.Contains(g.logs.String(), "revocation applied") {
		t.Error("the feed's revocation was not logged")
	}
}
