package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/oidclogin"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// login is browser login at the gateway (the login section). OpenID
// discovery needs the provider, so it runs in the background with retries:
// until it succeeds, login routes answer 503 and /readyz says so.
type login struct {
	cfg                      oidclogin.Config
	callbackPath, logoutPath string
	cur                      atomic.Pointer[oidclogin.Login]
	log                      *slog.Logger
	events                   event.Emitter
}

// Reasons for login refusals decided by the gateway.
const (
	// reasonLoginRequired: a login route without a session; browsers are
	// sent to the provider, other clients get 401.
	reasonLoginRequired = "login_required"
	// reasonCrossSite: a state-changing request authenticated by the
	// session cookie that does not come from the gateway's own origin.
	reasonCrossSite = "cross_site_request"
)

// newLogin builds browser login from the configuration; nil when there is none.
func newLogin(cfg *config.Config, log *slog.Logger, events event.Emitter) (*login, error) {
	l := cfg.Login
	if l.Issuer == "" {
		return nil, nil
	}
	var issuerURL string
	var hc *http.Client
	for i := range cfg.Issuers {
		if is := &cfg.Issuers[i]; is.Name == l.Issuer {
			issuerURL = is.Issuer
			var err error
			if hc, err = issuerHTTPClient(is); err != nil {
				return nil, err
			}
		}
	}
	key, err := config.DecodeKey32(l.CookieKey)
	if err != nil {
		return nil, fmt.Errorf("login.cookie_key: %w", err)
	}
	u, err := url.Parse(l.RedirectURL)
	if err != nil {
		return nil, fmt.Errorf("login.redirect_url: %w", err)
	}
	return &login{
		cfg: oidclogin.Config{
			Name: l.Issuer, IssuerURL: issuerURL, ClientID: l.ClientID, ClientSecret: l.ClientSecret,
			RedirectURL: l.RedirectURL, Scopes: l.Scopes, CookieKey: key, SessionTTL: l.SessionTTL.Std(),
			HTTPClient: hc,
		},
		callbackPath: u.Path,
		logoutPath:   l.LogoutPath,
		log:          log,
		events:       events,
	}, nil
}

// start runs OpenID discovery until it succeeds or ctx ends, backing off
// from 1 s to 1 min between attempts.
func (l *login) start(ctx context.Context) {
	go func() {
		backoff := time.Second
		for {
			c, cancel := context.WithTimeout(ctx, 30*time.Second)
			lg, err := oidclogin.New(c, l.cfg)
			cancel()
			if err == nil {
				l.cur.Store(lg)
				l.log.Info("browser login ready", "issuer", l.cfg.Name)
				return
			}
			l.log.Error("browser login: OpenID discovery failed; login routes answer 503 until it succeeds",
				"issuer", l.cfg.Name, "retry_in", backoff.String(), "error", err.Error())
			l.events.Emit(event.Event{Type: event.KeySetFailure, Severity: event.High, Reason: "login_discovery_failed",
				Detail: fmt.Sprintf("issuer %s: %v", l.cfg.Name, err)})
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
		}
	}()
}

// ready reports whether discovery succeeded.
func (l *login) ready() bool { return l != nil && l.cur.Load() != nil }

// serveOwnPath answers the gateway's own login paths (the callback and
// logout). It returns handled false for any other path, and the refusal
// reason ("" when the callback succeeded) for the access log and the event.
func (l *login) serveOwnPath(w http.ResponseWriter, r *http.Request, canon string) (handled bool, reason string) {
	if l == nil || (canon != l.callbackPath && canon != l.logoutPath) {
		return false, ""
	}
	lg := l.cur.Load()
	if lg == nil {
		w.Header().Set("Retry-After", "5")
		return true, "login_unavailable"
	}
	if canon == l.logoutPath {
		lg.Logout(w, r)
		return true, ""
	}
	if err := lg.Callback(w, r); err != nil {
		var e *oidclogin.Error
		if errors.As(err, &e) {
			return true, e.Reason
		}
		return true, "login_failed"
	}
	return true, ""
}

// session returns the principal of the request's session cookie, or nil.
func (l *login) session(r *http.Request) *principal.Principal {
	if lg := l.cur.Load(); lg != nil {
		return lg.Session(r)
	}
	return nil
}

// sameOrigin reports whether a state-changing request comes from the
// gateway's own pages: SameSite=Lax stops cross-site POSTs but not requests
// from a sibling subdomain, so session-authenticated writes also need the
// browser's Sec-Fetch-Site to say same-origin, or, from browsers that do
// not send it, an Origin equal to the gateway's.
func sameOrigin(r *http.Request, proto, host string) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	return r.Header.Get("Origin") == proto+"://"+host
}

// stripCookies removes the named cookies from the request's Cookie headers,
// keeping the others as they were: the session must never reach a service.
func stripCookies(h http.Header, names ...string) {
	vs := h["Cookie"]
	if len(vs) == 0 {
		return
	}
	out := vs[:0]
	for _, v := range vs {
		var kept []string
		changed := false
		for part := range strings.SplitSeq(v, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			drop := false
			for _, n := range names {
				drop = drop || name == n
			}
			if drop {
				changed = true
				continue
			}
			kept = append(kept, strings.TrimSpace(part))
		}
		switch {
		case !changed:
			out = append(out, v)
		case len(kept) > 0:
			out = append(out, strings.Join(kept, "; "))
		}
	}
	if len(out) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = out
}

// loginError is the credential error for a login route without a session.
var errLoginRequired = &authn.Error{Reason: reasonLoginRequired, Code: "invalid_token"}
