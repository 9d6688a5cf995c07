package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/keys"
	"github.com/rampart-sec/rampart/internal/keys/transit"
	"github.com/rampart-sec/rampart/internal/requestid"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// transitPrefix is where the transit API is mounted on the gateway
// listener, before routing (like the login callback): the gateway's TLS,
// limits, access log and events apply to it.
const transitPrefix = "/v1/transit/"

// tableVerifier verifies bearer tokens with the table's current JWT
// verifier, so the transit API follows reloads of the issuers.
type tableVerifier struct{ t *Table }

var errNoVerifier = errors.New("no issuer key set is configured")

func (v tableVerifier) Verify(ctx context.Context, tok string, allowed []string) (*principal.Principal, error) {
	if v.t.verifier == nil || v.t.verifier.verifier == nil {
		return nil, errNoVerifier
	}
	return v.t.verifier.verifier.Verify(ctx, tok, allowed)
}

var _ transit.Authenticator = tableVerifier{}

// newTransit builds the table's transit API; nil when not configured.
func newTransit(t *Table, cfg config.Transit, m *keys.Manager, deps Deps) (http.Handler, error) {
	if len(cfg.Issuers) == 0 || m == nil {
		return nil, nil
	}
	return transit.New(transit.Options{Keys: m, Auth: tableVerifier{t}, Issuers: cfg.Issuers, Events: deps.Events, MaxBatch: cfg.MaxBatch,
		RequestInfo: transitRequestInfo})
}

// transitRequestInfo gives the transit API the gateway's request id and the
// client it resolved (behind trusted proxies), which its events and answers
// carry like every other refusal of the gateway.
func transitRequestInfo(r *http.Request) (string, string) {
	if st, ok := r.Context().Value(stateKey{}).(*state); ok {
		return st.fwd.requestID, st.fwd.client
	}
	return requestid.New(), peerAddr(r.RemoteAddr).String()
}

// isTransit reports whether the canonical path belongs to the transit API.
func isTransit(canon string) bool { return strings.HasPrefix(canon, transitPrefix) }

// openKeys opens the keyrings for the transit API and reloads them every
// second, so that `rampart keys rotate|disable` reach a running gateway.
func openKeys(ctx context.Context, cfg config.Transit, dataDir string, log *slog.Logger) (*keys.Manager, error) {
	kek, err := keys.LoadKEK(os.Getenv(keys.KEKEnv), cfg.KEKFile)
	if err != nil {
		return nil, fmt.Errorf("transit: %w", err)
	}
	dir := cfg.Dir
	if dir == "" {
		dir = filepath.Join(dataDir, "keys")
	}
	m, err := keys.Open(dir, kek)
	if err != nil {
		return nil, fmt.Errorf("transit: open keyrings in %s: %w", dir, err)
	}
	go m.Watch(ctx, time.Second, func(err error) { log.Error("transit: reload keyrings", "error", err.Error()) })
	return m, nil
}
