// Package apikey authenticates machine clients at the gateway with API keys.
//
// A key, as handed to its holder once, is "rk_" + id + "_" + secret: the id
// (16 characters of lowercase base32) is public and names the key in logs
// and events; the secret (43 characters of base64url, 32 random bytes) is
// never stored. The store file keeps only HMAC-SHA256(pepper, secret), so
// neither a copy of the store nor of the logs lets anyone use a key, and a
// copy of the store without the pepper cannot even be brute-forced.
//
// The store is one JSON file shared by the gateway, which verifies keys and
// notices changes within about a second (Start), and the CLI, which creates,
// lists and revokes them. Writers serialize on a lock file next to the store
// and replace the file atomically and durably.
package apikey

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/sdk/principal"
)

// ReasonBadKey is the authn.Error reason for a key whose id exists but whose
// secret is wrong: someone holds the public id and is guessing, or uses a key
// that was mistyped or rotated.
const ReasonBadKey = "bad_key"

// ClaimKeyID is the principal claim that holds the id of the key used.
const ClaimKeyID = "api_key_id"

// How often Start looks at the store file, and how long a writer waits for
// another to finish.
const (
	pollInterval = time.Second
	lockWait     = 10 * time.Second
)

// Record is one API key as stored. The secret is not in it.
type Record struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"` // unique among non-revoked keys; the principal's subject
	Hash    string    `json:"hash"` // base64url HMAC-SHA256(pepper, secret bytes)
	Roles   []string  `json:"roles,omitempty"`
	Scopes  []string  `json:"scopes,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"` // zero: no expiry
	Revoked time.Time `json:"revoked,omitzero"` // zero: active
}

// Options are a Store's optional dependencies.
type Options struct {
	// Log receives reload failures (Error) and reloads (Info). Nil discards.
	Log *slog.Logger
}

// Store is the set of API keys in one store file. It is safe for concurrent
// use; Verify takes no lock.
type Store struct {
	path   string
	pepper []byte
	log    *slog.Logger
	now    func() time.Time
	poll   time.Duration

	snap  atomic.Pointer[snapshot]
	macs  sync.Pool // of *macState, keyed with pepper
	dummy [sha256.Size]byte
	wmu   sync.Mutex // serializes this process's writers before they take the file lock
}

// snapshot is an immutable view of the store file, replaced as a whole.
type snapshot struct {
	file fileID
	byID map[string]*entry
	list []Record // sorted by Created, then ID
}

// entry is a record prepared for Verify: the hash decoded and the principal
// built once, so a request costs one HMAC and no allocation.
type entry struct {
	rec  Record
	hash [sha256.Size]byte
	p    *principal.Principal
}

// macState is the per-call scratch space of Verify, pooled so that neither
// the HMAC nor the buffers handed to it are allocated per request.
type macState struct {
	h      hash.Hash
	secret [secretSize]byte
	sum    [sha256.Size]byte
}

// Open opens the store file at path with default Options.
func Open(path string, pepper []byte) (*Store, error) {
	return OpenWith(path, pepper, Options{})
}

// OpenWith opens the store file at path, hashing secrets with pepper (at
// least PepperSize bytes, normally from LoadOrCreatePepper). A missing file
// is an empty store; it is created by the first write. A file that group or
// others may access, or that does not parse or holds invalid records, is an
// error naming the path.
func OpenWith(path string, pepper []byte, o Options) (*Store, error) {
	if len(pepper) < PepperSize {
		return nil, fmt.Errorf("open API key store %s: pepper is %d bytes, want at least %d", path, len(pepper), PepperSize)
	}
	s := &Store{
		path:   path,
		pepper: slices.Clone(pepper),
		log:    o.Log,
		now:    time.Now,
		poll:   pollInterval,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.macs.New = func() any { return &macState{h: hmac.New(sha256.New, s.pepper)} }
	recs, id, err := readStore(path)
	if err != nil {
		return nil, err
	}
	snap, err := buildSnapshot(recs, id)
	if err != nil {
		return nil, fmt.Errorf("API key store %s: %w", path, err)
	}
	s.snap.Store(snap)
	return s, nil
}

// Verify checks key and returns the principal it proves: Subject is the
// key's name, Kind principal.Client, Method principal.APIKey, Roles and
// Scopes from the record, Claims {"api_key_id": id}, Expires the key's
// expiry. The principal is shared by every request with that key and must
// not be modified. Errors are *authn.Error: authn.ReasonMalformed (code
// invalid_request) for a string that is not a key, and with code
// invalid_token authn.ReasonUnknownKey, ReasonBadKey, authn.ReasonRevoked or
// authn.ReasonExpired. Revoked and expired are reported only to holders of
// the right secret.
//
// Every well-formed key costs one HMAC, whether its id exists or not, so the
// response time does not tell which ids exist.
func (s *Store) Verify(key string) (*principal.Principal, error) {
	m := s.macs.Get().(*macState)
	defer s.macs.Put(m)
	id, ok := parseKey(key, &m.secret)
	if !ok {
		return nil, &authn.Error{Reason: authn.ReasonMalformed, Code: "invalid_request"}
	}
	e := s.snap.Load().byID[id]
	want := &s.dummy
	if e != nil {
		want = &e.hash
	}
	m.h.Reset()
	m.h.Write(m.secret[:])
	match := hmac.Equal(m.h.Sum(m.sum[:0]), want[:])
	switch {
	case e == nil:
		return nil, &authn.Error{Reason: authn.ReasonUnknownKey, Code: "invalid_token"}
	case !match:
		return nil, &authn.Error{Reason: ReasonBadKey, Code: "invalid_token"}
	case !e.rec.Revoked.IsZero():
		return nil, &authn.Error{Reason: authn.ReasonRevoked, Code: "invalid_token"}
	case !e.rec.Expires.IsZero() && !s.now().Before(e.rec.Expires):
		return nil, &authn.Error{Reason: authn.ReasonExpired, Code: "invalid_token"}
	}
	return e.p, nil
}

// Create makes a new key called name with the given roles and scopes,
// expiring after ttl (0: never), and returns the key and its record. The key
// is returned only here: print it once, it cannot be recovered. The record is
// on disk durably before Create returns.
//
// name is 1 to 63 characters of [a-z0-9._-] and must not be the name of
// another non-revoked key (an expired key keeps its name until revoked).
// Roles and scopes are non-empty printable ASCII without spaces, quotes or
// backslashes.
func (s *Store) Create(name string, roles, scopes []string, ttl time.Duration) (string, Record, error) {
	if !validName(name) {
		return "", Record{}, fmt.Errorf("create API key: invalid name %q: want 1 to 63 characters of a-z, 0-9, '.', '_', '-'", name)
	}
	if err := checkLabels("role", roles); err != nil {
		return "", Record{}, fmt.Errorf("create API key %q: %w", name, err)
	}
	if err := checkLabels("scope", scopes); err != nil {
		return "", Record{}, fmt.Errorf("create API key %q: %w", name, err)
	}
	if ttl < 0 {
		return "", Record{}, fmt.Errorf("create API key %q: negative lifetime %s", name, ttl)
	}
	key, id, secret, err := newKey()
	if err != nil {
		return "", Record{}, fmt.Errorf("create API key %q: %w", name, err)
	}
	now := s.now().UTC() // UTC also drops the monotonic reading, so rec equals its stored form
	rec := Record{
		ID:      id,
		Name:    name,
		Hash:    hashSecret(s.pepper, secret),
		Roles:   nilIfEmpty(slices.Clone(roles)),
		Scopes:  nilIfEmpty(slices.Clone(scopes)),
		Created: now,
	}
	if ttl > 0 {
		rec.Expires = now.Add(ttl)
	}
	err = s.update(func(recs []Record) ([]Record, error) {
		for _, r := range recs {
			if r.ID == id {
				return nil, fmt.Errorf("key id %s already exists (a random collision: try again)", id)
			}
			if r.Name == name && r.Revoked.IsZero() {
				return nil, fmt.Errorf("an active key named %q already exists (id %s): revoke it first", name, r.ID)
			}
		}
		return append(recs, rec), nil
	})
	if err != nil {
		return "", Record{}, fmt.Errorf("create API key %q: %w", name, err)
	}
	return key, cloneRecord(rec), nil
}

// Revoke marks the key with the given id, or the active key with the given
// name, revoked, durably, and returns its record. Revoking an unknown or an
// already revoked key is an error. Running gateways refuse the key after
// their next reload (about a second with Start).
func (s *Store) Revoke(idOrName string) (Record, error) {
	var out Record
	err := s.update(func(recs []Record) ([]Record, error) {
		i, err := findForRevoke(recs, idOrName)
		if err != nil {
			return nil, err
		}
		recs[i].Revoked = s.now().UTC()
		out = recs[i]
		return recs, nil
	})
	if err != nil {
		return Record{}, fmt.Errorf("revoke API key %q: %w", idOrName, err)
	}
	return cloneRecord(out), nil
}

// findForRevoke returns the index of the record idOrName designates.
func findForRevoke(recs []Record, idOrName string) (int, error) {
	byID, byName := -1, -1
	revokedName := false
	for i, r := range recs {
		if r.ID == idOrName {
			byID = i
		}
		if r.Name == idOrName {
			if r.Revoked.IsZero() {
				byName = i
			} else {
				revokedName = true
			}
		}
	}
	switch {
	case byID >= 0 && byName >= 0 && byID != byName:
		// A name can look like an id; refuse rather than guess which key
		// the operator meant to cut off.
		return 0, fmt.Errorf("ambiguous: it is the id of one key and the name of another (%s): revoke by that key's id", recs[byName].ID)
	case byID >= 0:
		if !recs[byID].Revoked.IsZero() {
			return 0, fmt.Errorf("already revoked at %s", recs[byID].Revoked.Format(time.RFC3339))
		}
		return byID, nil
	case byName >= 0:
		return byName, nil
	case revokedName:
		return 0, errors.New("already revoked")
	}
	return 0, errors.New("no such key")
}

// List returns every key, revoked and expired ones included, sorted by
// creation time, as of the last write or reload.
func (s *Store) List() []Record {
	list := s.snap.Load().list
	out := make([]Record, len(list))
	for i, r := range list {
		out[i] = cloneRecord(r)
	}
	return out
}

// Start watches the store file until ctx is done, reloading it when its
// inode, size or modification time change, so that keys created or revoked
// by the CLI take effect within about a second. A reload that fails keeps
// the last good set of keys and is logged. Start returns at once; call it
// once.
func (s *Store) Start(ctx context.Context) {
	go s.watch(ctx)
}

func (s *Store) watch(ctx context.Context) {
	t := time.NewTicker(s.poll)
	defer t.Stop()
	var failing string // the last error logged, so a bad file is logged once, not every second
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.reload(); err != nil {
			if msg := err.Error(); msg != failing {
				s.log.Error("API key store reload failed; keeping the last good keys", "path", s.path, "error", err)
				failing = msg
			}
			continue
		}
		failing = ""
	}
}

// reload loads the store file if it changed since the current snapshot.
func (s *Store) reload() error {
	cur := s.snap.Load()
	id, err := statStore(s.path)
	if err != nil || id == cur.file {
		return err
	}
	recs, id, err := readStore(s.path)
	if err != nil {
		return err
	}
	next, err := buildSnapshot(recs, id)
	if err != nil {
		return fmt.Errorf("API key store %s: %w", s.path, err)
	}
	// A writer in this process may have installed a newer snapshot while
	// the file was read; it wins, and a change this missed is seen next poll.
	if !s.snap.CompareAndSwap(cur, next) {
		return nil
	}
	if !id.exists && len(cur.byID) > 0 {
		s.log.Warn("API key store file removed: every key is now refused", "path", s.path)
	} else {
		s.log.Info("API key store reloaded", "path", s.path, "keys", len(next.byID))
	}
	return nil
}

// update applies fn to the records on disk and writes the result, holding
// the store lock throughout, so that concurrent writers, in this process or
// others, each see the other's changes. It reads the file afresh rather than
// trusting the snapshot, which may be a second old.
func (s *Store) update(fn func([]Record) ([]Record, error)) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("create API key store directory: %w", err)
	}
	unlock, err := lockStore(s.path+".lock", lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	recs, _, err := readStore(s.path)
	if err != nil {
		return err
	}
	recs, err = fn(recs)
	if err != nil {
		return err
	}
	// Build before writing, so a file this package could not load back is
	// never written.
	next, err := buildSnapshot(recs, fileID{})
	if err != nil {
		return err
	}
	next.file, err = writeStore(s.path, next.list)
	if err != nil {
		return err
	}
	s.snap.Store(next)
	return nil
}

// buildSnapshot validates recs and indexes them. Invalid records are an
// error rather than skipped: a store that was edited by hand or damaged
// must not silently lose a revocation or gain a key.
func buildSnapshot(recs []Record, id fileID) (*snapshot, error) {
	snap := &snapshot{file: id, byID: make(map[string]*entry, len(recs)), list: slices.Clone(recs)}
	slices.SortStableFunc(snap.list, func(a, b Record) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	active := make(map[string]string, len(recs)) // name → id
	for _, r := range snap.list {
		if err := checkRecord(r); err != nil {
			return nil, err
		}
		if _, dup := snap.byID[r.ID]; dup {
			return nil, fmt.Errorf("key id %s appears twice", r.ID)
		}
		if r.Revoked.IsZero() {
			if other, dup := active[r.Name]; dup {
				return nil, fmt.Errorf("keys %s and %s are both active with name %q", other, r.ID, r.Name)
			}
			active[r.Name] = r.ID
		}
		e := &entry{rec: r}
		// The hash has the secret's encoding: 32 bytes, unpadded base64url.
		if !decodeSecret(r.Hash, &e.hash) {
			return nil, fmt.Errorf("key %s: hash is not %d bytes of unpadded base64url", r.ID, sha256.Size)
		}
		e.p = &principal.Principal{
			Subject: r.Name,
			Kind:    principal.Client,
			Method:  principal.APIKey,
			Roles:   r.Roles,
			Scopes:  r.Scopes,
			Claims:  map[string]any{ClaimKeyID: r.ID},
			Expires: r.Expires,
		}
		snap.byID[r.ID] = e
	}
	return snap, nil
}

// checkRecord validates one stored record.
func checkRecord(r Record) error {
	if !validID(r.ID) {
		return fmt.Errorf("invalid key id %q", r.ID)
	}
	if !validName(r.Name) {
		return fmt.Errorf("key %s: invalid name %q", r.ID, r.Name)
	}
	if err := checkLabels("role", r.Roles); err != nil {
		return fmt.Errorf("key %s: %w", r.ID, err)
	}
	if err := checkLabels("scope", r.Scopes); err != nil {
		return fmt.Errorf("key %s: %w", r.ID, err)
	}
	if r.Created.IsZero() {
		return fmt.Errorf("key %s: no creation time", r.ID)
	}
	return nil
}

// hashSecret returns the stored form of a secret.
func hashSecret(pepper []byte, secret [secretSize]byte) string {
	mac := hmac.New(sha256.New, pepper)
	mac.Write(secret[:])
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func cloneRecord(r Record) Record {
	r.Roles = slices.Clone(r.Roles)
	r.Scopes = slices.Clone(r.Scopes)
	return r
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
