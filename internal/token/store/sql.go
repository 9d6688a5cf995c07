package store

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrations embed.FS

// sqlStore implements Store over either dialect with the same queries.
type sqlStore struct {
	db   dialect
	seal *sealer
}

// migrate applies the dialect's embedded migrations that are not applied
// yet, each in its own transaction with its version row, so a crash leaves
// a migration either applied and recorded or neither.
func (s *sqlStore) migrate(ctx context.Context) error {
	dir := "migrations/" + s.db.name()
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	if _, err := s.db.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number: %w", e.Name(), err)
		}
		body, err := migrations.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		err = s.db.tx(ctx, func(q querier) error {
			// Serialize concurrent starters of several instances.
			if err := s.lock(ctx, q, lockMigrate); err != nil {
				return err
			}
			var n int
			if err := q.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range strings.Split(string(body), ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := q.exec(ctx, stmt); err != nil {
					return err
				}
			}
			_, err := q.exec(ctx, `INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`, v, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("apply migration %s: %w", e.Name(), err)
		}
	}
	return nil
}

func (s *sqlStore) Close() error { return s.db.close() }

// Advisory lock keys, one per kind of read-then-write transaction.
const (
	lockMigrate = 7461736 + iota
	lockRevocations
	lockKeys
)

// lock serializes transactions of one kind until the caller's transaction
// ends. PostgreSQL's read-committed transactions need it where a
// transaction decides on what it read; SQLite's immediate transactions
// already run one at a time.
func (s *sqlStore) lock(ctx context.Context, q querier, key int64) error {
	if s.db.name() != "postgres" {
		return nil
	}
	_, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(?)`, key)
	return err
}

// ns stores instants as Unix nanoseconds; the zero time is 0.
func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func list(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func unlist(s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("decode list column: %w", err)
	}
	return v, nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// --- clients ---

func (s *sqlStore) CreateClient(ctx context.Context, c Client) error {
	_, err := s.db.exec(ctx, `INSERT INTO clients (id, name, secret_hash, public, auth_method, redirect_uris, grant_types, scopes, audiences, jwks, created, revoked)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
		c.ID, c.Name, c.SecretHash, b2i(c.Public), c.AuthMethod, list(c.RedirectURIs), list(c.GrantTypes), list(c.Scopes), list(c.Audiences), c.JWKS, ns(c.Created))
	if err != nil {
		if s.db.isConflict(err) {
			return fmt.Errorf("create client %q: %w", c.ID, ErrConflict)
		}
		return fmt.Errorf("create client %q: %w", c.ID, err)
	}
	return nil
}

const clientCols = `id, name, secret_hash, public, auth_method, redirect_uris, grant_types, scopes, audiences, jwks, created, revoked`

func scanClient(sc scanner) (Client, error) {
	var c Client
	var public, created, revoked int64
	var ru, gt, sc2, au string
	if err := sc.Scan(&c.ID, &c.Name, &c.SecretHash, &public, &c.AuthMethod, &ru, &gt, &sc2, &au, &c.JWKS, &created, &revoked); err != nil {
		return Client{}, err
	}
	c.Public, c.Created, c.Revoked = public == 1, fromNS(created), fromNS(revoked)
	var err error
	for _, p := range []struct {
		dst *[]string
		src string
	}{{&c.RedirectURIs, ru}, {&c.GrantTypes, gt}, {&c.Scopes, sc2}, {&c.Audiences, au}} {
		if *p.dst, err = unlist(p.src); err != nil {
			return Client{}, err
		}
	}
	return c, nil
}

func (s *sqlStore) GetClient(ctx context.Context, id string) (Client, error) {
	c, err := scanClient(s.db.queryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
	if err != nil {
		return Client{}, fmt.Errorf("get client %q: %w", id, err)
	}
	return c, nil
}

func (s *sqlStore) ListClients(ctx context.Context) ([]Client, error) {
	r, err := s.db.query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	defer r.Close()
	var out []Client
	for r.Next() {
		c, err := scanClient(r)
		if err != nil {
			return nil, fmt.Errorf("list clients: %w", err)
		}
		out = append(out, c)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return out, nil
}

func (s *sqlStore) RevokeClient(ctx context.Context, id string, at, until time.Time) error {
	err := s.db.tx(ctx, func(q querier) error {
		n, err := q.exec(ctx, `UPDATE clients SET revoked = ? WHERE id = ? AND revoked = 0`, ns(at), id)
		if err != nil {
			return err
		}
		if n == 0 {
			var one int
			if err := q.queryRow(ctx, `SELECT 1 FROM clients WHERE id = ?`, id).Scan(&one); err != nil {
				return err
			}
		}
		if _, err = q.exec(ctx, `UPDATE refresh_tokens SET state = 'revoked', replay = NULL WHERE client_id = ? AND state <> 'revoked'`, id); err != nil {
			return err
		}
		return s.addRevocation(ctx, q, Revocation{ClientID: id, IssuedBefore: at, Until: until}, nil)
	})
	if err != nil {
		return fmt.Errorf("revoke client %q: %w", id, err)
	}
	return nil
}

// --- users ---

func (s *sqlStore) CreateUser(ctx context.Context, u User) error {
	_, err := s.db.exec(ctx, `INSERT INTO users (id, username, password_hash, roles, created, disabled) VALUES (?, ?, ?, ?, ?, 0)`,
		u.ID, u.Username, u.PasswordHash, list(u.Roles), ns(u.Created))
	if err != nil {
		if s.db.isConflict(err) {
			return fmt.Errorf("create user %q: %w", u.Username, ErrConflict)
		}
		return fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return nil
}

func (s *sqlStore) GetUser(ctx context.Context, idOrName string) (User, error) {
	u, err := getUser(ctx, s.db, idOrName)
	if err != nil {
		return User{}, fmt.Errorf("get user %q: %w", idOrName, err)
	}
	return u, nil
}

func getUser(ctx context.Context, q querier, idOrName string) (User, error) {
	var u User
	var roles string
	var created, disabled int64
	err := q.queryRow(ctx, `SELECT id, username, password_hash, roles, created, disabled FROM users WHERE id = ? OR username = ? ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`,
		idOrName, idOrName, idOrName).Scan(&u.ID, &u.Username, &u.PasswordHash, &roles, &created, &disabled)
	if err != nil {
		return User{}, err
	}
	u.Created, u.Disabled = fromNS(created), fromNS(disabled)
	if u.Roles, err = unlist(roles); err != nil {
		return User{}, err
	}
	return u, nil
}

func (s *sqlStore) SetPassword(ctx context.Context, idOrName, hash string) error {
	err := s.db.tx(ctx, func(q querier) error {
		u, err := getUser(ctx, q, idOrName)
		if err != nil {
			return err
		}
		_, err = q.exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, u.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of user %q: %w", idOrName, err)
	}
	return nil
}

func (s *sqlStore) DisableUser(ctx context.Context, idOrName string, at, until time.Time) (User, error) {
	var u User
	err := s.db.tx(ctx, func(q querier) error {
		var err error
		if u, err = getUser(ctx, q, idOrName); err != nil {
			return err
		}
		if u.Disabled.IsZero() {
			u.Disabled = at
			if _, err := q.exec(ctx, `UPDATE users SET disabled = ? WHERE id = ?`, ns(at), u.ID); err != nil {
				return err
			}
		}
		if _, err = q.exec(ctx, `UPDATE refresh_tokens SET state = 'revoked', replay = NULL WHERE subject = ? AND state <> 'revoked'`, u.ID); err != nil {
			return err
		}
		return s.addRevocation(ctx, q, Revocation{Subject: u.ID, IssuedBefore: at, Until: until}, nil)
	})
	if err != nil {
		return User{}, fmt.Errorf("disable user %q: %w", idOrName, err)
	}
	return u, nil
}

// --- authorization codes ---

func (s *sqlStore) CreateAuthCode(ctx context.Context, c AuthCode) error {
	_, err := s.db.exec(ctx, `INSERT INTO auth_codes (hash, client_id, subject, redirect_uri, scope, nonce, challenge, challenge_meth, auth_time, family, expires, used)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
		c.Hash, c.ClientID, c.Subject, c.RedirectURI, c.Scope, c.Nonce, c.Challenge, c.ChallengeMethod, ns(c.AuthTime), c.Family, ns(c.Expires))
	if err != nil {
		return fmt.Errorf("store authorization code: %w", err)
	}
	return nil
}

func (s *sqlStore) RedeemAuthCode(ctx context.Context, hash string, now time.Time, issue func(AuthCode, User) (*RefreshToken, AccessToken, error)) (AuthCode, error) {
	var c AuthCode
	var used bool
	var issueErr error
	err := s.db.tx(ctx, func(q querier) error {
		var authTime, expires, u int64
		err := q.queryRow(ctx, `SELECT hash, client_id, subject, redirect_uri, scope, nonce, challenge, challenge_meth, auth_time, family, expires, used FROM auth_codes WHERE hash = ?`, hash).
			Scan(&c.Hash, &c.ClientID, &c.Subject, &c.RedirectURI, &c.Scope, &c.Nonce, &c.Challenge, &c.ChallengeMethod, &authTime, &c.Family, &expires, &u)
		if err != nil {
			return err
		}
		c.AuthTime, c.Expires = fromNS(authTime), fromNS(expires)
		if u != 0 {
			used = true
			return nil
		}
		if !now.Before(c.Expires) {
			return ErrNotFound
		}
		// The compare-and-swap makes the code single-use even where two
		// redemptions race on PostgreSQL's read-committed isolation.
		n, err := q.exec(ctx, `UPDATE auth_codes SET used = 1 WHERE hash = ? AND used = 0`, hash)
		if err != nil {
			return err
		}
		if n == 0 {
			used = true
			return nil
		}
		user, err := getUser(ctx, q, c.Subject)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		rt, at, err := issue(c, user)
		if err != nil {
			issueErr = err
			return nil
		}
		if rt != nil {
			if err := insertRefresh(ctx, q, *rt); err != nil {
				return err
			}
		}
		return insertAccess(ctx, q, at)
	})
	switch {
	case err != nil:
		return AuthCode{}, fmt.Errorf("redeem authorization code: %w", err)
	case used:
		return c, fmt.Errorf("redeem authorization code: %w", ErrUsed)
	case issueErr != nil:
		return c, issueErr
	}
	return c, nil
}

func (s *sqlStore) AssertionJTIUnused(ctx context.Context, jti string, expires time.Time) (bool, error) {
	now := time.Now()
	if _, err := s.db.exec(ctx, `DELETE FROM assertion_jtis WHERE expires < ?`, ns(now)); err != nil {
		return false, fmt.Errorf("record client assertion: %w", err)
	}
	_, err := s.db.exec(ctx, `INSERT INTO assertion_jtis (jti, expires) VALUES (?, ?)`, jti, ns(expires))
	if err != nil {
		if s.db.isConflict(err) {
			return false, nil
		}
		return false, fmt.Errorf("record client assertion: %w", err)
	}
	return true, nil
}

// --- tokens ---

func insertAccess(ctx context.Context, q querier, at AccessToken) error {
	_, err := q.exec(ctx, `INSERT INTO access_tokens (jti, family, client_id, subject, issued, expires) VALUES (?, ?, ?, ?, ?, ?)`,
		at.JTI, at.Family, at.ClientID, at.Subject, ns(at.Issued), ns(at.Expires))
	return err
}

func insertRefresh(ctx context.Context, q querier, rt RefreshToken) error {
	_, err := q.exec(ctx, `INSERT INTO refresh_tokens (hash, family, client_id, subject, scope, audience, auth_time, issued, expires, state, rotated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', 0)`,
		rt.Hash, rt.Family, rt.ClientID, rt.Subject, rt.Scope, rt.Audience, ns(rt.AuthTime), ns(rt.Issued), ns(rt.Expires))
	return err
}

const refreshCols = `hash, family, client_id, subject, scope, audience, auth_time, issued, expires, state, rotated_at, replay`

type refreshRow struct {
	RefreshToken
	state   string
	rotated time.Time
	replay  []byte
}

func scanRefresh(sc scanner) (refreshRow, error) {
	var r refreshRow
	var authTime, issued, expires, rotated int64
	if err := sc.Scan(&r.Hash, &r.Family, &r.ClientID, &r.Subject, &r.Scope, &r.Audience, &authTime, &issued, &expires, &r.state, &rotated, &r.replay); err != nil {
		return refreshRow{}, err
	}
	r.AuthTime, r.Issued, r.Expires, r.rotated = fromNS(authTime), fromNS(issued), fromNS(expires), fromNS(rotated)
	return r, nil
}

func (s *sqlStore) GetRefreshToken(ctx context.Context, hash string) (RefreshToken, error) {
	r, err := scanRefresh(s.db.queryRow(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = ?`, hash))
	if err != nil {
		return RefreshToken{}, fmt.Errorf("get refresh token: %w", err)
	}
	if r.state != "active" {
		return r.RefreshToken, fmt.Errorf("get refresh token: %w", ErrInactive)
	}
	return r.RefreshToken, nil
}

func (s *sqlStore) Rotate(ctx context.Context, r Rotation) (Rotated, FamilyRevoked, error) {
	var out Rotated
	var fam FamilyRevoked
	var reused bool
	err := s.db.tx(ctx, func(q querier) error {
		// The compare-and-swap: only one of racing refreshes finds the row
		// active. The reply is sealed with the row's hash as additional data.
		n, err := q.exec(ctx, `UPDATE refresh_tokens SET state = 'rotated', rotated_at = ?, replay = ? WHERE hash = ? AND state = 'active' AND expires > ?`,
			ns(r.Now), s.seal.seal(r.Reply, "refresh-reply:"+r.Old), r.Old, ns(r.Now))
		if err != nil {
			return err
		}
		row, err := scanRefresh(q.queryRow(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = ?`, r.Old))
		if err != nil {
			return err
		}
		out.Prev = row.RefreshToken
		if n == 1 {
			if err := insertRefresh(ctx, q, r.New); err != nil {
				return err
			}
			if _, err := q.exec(ctx, `DELETE FROM access_tokens WHERE family = ? AND expires < ?`, row.Family, ns(r.Now)); err != nil {
				return err
			}
			// A sealed reply is only needed inside the grace window.
			if _, err := q.exec(ctx, `UPDATE refresh_tokens SET replay = NULL WHERE family = ? AND state = 'rotated' AND rotated_at < ?`,
				row.Family, ns(r.Now.Add(-r.Grace))); err != nil {
				return err
			}
			return insertAccess(ctx, q, r.Access)
		}
		switch {
		case row.state == "rotated" && r.Grace > 0 && r.Now.Sub(row.rotated) <= r.Grace && row.replay != nil:
			reply, err := s.seal.open(row.replay, "refresh-reply:"+r.Old)
			if err != nil {
				return err
			}
			out.Replay = reply
			return nil
		case row.state == "rotated":
			reused = true
			fam, err = revokeFamily(ctx, q, row.Family, r.Now)
			return err
		default:
			return ErrInactive
		}
	})
	if err != nil {
		return Rotated{}, FamilyRevoked{}, fmt.Errorf("rotate refresh token: %w", err)
	}
	if reused {
		return Rotated{}, fam, fmt.Errorf("rotate refresh token: %w", ErrReused)
	}
	return out, FamilyRevoked{}, nil
}

func revokeFamily(ctx context.Context, q querier, family string, now time.Time) (FamilyRevoked, error) {
	f := FamilyRevoked{Family: family}
	if _, err := q.exec(ctx, `UPDATE refresh_tokens SET state = 'revoked', replay = NULL WHERE family = ? AND state <> 'revoked'`, family); err != nil {
		return f, err
	}
	err := q.queryRow(ctx, `SELECT client_id, subject FROM refresh_tokens WHERE family = ? LIMIT 1`, family).Scan(&f.ClientID, &f.Subject)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return f, err
	}
	r, err := q.query(ctx, `SELECT jti, family, client_id, subject, issued, expires FROM access_tokens WHERE family = ? AND expires > ?`, family, ns(now))
	if err != nil {
		return f, err
	}
	defer r.Close()
	for r.Next() {
		var at AccessToken
		var issued, expires int64
		if err := r.Scan(&at.JTI, &at.Family, &at.ClientID, &at.Subject, &issued, &expires); err != nil {
			return f, err
		}
		at.Issued, at.Expires = fromNS(issued), fromNS(expires)
		f.AccessTokens = append(f.AccessTokens, at)
		f.ClientID, f.Subject = at.ClientID, at.Subject
	}
	return f, r.Err()
}

func (s *sqlStore) RevokeGrants(ctx context.Context, subject, clientID string) error {
	_, err := s.db.exec(ctx, `UPDATE refresh_tokens SET state = 'revoked', replay = NULL WHERE subject = ? AND client_id = ? AND state <> 'revoked'`, subject, clientID)
	if err != nil {
		return fmt.Errorf("revoke grants of a subject: %w", err)
	}
	return nil
}

func (s *sqlStore) RevokeFamily(ctx context.Context, family string, now time.Time) (FamilyRevoked, error) {
	var f FamilyRevoked
	err := s.db.tx(ctx, func(q querier) error {
		var err error
		f, err = revokeFamily(ctx, q, family, now)
		return err
	})
	if err != nil {
		return FamilyRevoked{}, fmt.Errorf("revoke refresh family: %w", err)
	}
	return f, nil
}

// --- signing keys ---

func keyAD(kid string) string { return "signing-key:" + kid }

func insertKey(ctx context.Context, q querier, seal *sealer, k SigningKey) error {
	_, err := q.exec(ctx, `INSERT INTO signing_keys (kid, alg, state, private_enc, public_jwk, created, retired, publish_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.KID, k.Alg, string(k.State), seal.seal(k.Private, keyAD(k.KID)), k.PublicJWK, ns(k.Created), ns(k.Retired), ns(k.PublishUntil))
	return err
}

func (s *sqlStore) CreateSigningKey(ctx context.Context, k SigningKey) error {
	if err := insertKey(ctx, s.db, s.seal, k); err != nil {
		return fmt.Errorf("store signing key %s: %w", k.KID, err)
	}
	return nil
}

func (s *sqlStore) SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error) {
	r, err := s.db.query(ctx, `SELECT kid, alg, state, private_enc, public_jwk, created, retired, publish_until FROM signing_keys
		WHERE state <> 'retired' OR publish_until > ? ORDER BY created`, ns(now))
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	defer r.Close()
	var out []SigningKey
	for r.Next() {
		var k SigningKey
		var state string
		var enc []byte
		var created, retired, until int64
		if err := r.Scan(&k.KID, &k.Alg, &state, &enc, &k.PublicJWK, &created, &retired, &until); err != nil {
			return nil, fmt.Errorf("load signing keys: %w", err)
		}
		k.State, k.Created, k.Retired, k.PublishUntil = KeyState(state), fromNS(created), fromNS(retired), fromNS(until)
		if k.Private, err = s.seal.open(enc, keyAD(k.KID)); err != nil {
			return nil, fmt.Errorf("load signing key %s: %w", k.KID, err)
		}
		out = append(out, k)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	return out, nil
}

func (s *sqlStore) RotateKeys(ctx context.Context, newNext SigningKey, now time.Time, retainFor time.Duration) error {
	err := s.db.tx(ctx, func(q querier) error {
		// Two instances starting on an empty store must not both create a
		// current key.
		if err := s.lock(ctx, q, lockKeys); err != nil {
			return err
		}
		var next int
		if err := q.queryRow(ctx, `SELECT COUNT(*) FROM signing_keys WHERE state = 'next'`).Scan(&next); err != nil {
			return err
		}
		if next == 0 {
			// First key, or a store whose next key is missing: the new key
			// signs at once (nothing was published before it anyway).
			var cur int
			if err := q.queryRow(ctx, `SELECT COUNT(*) FROM signing_keys WHERE state = 'current'`).Scan(&cur); err != nil {
				return err
			}
			if cur == 0 {
				newNext.State = KeyCurrent
				return insertKey(ctx, q, s.seal, newNext)
			}
			newNext.State = KeyNext
			return insertKey(ctx, q, s.seal, newNext)
		}
		if _, err := q.exec(ctx, `UPDATE signing_keys SET state = 'retired', retired = ?, publish_until = ? WHERE state = 'current'`,
			ns(now), ns(now.Add(retainFor))); err != nil {
			return err
		}
		if _, err := q.exec(ctx, `UPDATE signing_keys SET state = 'current' WHERE state = 'next'`); err != nil {
			return err
		}
		newNext.State = KeyNext
		return insertKey(ctx, q, s.seal, newNext)
	})
	if err != nil {
		return fmt.Errorf("rotate signing keys: %w", err)
	}
	return nil
}

// --- revocations ---

func (s *sqlStore) AddRevocation(ctx context.Context, r Revocation) (int64, error) {
	var seq int64
	if err := s.db.tx(ctx, func(q querier) error { return s.addRevocation(ctx, q, r, &seq) }); err != nil {
		return 0, fmt.Errorf("record revocation: %w", err)
	}
	return seq, nil
}

// addRevocation appends r inside the caller's transaction. Readers of the
// feed move a cursor past the highest Seq they saw, so records must become
// visible in Seq order: on PostgreSQL a transaction-scoped lock makes
// appends commit one at a time (SQLite serializes writers anyway).
func (s *sqlStore) addRevocation(ctx context.Context, q querier, r Revocation, seq *int64) error {
	if err := s.lock(ctx, q, lockRevocations); err != nil {
		return err
	}
	var n int64
	if seq == nil {
		seq = &n
	}
	return q.queryRow(ctx, `INSERT INTO revocations (token_id, subject, client_id, issued_before, until) VALUES (?, ?, ?, ?, ?) RETURNING seq`,
		r.TokenID, r.Subject, r.ClientID, ns(r.IssuedBefore), ns(r.Until)).Scan(seq)
}

func (s *sqlStore) RevocationsSince(ctx context.Context, since int64, now time.Time, limit int) ([]Revocation, error) {
	r, err := s.db.query(ctx, `SELECT seq, token_id, subject, client_id, issued_before, until FROM revocations
		WHERE seq > ? AND (until = 0 OR until > ?) ORDER BY seq LIMIT ?`, since, ns(now), limit)
	if err != nil {
		return nil, fmt.Errorf("read revocations: %w", err)
	}
	defer r.Close()
	var out []Revocation
	for r.Next() {
		var v Revocation
		var ib, until int64
		if err := r.Scan(&v.Seq, &v.TokenID, &v.Subject, &v.ClientID, &ib, &until); err != nil {
			return nil, fmt.Errorf("read revocations: %w", err)
		}
		v.IssuedBefore, v.Until = fromNS(ib), fromNS(until)
		out = append(out, v)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("read revocations: %w", err)
	}
	return out, nil
}

func (s *sqlStore) Purge(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	t := ns(now)
	for _, q := range []string{
		`DELETE FROM auth_codes WHERE expires < ?`,
		`DELETE FROM refresh_tokens WHERE expires < ?`,
		`DELETE FROM access_tokens WHERE expires < ?`,
		`DELETE FROM assertion_jtis WHERE expires < ?`,
		`DELETE FROM revocations WHERE until <> 0 AND until < ?`,
		`DELETE FROM signing_keys WHERE state = 'retired' AND publish_until < ?`,
	} {
		n, err := s.db.exec(ctx, q, t)
		if err != nil {
			return total, fmt.Errorf("purge expired rows: %w", err)
		}
		total += n
	}
	return total, nil
}
