package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/rampart-sec/rampart/internal/event"
	"github.com/rampart-sec/rampart/internal/securefile"
)

// A join token is "rjt_" and 32 random bytes in unpadded base64url. Only its
// SHA-256 is stored: the file DIR/tokens/HASH.json names the one SPIFFE ID it
// is bound to and its expiry. Spending it renames the file into
// DIR/tokens/used/, an atomic step only one caller (in any process) can win;
// the rename is synced before the SVID goes out, so a crash cannot make a
// token spendable again. Spent and expired tokens are kept a day, so that a
// replay is reported as such, then swept.
const (
	tokenPrefix   = "rjt_"
	tokenRandLen  = 32
	tokenLen      = len(tokenPrefix) + 43 // base64url of 32 bytes, unpadded
	tokenFileMax  = 4 << 10
	tokenKeepDays = 24 * time.Hour
)

var (
	errTokenUnknown = errors.New("join token unknown")
	errTokenReused  = errors.New("join token already used")
	errTokenExpired = errors.New("join token expired")
)

type tokenStore struct{ dir string }

type tokenRecord struct {
	SPIFFEID  string    `json:"spiffe_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NewJoinToken creates a one-time token that /v1/join trades, once and
// before ttl has passed, for an SVID naming id. The token is returned once;
// only its hash is kept.
func (ca *CA) NewJoinToken(id spiffeid.ID, ttl time.Duration) (string, error) {
	if err := ca.checkWorkloadID(id); err != nil {
		return "", fmt.Errorf("create join token: %w", err)
	}
	if ttl <= 0 || ttl > MaxJoinTokenTTL {
		return "", fmt.Errorf("create join token: TTL %v, want (0, %v]: %w", ttl, MaxJoinTokenTTL, ErrTTL)
	}
	now := ca.o.now()
	ca.tokens.sweep(now)
	raw := make([]byte, tokenRandLen)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("create join token: %w", err)
	}
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	rec, err := json.Marshal(tokenRecord{SPIFFEID: id.String(), ExpiresAt: now.Add(ttl)})
	if err != nil {
		return "", fmt.Errorf("create join token: %w", err)
	}
	created, err := securefile.Create(ca.tokens.path(tok), rec)
	if err != nil {
		return "", fmt.Errorf("create join token: %w", err)
	}
	if !created {
		return "", errors.New("create join token: hash collision with an existing token")
	}
	ca.emit(nil, JoinTokenCreated, event.Info, id.String(), "created", "expires_at="+now.Add(ttl).UTC().Format(time.RFC3339))
	return tok, nil
}

func wellFormedToken(tok string) bool {
	if len(tok) != tokenLen || !strings.HasPrefix(tok, tokenPrefix) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(tok[len(tokenPrefix):])
	return err == nil
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func (s *tokenStore) path(tok string) string {
	return filepath.Join(s.dir, tokenHash(tok)+".json")
}

func (s *tokenStore) usedDir() string { return filepath.Join(s.dir, "used") }

// spend consumes tok and returns the ID it is bound to. An expired token
// is refused without being spent, so that retrying it is not reported as a replay.
func (s *tokenStore) spend(tok string, now time.Time) (spiffeid.ID, error) {
	if !wellFormedToken(tok) {
		return spiffeid.ID{}, errTokenUnknown
	}
	src := s.path(tok)
	dst := filepath.Join(s.usedDir(), filepath.Base(src))
	id, expires, err := readToken(src)
	if errors.Is(err, fs.ErrNotExist) {
		// Spent already? Then name the identity whose token is replayed.
		if id, _, err := readToken(dst); err == nil {
			return id, errTokenReused
		}
		return spiffeid.ID{}, errTokenUnknown
	}
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("spend join token: %w", err)
	}
	if !now.Before(expires) {
		return id, errTokenExpired
	}
	if err := os.MkdirAll(s.usedDir(), 0o700); err != nil {
		return spiffeid.ID{}, fmt.Errorf("spend join token: %w", err)
	}
	// The rename is the claim: of racing callers, in any process, one wins.
	if err := os.Rename(src, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return id, errTokenReused
		}
		return spiffeid.ID{}, fmt.Errorf("spend join token: %w", err)
	}
	if err := securefile.SyncDir(s.dir); err != nil {
		return spiffeid.ID{}, fmt.Errorf("spend join token: %w", err)
	}
	if err := securefile.SyncDir(s.usedDir()); err != nil {
		return spiffeid.ID{}, fmt.Errorf("spend join token: %w", err)
	}
	return id, nil
}

func readToken(path string) (spiffeid.ID, time.Time, error) {
	b, err := securefile.ReadPrivate("join token", path, tokenFileMax)
	if err != nil {
		return spiffeid.ID{}, time.Time{}, err
	}
	var rec tokenRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return spiffeid.ID{}, time.Time{}, fmt.Errorf("decode %s: %w", path, err)
	}
	id, err := spiffeid.FromString(rec.SPIFFEID)
	if err != nil {
		return spiffeid.ID{}, time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	return id, rec.ExpiresAt, nil
}

// sweep removes token files older than the longest TTL plus a day. Failing
// to remove one is harmless: it only lingers.
func (s *tokenStore) sweep(now time.Time) {
	cutoff := now.Add(-MaxJoinTokenTTL - tokenKeepDays)
	for _, dir := range []string{s.dir, s.usedDir()} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.Type().IsRegular() {
				continue
			}
			if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
				os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
}
