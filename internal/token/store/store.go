// Package store keeps the token service's state: clients, users,
// authorization codes with their PKCE challenges, the access tokens of
// user sessions, refresh-token families, signing keys and revocations.
//
// One Store interface has two backends over the same SQL: a SQLite file
// (WAL, synchronous=FULL: an acknowledged write survives a crash) for one
// machine, and PostgreSQL for several. Secrets never reach the database in
// the clear: client secrets and passwords are argon2id hashes, codes and
// refresh tokens are stored as SHA-256 digests, and signing keys and the
// refresh grace replies are sealed with AES-GCM under the key-encryption
// key given in Options.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors the backends return, matched with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	// ErrUsed is an authorization code presented a second time.
	ErrUsed = errors.New("already used")
	// ErrReused is a rotated refresh token presented after the grace
	// window; its whole family has been revoked.
	ErrReused = errors.New("refresh token reused")
	// ErrInactive is a revoked or expired refresh token.
	ErrInactive = errors.New("refresh token inactive")
)

// Client is a registered OAuth client.
type Client struct {
	ID   string
	Name string
	// SecretHash is an argon2id hash (HashSecret); empty for public clients
	// and private_key_jwt clients.
	SecretHash string
	Public     bool
	// AuthMethod is client_secret_basic, client_secret_post,
	// private_key_jwt or none (public).
	AuthMethod   string
	RedirectURIs []string
	GrantTypes   []string
	// Scopes is the allow-list a client may ask for; Audiences likewise.
	Scopes    []string
	Audiences []string
	// JWKS is the client's public key set for private_key_jwt.
	JWKS    string
	Created time.Time
	// Revoked is when the client was revoked (zero: active).
	Revoked time.Time
}

// User is a person who logs in at /login.
type User struct {
	// ID is the stable subject ("sub") of the user's tokens.
	ID           string
	Username     string
	PasswordHash string
	Roles        []string
	Created      time.Time
	// Disabled is when the user was disabled (zero: active).
	Disabled time.Time
}

// AuthCode is an issued authorization code, keyed by the code's digest.
type AuthCode struct {
	Hash               string
	ClientID, Subject  string
	RedirectURI, Scope string
	Nonce              string
	Challenge          string
	ChallengeMethod    string
	AuthTime           time.Time
	// Family is the refresh family the code's tokens will join, so a
	// replayed code can revoke what the first redemption issued.
	Family  string
	Expires time.Time
}

// AccessToken records an access token issued to a user session, so that
// revoking its refresh family can name each token's jti.
type AccessToken struct {
	JTI, Family       string
	ClientID, Subject string
	Issued, Expires   time.Time
}

// RefreshToken is one member of a refresh family, keyed by the token's digest.
type RefreshToken struct {
	Hash, Family      string
	ClientID, Subject string
	Scope, Audience   string
	AuthTime          time.Time
	Issued, Expires   time.Time
}

// Rotation replaces the active refresh token Old with New in one atomic
// compare-and-swap, records Access, and keeps Reply (the token response the
// client receives) sealed so that a concurrent refresh with Old inside
// Grace receives the same reply instead of revoking the family.
type Rotation struct {
	Old    string
	New    RefreshToken
	Access AccessToken
	Reply  []byte
	Now    time.Time
	Grace  time.Duration
}

// Rotated is the outcome of a successful Rotate.
type Rotated struct {
	// Replay is set when Old had just been rotated inside the grace window:
	// it is the reply of that rotation, to be sent again, and New was not stored.
	Replay []byte
	// Prev is the token that was rotated.
	Prev RefreshToken
}

// FamilyRevoked names what revoking a refresh family stopped: the jtis of
// its access tokens that have not expired yet.
type FamilyRevoked struct {
	Family, ClientID, Subject string
	AccessTokens              []AccessToken
}

// KeyState is a signing key's place in rotation: next keys are published
// but sign nothing, one current key signs, retired keys stay published
// until PublishUntil so the tokens they signed keep verifying.
type KeyState string

// Key states.
const (
	KeyNext    KeyState = "next"
	KeyCurrent KeyState = "current"
	KeyRetired KeyState = "retired"
)

// SigningKey is a private signing key. Private is the key's encoding
// (PKCS#8 DER); the backends seal it under the KEK before it is stored.
type SigningKey struct {
	KID          string
	Alg          string
	State        KeyState
	Private      []byte
	PublicJWK    string
	Created      time.Time
	Retired      time.Time
	PublishUntil time.Time
}

// String keeps key material out of logs and fmt output.
func (k SigningKey) String() string {
	return fmt.Sprintf("SigningKey{kid=%s alg=%s state=%s}", k.KID, k.Alg, k.State)
}

// Revocation is one record of the revocation feed, numbered by Seq.
type Revocation struct {
	Seq               int64
	TokenID           string
	Subject, ClientID string
	IssuedBefore      time.Time
	Until             time.Time
}

// Store is the token service's storage. Every method is safe for
// concurrent use; every write is durable when it returns.
type Store interface {
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	// RevokeClient marks the client revoked, revokes its refresh tokens and
	// appends a revocation of its tokens issued before at, in force until
	// until, in one transaction.
	RevokeClient(ctx context.Context, id string, at, until time.Time) error

	CreateUser(ctx context.Context, u User) error
	// GetUser finds a user by id or by username.
	GetUser(ctx context.Context, idOrName string) (User, error)
	SetPassword(ctx context.Context, idOrName, hash string) error
	// DisableUser marks the user disabled, revokes its refresh tokens and
	// appends a revocation of its tokens issued before at, in force until
	// until, in one transaction.
	DisableUser(ctx context.Context, idOrName string, at, until time.Time) (User, error)

	CreateAuthCode(ctx context.Context, c AuthCode) error
	// RedeemAuthCode marks the code used, once, and stores the tokens
	// issue returns for it in the same transaction: a concurrent replay
	// that revokes the code's family cannot slip in between the two. issue
	// gets the code's user as the transaction reads it (zero if gone). When
	// issue fails the code stays used (a failed check burns it) and its
	// error is returned. A second redemption returns the code with
	// ErrUsed; an expired or unknown code ErrNotFound.
	RedeemAuthCode(ctx context.Context, hash string, now time.Time, issue func(AuthCode, User) (*RefreshToken, AccessToken, error)) (AuthCode, error)
	// AssertionJTIUnused records a client assertion's jti until expires and
	// reports false when it was already recorded (a replay).
	AssertionJTIUnused(ctx context.Context, jti string, expires time.Time) (bool, error)

	GetRefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// Rotate swaps a refresh token (see Rotation). A rotated token presented
	// after the grace window revokes the family: ErrReused with the family.
	Rotate(ctx context.Context, r Rotation) (Rotated, FamilyRevoked, error)
	// RevokeGrants revokes the refresh tokens a client holds for a subject
	// (sign-out).
	RevokeGrants(ctx context.Context, subject, clientID string) error
	// RevokeFamily revokes every refresh token of the family.
	RevokeFamily(ctx context.Context, family string, now time.Time) (FamilyRevoked, error)

	CreateSigningKey(ctx context.Context, k SigningKey) error
	// SigningKeys returns every key still published at now, private parts opened.
	SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error)
	// RotateKeys makes the next key current, retires the current key (kept
	// published for retainFor), and stores newNext as the next key; with no
	// next key yet, newNext becomes current at once.
	RotateKeys(ctx context.Context, newNext SigningKey, now time.Time, retainFor time.Duration) error

	// AddRevocation appends to the revocation feed and returns its Seq.
	AddRevocation(ctx context.Context, r Revocation) (int64, error)
	// RevocationsSince returns up to limit records with Seq > since that
	// are still in force at now, in order.
	RevocationsSince(ctx context.Context, since int64, now time.Time, limit int) ([]Revocation, error)

	// Purge deletes what can no longer matter at now: expired codes,
	// refresh tokens, access-token records, client-assertion jtis and
	// revocations, and retired keys past their publication. It returns how
	// many rows went.
	Purge(ctx context.Context, now time.Time) (int64, error)

	Close() error
}

// Options configure Open.
type Options struct {
	// KEK is the 32-byte key-encryption key that seals signing keys and
	// refresh grace replies. Required.
	KEK []byte
}

// Open opens (creating and migrating) the store at dsn: a postgres:// or
// postgresql:// URL selects PostgreSQL, anything else is a SQLite file
// path (an optional "sqlite:" prefix is dropped).
func Open(ctx context.Context, dsn string, o Options) (Store, error) {
	if len(o.KEK) != 32 {
		return nil, errors.New("open token store: the key-encryption key must be 32 bytes")
	}
	aead, err := newSealer(o.KEK)
	if err != nil {
		return nil, fmt.Errorf("open token store: %w", err)
	}
	var d dialect
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		d, err = openPostgres(ctx, dsn)
	} else {
		d, err = openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	}
	if err != nil {
		return nil, err
	}
	s := &sqlStore{db: d, seal: aead}
	if err := s.migrate(ctx); err != nil {
		d.close()
		return nil, err
	}
	return s, nil
}
