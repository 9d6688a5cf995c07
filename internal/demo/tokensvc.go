package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/rampart-sec/rampart/internal/edgetls"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/keys"
	"github.com/rampart-sec/rampart/internal/token"
	"github.com/rampart-sec/rampart/internal/token/store"
)

// tokenService is the demo's `rampart token`: the OAuth 2.1 / OIDC issuer the
// gateway trusts next to the stand-in issuer, with a machine client, a
// browser-login client for the gateway, a client that reads the revocation
// feed, and two users.
type tokenService struct {
	issuer, storePath string
	// secrets by client id, and users' passwords by username.
	secrets   map[string]string
	passwords map[string]string
	dir       string
	kek       []byte
}

// Demo clients of the token service.
const (
	demoCLI      = "demo-cli"     // client credentials: orders:read, keys:pii:*
	demoWeb      = "demo-web"     // the gateway's browser login
	demoFeed     = "demo-gateway" // reads the revocation feed
	callbackPath = "/.rampart/callback"
)

// startTokenService runs the token service on a fresh store in dir (nothing
// to keep between runs), on 127.0.0.1 with a development certificate, and
// registers the demo's clients and users. gatewayAddr is where browsers
// come back after logging in.
func startTokenService(ctx context.Context, dir, dataDir, gatewayAddr string, log *slog.Logger, events event.Emitter) (*tokenService, <-chan error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	ts := &tokenService{issuer: "https://" + ln.Addr().String(), dir: filepath.Join(dir, "token"),
		secrets: map[string]string{}, passwords: map[string]string{}}
	ts.storePath = filepath.Join(ts.dir, "token.db")
	fail := func(err error) (*tokenService, <-chan error, error) { ln.Close(); return nil, nil, err }
	if err := os.MkdirAll(ts.dir, 0o700); err != nil {
		return fail(err)
	}
	for _, f := range []string{ts.storePath, ts.storePath + "-wal", ts.storePath + "-shm"} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return fail(err)
		}
	}
	kek := random(32)
	ts.kek = kek
	if err := os.WriteFile(filepath.Join(ts.dir, "kek"), []byte(base64.StdEncoding.EncodeToString(kek)), 0o600); err != nil {
		return fail(err)
	}
	st, err := store.Open(ctx, ts.storePath, store.Options{KEK: kek})
	if err != nil {
		return fail(err)
	}
	err = ts.register(ctx, st, gatewayAddr)
	st.Close()
	if err != nil {
		return fail(err)
	}
	certFile, keyFile, _, err := edgetls.DevCertificate(filepath.Join(dataDir, "dev-ca"), nil)
	if err != nil {
		return fail(err)
	}
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- token.Serve(ctx, token.ServeOptions{
			Config:   token.Config{Issuer: ts.issuer, IssuerName: "rampart"},
			StoreDSN: ts.storePath, KEK: kek, Listener: ln, CertFile: certFile, KeyFile: keyFile,
			Log: log, Events: events, Started: func(string) { close(started) },
		})
	}()
	select {
	case <-started:
		return ts, done, nil
	case err := <-done:
		return nil, nil, fmt.Errorf("token service: %w", err)
	}
}

func (ts *tokenService) register(ctx context.Context, st store.Store, gatewayAddr string) error {
	secret := func(id string) string {
		s := base64.RawURLEncoding.EncodeToString(random(24))
		ts.secrets[id] = s
		return store.HashSecret(s)
	}
	for _, c := range []store.Client{
		{ID: demoCLI, Name: "Demo batch job", SecretHash: secret(demoCLI), AuthMethod: token.AuthSecretBasic,
			GrantTypes: []string{token.GrantClientCredentials}, Audiences: []string{demoAudience},
			Scopes: []string{"orders:read", "keys:pii:encrypt", "keys:pii:decrypt"}},
		{ID: demoWeb, Name: "Rampart demo (gateway login)", SecretHash: secret(demoWeb), AuthMethod: token.AuthSecretBasic,
			GrantTypes: []string{token.GrantAuthorizationCode, token.GrantRefreshToken}, Audiences: []string{demoAudience},
			RedirectURIs: []string{"https://" + gatewayAddr + callbackPath}, Scopes: []string{"openid", "profile", "accounts:read"}},
		{ID: demoFeed, Name: "Demo gateway (revocation feed)", SecretHash: secret(demoFeed), AuthMethod: token.AuthSecretBasic,
			GrantTypes: []string{token.GrantClientCredentials}, Scopes: []string{token.RevocationsScope}},
	} {
		if err := st.CreateClient(ctx, c); err != nil {
			return fmt.Errorf("register client %s: %w", c.ID, err)
		}
	}
	for _, u := range []store.User{{ID: "42", Username: "alice"}, {ID: "7", Username: "bob", Roles: []string{"admin"}}} {
		pw := base64.RawURLEncoding.EncodeToString(random(12))
		ts.passwords[u.Username] = pw
		u.PasswordHash = store.HashSecret(pw)
		if err := st.CreateUser(ctx, u); err != nil {
			return fmt.Errorf("add user %s: %w", u.Username, err)
		}
	}
	// The secrets and passwords a newcomer needs, next to the tokens.
	for name, v := range map[string]string{demoCLI + ".secret": ts.secrets[demoCLI], "alice.password": ts.passwords["alice"], "bob.password": ts.passwords["bob"]} {
		if err := os.WriteFile(filepath.Join(ts.dir, name), []byte(v), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// demoSecrets puts the secrets the generated configuration names as ${...}
// into this process's environment: the config file never holds them, and a
// reload expands them again.
func demoSecrets(ts *tokenService) error {
	for k, v := range map[string]string{
		"RAMPART_DEMO_FEED_SECRET": ts.secrets[demoFeed],
		"RAMPART_DEMO_WEB_SECRET":  ts.secrets[demoWeb],
		"RAMPART_DEMO_COOKIE_KEY":  base64.StdEncoding.EncodeToString(random(32)),
	} {
		if err := os.Setenv(k, v); err != nil {
			return err
		}
	}
	return nil
}

// demoKeyring creates the "pii" keyring the transit API serves, under a KEK
// made for this demo directory.
func demoKeyring(dir string) error {
	kekFile := filepath.Join(dir, "keys.kek")
	b, err := os.ReadFile(kekFile)
	if os.IsNotExist(err) {
		b = []byte(base64.StdEncoding.EncodeToString(random(32)))
		err = os.WriteFile(kekFile, b, 0o600)
	}
	if err != nil {
		return err
	}
	if err := os.Setenv(keys.KEKEnv, string(b)); err != nil {
		return err
	}
	kek, err := keys.LoadKEK(string(b), "")
	if err != nil {
		return err
	}
	m, err := keys.Open(filepath.Join(dir, "keys"), kek)
	if err != nil {
		return err
	}
	if _, err := m.Get("pii"); err == nil {
		return nil
	}
	_, err = m.Create("pii", keys.AEAD)
	return err
}
