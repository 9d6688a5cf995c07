package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/token/store"
	"github.com/rampart-sec/rampart/internal/token/store/storetest"
)

// forEach runs fn against every backend.
func forEach(t *testing.T, fn func(t *testing.T, s store.Store, dsn string)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s, dsn := b.Open(t)
			fn(t, s, dsn)
		})
	}
}

var t0 = time.Unix(1_800_000_000, 0)

func TestClients(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store, _ string) {
		ctx := t.Context()
		c := store.Client{ID: "svc", Name: "Service", SecretHash: store.HashSecret("s3cret"), AuthMethod: "client_secret_basic",
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"a", "b"}, Audiences: []string{"api"}, Created: t0}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateClient(ctx, c); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate client: got %v, want ErrConflict", err)
		}
		got, err := s.GetClient(ctx, "svc")
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Service" || len(got.Scopes) != 2 || got.Audiences[0] != "api" || !got.Created.Equal(t0) || !got.Revoked.IsZero() || got.RedirectURIs == nil {
			t.Fatalf("client round trip: %+v", got)
		}
		if !store.VerifySecret(got.SecretHash, "s3cret") || store.VerifySecret(got.SecretHash, "s3cret!") {
			t.Fatal("secret hash does not verify exactly the secret")
		}
		if _, err := s.GetClient(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown client: %v", err)
		}
		if err := s.RevokeClient(ctx, "svc", t0.Add(time.Hour), t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeClient(ctx, "nope", t0, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoke unknown client: %v", err)
		}
		if rs, err := s.RevocationsSince(ctx, 0, t0, 10); err != nil || len(rs) != 1 || rs[0].ClientID != "svc" || !rs[0].IssuedBefore.Equal(t0.Add(time.Hour)) {
			t.Fatalf("revoking a client published %+v %v", rs, err)
		}
		cs, err := s.ListClients(ctx)
		if err != nil || len(cs) != 1 || !cs[0].Revoked.Equal(t0.Add(time.Hour)) {
			t.Fatalf("list after revoke: %+v %v", cs, err)
		}
	})
}

func TestUsers(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store, _ string) {
		ctx := t.Context()
		u := store.User{ID: "u-1", Username: "alice", PasswordHash: store.HashSecret("pw1"), Roles: []string{"admin"}, Created: t0}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, store.User{ID: "u-2", Username: "alice"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate username: %v", err)
		}
		for _, key := range []string{"u-1", "alice"} {
			got, err := s.GetUser(ctx, key)
			if err != nil || got.ID != "u-1" || got.Roles[0] != "admin" {
				t.Fatalf("get user %s: %+v %v", key, got, err)
			}
		}
		if err := s.SetPassword(ctx, "alice", store.HashSecret("pw2")); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetUser(ctx, "alice")
		if !store.VerifySecret(got.PasswordHash, "pw2") || store.VerifySecret(got.PasswordHash, "pw1") {
			t.Fatal("password not changed")
		}
		issue(t, s, "fam-u", "web", "u-1")
		d, err := s.DisableUser(ctx, "alice", t0, t0.Add(time.Hour))
		if err != nil || !d.Disabled.Equal(t0) {
			t.Fatalf("disable: %+v %v", d, err)
		}
		if _, err := s.GetRefreshToken(ctx, "fam-u-rt"); !errors.Is(err, store.ErrInactive) {
			t.Fatalf("a disabled user's refresh token: got %v, want ErrInactive", err)
		}
		if rs, err := s.RevocationsSince(ctx, 0, t0, 10); err != nil || len(rs) != 1 || rs[0].Subject != "u-1" || !rs[0].Until.Equal(t0.Add(time.Hour)) {
			t.Fatalf("disabling a user published %+v %v", rs, err)
		}
		if _, err := s.DisableUser(ctx, "bob", t0, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("disable unknown user: %v", err)
		}
	})
}

// issue redeems a code for the first refresh token (hash family+"-rt")
// and access token (jti family+"-at") of a family.
func issue(t testing.TB, s store.Store, family, client, subject string) {
	t.Helper()
	code := store.AuthCode{Hash: store.TokenHash(family), ClientID: client, Subject: subject, Family: family, Expires: t0.Add(time.Minute)}
	if err := s.CreateAuthCode(t.Context(), code); err != nil {
		t.Fatal(err)
	}
	_, err := s.RedeemAuthCode(t.Context(), code.Hash, t0, func(store.AuthCode, store.User) (*store.RefreshToken, store.AccessToken, error) {
		rt := refresh(family+"-rt", family, client, subject)
		return &rt, store.AccessToken{JTI: family + "-at", Family: family, ClientID: client, Subject: subject, Issued: t0, Expires: t0.Add(5 * time.Minute)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func refresh(hash, family, client, subject string) store.RefreshToken {
	return store.RefreshToken{Hash: hash, Family: family, ClientID: client, Subject: subject, Scope: "openid offline_access",
		AuthTime: t0, Issued: t0, Expires: t0.Add(24 * time.Hour)}
}

func rotation(old, newHash, family string, now time.Time, grace time.Duration) store.Rotation {
	return store.Rotation{
		Old:    old,
		New:    refresh(newHash, family, "web", "u-1"),
		Access: store.AccessToken{JTI: newHash + "-at", Family: family, ClientID: "web", Subject: "u-1", Issued: now, Expires: now.Add(5 * time.Minute)},
		Reply:  []byte("reply for " + newHash),
		Now:    now,
		Grace:  grace,
	}
}

func TestAuthCodeIsSingleUse(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store, _ string) {
		ctx := t.Context()
		c := store.AuthCode{Hash: store.TokenHash("code"), ClientID: "web", Subject: "u-1", RedirectURI: "https://app/cb", Scope: "openid",
			Challenge: "abc", ChallengeMethod: "S256", AuthTime: t0, Family: "f1", Expires: t0.Add(time.Minute)}
		if err := s.CreateAuthCode(ctx, c); err != nil {
			t.Fatal(err)
		}
		tokens := func(c store.AuthCode, _ store.User) (*store.RefreshToken, store.AccessToken, error) {
			rt := refresh("rt-"+c.Family, c.Family, c.ClientID, c.Subject)
			return &rt, store.AccessToken{JTI: "at-" + c.Family, Family: c.Family, ClientID: c.ClientID, Subject: c.Subject, Issued: t0, Expires: t0.Add(time.Minute)}, nil
		}
		if _, err := s.RedeemAuthCode(ctx, c.Hash, t0.Add(2*time.Minute), tokens); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired code: got %v, want ErrNotFound", err)
		}
		// Racing redemptions: exactly one wins.
		var wins, used int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				got, err := s.RedeemAuthCode(ctx, c.Hash, t0, tokens)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && got.Challenge == "abc" && got.Family == "f1":
					wins++
				case errors.Is(err, store.ErrUsed) && got.Family == "f1":
					used++
				default:
					t.Errorf("redeem: %+v %v", got, err)
				}
			})
		}
		wg.Wait()
		if wins != 1 || used != 7 {
			t.Fatalf("racing redemptions: %d won, %d refused as used; want 1 and 7", wins, used)
		}
		if _, err := s.RedeemAuthCode(ctx, store.TokenHash("other"), t0, tokens); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown code: %v", err)
		}
		// The winner's tokens were stored with the code's use.
		if _, err := s.GetRefreshToken(ctx, "rt-f1"); err != nil {
			t.Fatalf("the redeemed code's refresh token: %v", err)
		}
		// A failed check burns the code and stores nothing.
		c2 := c
		c2.Hash, c2.Family = store.TokenHash("code2"), "f2"
		if err := s.CreateAuthCode(ctx, c2); err != nil {
			t.Fatal(err)
		}
		bad := errors.New("pkce mismatch")
		if _, err := s.RedeemAuthCode(ctx, c2.Hash, t0, func(store.AuthCode, store.User) (*store.RefreshToken, store.AccessToken, error) {
			return nil, store.AccessToken{}, bad
		}); !errors.Is(err, bad) {
			t.Fatalf("failed check: %v", err)
		}
		if _, err := s.RedeemAuthCode(ctx, c2.Hash, t0, tokens); !errors.Is(err, store.ErrUsed) {
			t.Fatalf("a code that failed its check was usable again: %v", err)
		}
		if _, err := s.GetRefreshToken(ctx, "rt-f2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("tokens stored for a burned code: %v", err)
		}
	})
}

func TestAssertionJTIReplay(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store, _ string) {
		exp := time.Now().Add(time.Minute)
		if ok, err := s.AssertionJTIUnused(t.Context(), "j1", exp); !ok || err != nil {
			t.Fatalf("first use: %v %v", ok, err)
		}
		if ok, err := s.AssertionJTIUnused(t.Context(), "j1", exp); ok || err != nil {
			t.Fatalf("replay accepted: %v %v", ok, err)
		}
	})
}

func TestRotateAndReuse(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store, _ string) {
		ctx := t.Context()
		issue(t, s, "fam", "web", "u-1")
		now := t0.Add(time.Minute)
		res, _, err := s.Rotate(ctx, rotation("fam-rt", "rt2", "fam", now, 10*time.Second))
		if err != nil || res.Replay != nil || res.Prev.Subject != "u-1" {
			t.Fatalf("honest rotation: %+v %v", res, err)
		}
		if _, err := s.GetRefreshToken(ctx, "rt2"); err != nil {
			t.Fatalf("new token not active: %v", err)
		}
		if _, err := s.GetRefreshToken(ctx, "fam-rt"); !errors.Is(err, store.ErrInactive) {
			t.Fatalf("rotated token still active: %v", err)
		}
		// Inside the grace window: the same reply, nothing new stored.
		res, _, err = s.Rotate(ctx, rotation("fam-rt", "rt2b", "fam", now.Add(5*time.Second), 10*time.Second))
		if err != nil || string(res.Replay) != "reply for rt2" {
			t.Fatalf("refresh inside grace: %+v %v", res, err)
		}
		if _, err := s.GetRefreshToken(ctx, "rt2b"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("grace replay stored a new token: %v", err)
		}
		// After the window: reuse revokes the family, access tokens named.
		_, fam, err := s.Rotate(ctx, rotation("fam-rt", "rt3", "fam", now.Add(11*time.Second), 10*time.Second))
		if !errors.Is(err, store.ErrReused) {
			t.Fatalf("reuse after grace: got %v, want ErrReused", err)
		}
		if fam.Family != "fam" || fam.Subject != "u-1" || fam.ClientID != "web" || len(fam.AccessTokens) != 2 {
			t.Fatalf("revoked family: %+v", fam)
		}
		if _, err := s.GetRefreshToken(ctx, "rt2"); !errors.Is(err, store.ErrInactive) {
			t.Fatalf("family member survived reuse: %v", err)
		}
		if _, _, err := s.Rotate(ctx, rotation("rt2", "rt4", "fam", now.Add(12*time.Second), 10*time.Second)); !errors.Is(err, store.ErrInactive) {
			t.Fatalf("rotating a revoked token: %v", err)
		}
		if _, _, err := s.Rotate(ctx, rotation("nope", "rt5", "fam", now, 10*time.Second)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("rotating an unknown token: %v", err)
		}
		issue(t, s, "old", "web", "u-1")
		if _, _, err := s.Rotate(ctx, rotation("old-rt", "rt6", "old", t0.Add(25*time.Hour), 0)); !errors.Is(err, store.ErrInactive) {
			t.Fatalf("rotating an expired token: %v", err)
		}
	})
}

func TestConcurrentRotation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace time.Duration
	}{{"inside grace", 10 * time.Second}, {"no grace", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			forEach(t, func(t *testing.T, s store.Store, _ string) {
				ctx := t.Context()
				issue(t, s, "fam", "web", "u-1")
				const n = 8
				results := make([]store.Rotated, n)
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() {
						// All at the same instant: the grace window never
						// ends between them, whatever the scheduling.
						results[i], _, errs[i] = s.Rotate(ctx, rotation("fam-rt", fmt.Sprintf("new%d", i), "fam", t0.Add(time.Minute), tc.grace))
					})
				}
				wg.Wait()
				var winner = -1
				for i := range n {
					if errs[i] == nil && results[i].Replay == nil {
						if winner >= 0 {
							t.Fatalf("two rotations won: %d and %d", winner, i)
						}
						winner = i
					}
				}
				if winner < 0 {
					t.Fatalf("no rotation won: %v", errs)
				}
				want := []byte(fmt.Sprintf("reply for new%d", winner))
				for i := range n {
					if i == winner {
						continue
					}
					if tc.grace > 0 {
						if errs[i] != nil || !bytes.Equal(results[i].Replay, want) {
							t.Fatalf("loser %d inside grace: %q %v, want the winner's reply", i, results[i].Replay, errs[i])
						}
					} else if !errors.Is(errs[i], store.ErrReused) && !errors.Is(errs[i], store.ErrInactive) {
						// The first loser revokes the family; the later
						// ones find the token revoked.
						t.Fatalf("loser %d without grace: %v, want ErrReused or ErrInactive", i, errs[i])
					}
				}
				_, err := s.GetRefreshToken(ctx, fmt.Sprintf("new%d", winner))
				if tc.grace > 0 && err != nil {
					t.Fatalf("winner's token inside grace: %v", err)
				}
				if tc.grace == 0 && !errors.Is(err, store.ErrInactive) {
					t.Fatalf("winner's token after a reuse: %v, want the family revoked", err)
				}
			})
		})
	}
}

func TestSigningKeys(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store, dsn string) {
		ctx := t.Context()
		key := func(kid string) store.SigningKey {
			return store.SigningKey{KID: kid, Alg: "EdDSA", Private: []byte("private-" + kid), PublicJWK: `{"kid":"` + kid + `"}`, Created: t0}
		}
		for i, kid := range []string{"k1", "k2", "k3"} {
			if err := s.RotateKeys(ctx, key(kid), t0.Add(time.Duration(i)*time.Hour), 10*time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		// k1 became current, k2 next; the third rotation retired k1,
		// made k2 current and k3 next.
		states := func(now time.Time) map[string]store.KeyState {
			ks, err := s.SigningKeys(ctx, now)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]store.KeyState{}
			for _, k := range ks {
				if string(k.Private) != "private-"+k.KID {
					t.Fatalf("key %s did not open", k.KID)
				}
				m[k.KID] = k.State
			}
			return m
		}
		got := states(t0.Add(2 * time.Hour))
		if got["k1"] != store.KeyRetired || got["k2"] != store.KeyCurrent || got["k3"] != store.KeyNext {
			t.Fatalf("states after rotation: %v", got)
		}
		if got := states(t0.Add(2*time.Hour + 11*time.Minute)); len(got) != 2 || got["k1"] != "" {
			t.Fatalf("retired key still published after its tokens expired: %v", got)
		}
		if fmt.Sprint(key("k1")) != "SigningKey{kid=k1 alg=EdDSA state=}" {
			t.Fatalf("a signing key prints its material: %v", key("k1"))
		}
		// The wrong key-encryption key opens nothing.
		other, err := store.Open(ctx, dsn, store.Options{KEK: bytes.Repeat([]byte{7}, 32)})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		if _, err := other.SigningKeys(ctx, t0); err == nil {
			t.Fatal("signing keys opened under the wrong key-encryption key")
		}
	})
}

func TestSigningKeysSealedOnDisk(t *testing.T) {
	s, dsn := storetest.SQLite(t)
	if err := s.RotateKeys(t.Context(), store.SigningKey{KID: "k1", Alg: "EdDSA", Private: []byte("VERY-SECRET-KEY-MATERIAL"), Created: t0}, t0, 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, f := range []string{dsn, dsn + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("VERY-SECRET-KEY-MATERIAL")) {
			t.Fatalf("%s holds the private key in the clear", filepath.Base(f))
		}
	}
	fi, err := os.Stat(dsn)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("store file mode: %v %v", fi.Mode(), err)
	}
}

func TestRevocationFeed(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store, _ string) {
		ctx := t.Context()
		a, err := s.AddRevocation(ctx, store.Revocation{TokenID: "j1", Until: t0.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.AddRevocation(ctx, store.Revocation{ClientID: "svc", IssuedBefore: t0, Until: t0.Add(time.Hour)})
		if err != nil || b <= a {
			t.Fatalf("sequence: %d then %d, %v", a, b, err)
		}
		got, err := s.RevocationsSince(ctx, 0, t0, 10)
		if err != nil || len(got) != 2 || got[0].TokenID != "j1" || got[1].ClientID != "svc" || !got[1].IssuedBefore.Equal(t0) {
			t.Fatalf("feed: %+v %v", got, err)
		}
		if got, _ := s.RevocationsSince(ctx, a, t0, 10); len(got) != 1 || got[0].Seq != b {
			t.Fatalf("feed since %d: %+v", a, got)
		}
		if got, _ := s.RevocationsSince(ctx, 0, t0.Add(2*time.Minute), 10); len(got) != 1 {
			t.Fatalf("expired revocation still served: %+v", got)
		}
	})
}

// TestReopenKeepsAcknowledgedWrites closes the store after each write and
// opens it again: what was acknowledged is there, whole.
func TestReopenKeepsAcknowledgedWrites(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store, dsn string) {
		ctx := t.Context()
		issue(t, s, "fam", "web", "u-1")
		if _, _, err := s.Rotate(ctx, rotation("fam-rt", "rt2", "fam", t0.Add(time.Minute), time.Minute)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		s2 := storetest.OpenDSN(t, dsn)
		if _, err := s2.GetRefreshToken(ctx, "rt2"); err != nil {
			t.Fatalf("rotated-in token lost across reopen: %v", err)
		}
		res, _, err := s2.Rotate(ctx, rotation("fam-rt", "x", "fam", t0.Add(time.Minute+time.Second), time.Minute))
		if err != nil || string(res.Replay) != "reply for rt2" {
			t.Fatalf("sealed reply lost across reopen: %q %v", res.Replay, err)
		}
	})
}

func TestOpenRefusesShortKEK(t *testing.T) {
	if _, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), store.Options{KEK: []byte("short")}); err == nil {
		t.Fatal("opened with a 5-byte KEK")
	}
}

func TestVerifySecretRefusesMalformedHashes(t *testing.T) {
	good := store.HashSecret("pw")
	for _, h := range []string{"", "pw", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2i$" + good[10:], good + "x"} {
		if store.VerifySecret(h, "pw") {
			t.Fatalf("malformed hash %q verified", h)
		}
	}
	if !store.VerifySecret(good, "pw") {
		t.Fatal("honest hash did not verify")
	}
}

func TestPurge(t *testing.T) {
	forEach(t, func(t *testing.T, s store.Store, _ string) {
		ctx := t.Context()
		issue(t, s, "fam", "web", "u-1")
		if _, err := s.AddRevocation(ctx, store.Revocation{TokenID: "j", Until: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Purge(ctx, t0.Add(time.Second)); err != nil || n != 0 {
			t.Fatalf("purge before anything expired removed %d rows: %v", n, err)
		}
		// The code (1m), the refresh token (24h), its access token (5m), the revocation (1m).
		n, err := s.Purge(ctx, t0.Add(25*time.Hour))
		if err != nil || n != 4 {
			t.Fatalf("purge after expiry removed %d rows, want 4: %v", n, err)
		}
		if _, err := s.GetRefreshToken(ctx, "fam-rt"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("expired refresh token kept: %v", err)
		}
	})
}
