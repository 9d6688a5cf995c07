package token

import (
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/token/store/storetest"
)

func TestRefreshReuseRevokesFamily(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b.Open, nil)
			_, tok := e.userTokens()
			var got []authn.Revocation
			var mu sync.Mutex
			e.srv.Revocations().Subscribe(func(r authn.Revocation) {
				mu.Lock()
				got = append(got, r)
				mu.Unlock()
			})
			// Honest rotation.
			status, r1 := e.refresh(tok.RefreshToken)
			if status != 200 || r1["refresh_token"] == tok.RefreshToken {
				t.Fatalf("honest refresh: %d %v", status, r1)
			}
			// The old token comes back after the grace window: a thief or a
			// replay. The family dies, including the honest new pair.
			e.clock.add(11 * time.Second)
			if status, body := e.refresh(tok.RefreshToken); status != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("reuse: %d %v", status, body)
			}
			if status, _ := e.refresh(r1["refresh_token"].(string)); status != 400 {
				t.Fatal("the family's newest refresh token survived a reuse")
			}
			for _, at := range []string{tok.AccessToken, r1["access_token"].(string)} {
				if _, body := e.post("/oauth2/introspect", url.Values{"token": {at}}, "svc", svcSecret); body["active"] != false {
					t.Fatal("an access token of the revoked family is still active")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 2 || got[0].TokenID == "" || got[0].Issuer != "rampart" || got[0].Until.IsZero() {
				t.Fatalf("subscriber got %+v, want the family's 2 access tokens", got)
			}
			if e.events.count(RefreshReused) != 1 {
				t.Fatal("no refresh reuse event")
			}
		})
	}
}

func TestConcurrentRefresh(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name+"/inside grace", func(t *testing.T) {
			e := newEnv(t, b.Open, nil)
			_, tok := e.userTokens()
			const n = 6
			bodies := make([]map[string]any, n)
			statuses := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { statuses[i], bodies[i] = e.refresh(tok.RefreshToken) })
			}
			wg.Wait()
			for i := range n {
				if statuses[i] != 200 || bodies[i]["refresh_token"] != bodies[0]["refresh_token"] || bodies[i]["access_token"] != bodies[0]["access_token"] {
					t.Fatalf("refresh %d: %d %v; want the same pair as refresh 0", i, statuses[i], bodies[i])
				}
			}
			if status, _ := e.refresh(bodies[0]["refresh_token"].(string)); status != 200 {
				t.Fatal("the shared new refresh token does not work")
			}
		})
		t.Run(b.Name+"/outside grace", func(t *testing.T) {
			e := newEnv(t, b.Open, func(c *Config) { c.RefreshGrace = -1 })
			_, tok := e.userTokens()
			const n = 6
			statuses := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { statuses[i], _ = e.refresh(tok.RefreshToken) })
			}
			wg.Wait()
			ok := 0
			for _, s := range statuses {
				if s == 200 {
					ok++
				}
			}
			if ok != 1 {
				t.Fatalf("%d of %d racing refreshes succeeded, want exactly 1: %v", ok, n, statuses)
			}
			// The losers were reuse: the family, winner included, is revoked.
			if e.events.count(RefreshReused) == 0 {
				t.Fatal("no reuse detected")
			}
		})
	}
}

func TestRefreshRefusedForOtherClientAndDisabledUser(t *testing.T) {
	e := sqliteEnv(t)
	_, tok := e.userTokens()
	// spa presenting web's refresh token: refused, web's family untouched.
	status, body := e.post("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"spa"}}, "", "")
	if status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("another client's refresh token: %d %v", status, body)
	}
	status, body = e.refresh(tok.RefreshToken)
	if status != 200 {
		t.Fatalf("owner's refresh after the foreign attempt: %d %v", status, body)
	}
	// Widening the scope on refresh is refused.
	if status, body := e.post("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}, "scope": {"openid profile"}}, "web", webSecret); status != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("scope widening: %d %v", status, body)
	}
	if _, err := e.st.DisableUser(t.Context(), "alice", e.clock.now(), e.clock.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.refresh(body["refresh_token"].(string)); status != 400 {
		t.Fatal("a disabled user's refresh token still works")
	}
}

// TestConcurrentCodeRedemption races redemptions of one code: one gets
// tokens, the others are replays, and the replays revoke what the winner
// got, whatever the interleaving (the tokens are stored in the
// transaction that marks the code used).
func TestConcurrentCodeRedemption(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b.Open, nil)
			cfg := e.oauth2Config("web", webSecret, "openid", "offline_access")
			code := e.codeFor(cfg)
			const n = 4
			statuses := make([]int, n)
			bodies := make([]map[string]any, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					statuses[i], bodies[i] = e.post("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}, "web", webSecret)
				})
			}
			wg.Wait()
			won := -1
			for i, s := range statuses {
				if s == 200 {
					if won >= 0 {
						t.Fatalf("two redemptions of one code succeeded")
					}
					won = i
				}
			}
			if won < 0 {
				t.Fatalf("no redemption succeeded: %v", statuses)
			}
			if status, _ := e.refresh(bodies[won]["refresh_token"].(string)); status != 400 {
				t.Fatal("the replayed code's refresh token survived")
			}
			if _, body := e.post("/oauth2/introspect", url.Values{"token": {bodies[won]["access_token"].(string)}}, "svc", svcSecret); body["active"] != false {
				t.Fatal("the replayed code's access token is still active")
			}
		})
	}
}
