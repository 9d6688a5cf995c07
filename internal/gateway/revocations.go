package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/config"
	"github.com/rampart-sec/rampart/internal/event"
)

// revocationFeed polls a token service's revocation feed (GET
// endpoint?since=N, HTTP Basic client authentication, `rampart token`'s
// /revocations) and hands each record to the verifier, which drops the
// cached tokens it covers and refuses them until they expire.
type revocationFeed struct {
	issuer   string // the configured issuer name: records apply to it only
	endpoint string
	id       string
	secret   string
	interval time.Duration
	client   *http.Client
	verifier *authn.Verifier
	events   event.Emitter
	log      *slog.Logger
	since    int64
}

func newRevocationFeed(is *config.Issuer, v *authn.Verifier, client *http.Client, events event.Emitter, log *slog.Logger) *revocationFeed {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	rv := is.Revocations
	interval := rv.Interval.Std()
	if interval == 0 {
		interval = 2 * time.Second
	}
	return &revocationFeed{issuer: is.Name, endpoint: rv.Endpoint, id: rv.ClientID, secret: rv.ClientSecret,
		interval: interval, client: client, verifier: v, events: events, log: log}
}

// run polls until ctx ends. Failures keep the position and are reported as
// keyset_failure-like events at most once a minute.
func (f *revocationFeed) run(ctx context.Context) {
	var lastReport time.Time
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		if err := f.poll(ctx); err != nil && ctx.Err() == nil && time.Since(lastReport) > time.Minute {
			lastReport = time.Now()
			f.events.Emit(event.Event{Type: event.RevocationFeed, Severity: event.High, Reason: "feed_unavailable",
				Detail: "issuer " + f.issuer + ": revocations are not being received"})
			f.log.Error("revocation feed unavailable", "issuer", f.issuer, "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll reads every record after the current position.
func (f *revocationFeed) poll(ctx context.Context) error {
	for range 100 { // at most 100 pages of 1000 per poll
		u, err := url.Parse(f.endpoint)
		if err != nil {
			return err
		}
		q := u.Query()
		q.Set("since", strconv.FormatInt(f.since, 10))
		u.RawQuery = q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth(url.QueryEscape(f.id), url.QueryEscape(f.secret))
		resp, err := f.client.Do(req)
		if err != nil {
			return err
		}
		var page struct {
			Revocations []struct {
				TokenID      string `json:"jti"`
				Subject      string `json:"sub"`
				ClientID     string `json:"client_id"`
				IssuedBefore int64  `json:"issued_before"`
				Until        int64  `json:"until"`
			} `json:"revocations"`
			Next int64 `json:"next"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("revocation feed answered %d", resp.StatusCode)
		}
		if err != nil {
			return fmt.Errorf("decode revocation feed: %w", err)
		}
		for _, r := range page.Revocations {
			rv := authn.Revocation{Issuer: f.issuer, TokenID: r.TokenID, Subject: r.Subject, ClientID: r.ClientID}
			if r.IssuedBefore > 0 {
				rv.IssuedBefore = time.Unix(r.IssuedBefore, 0)
			}
			if r.Until > 0 {
				rv.Until = time.Unix(r.Until, 0)
			}
			if n := f.verifier.Revoke(rv); n > 0 {
				f.log.Info("revocation applied", "issuer", f.issuer, "cached_tokens_dropped", n)
			}
		}
		if page.Next <= f.since || len(page.Revocations) == 0 {
			return nil
		}
		f.since = page.Next
	}
	return nil
}
