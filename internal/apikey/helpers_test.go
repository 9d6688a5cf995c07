package apikey

import (
	"bytes"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
)

// newTestStore opens an empty store in a fresh directory, with a new pepper.
func newTestStore(t testing.TB) (*Store, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	pepper, err := LoadOrCreatePepper(filepath.Join(dir, "pepper"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "keys", "keys.json")
	s, err := Open(path, pepper)
	if err != nil {
		t.Fatal(err)
	}
	return s, path, pepper
}

func mustCreate(t testing.TB, s *Store, name string, roles, scopes []string, ttl time.Duration) (string, Record) {
	t.Helper()
	key, rec, err := s.Create(name, roles, scopes, ttl)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	return key, rec
}

// wantRefused checks that Verify refused key with the given reason and code.
func wantRefused(t *testing.T, s *Store, key, reason, code string) {
	t.Helper()
	p, err := s.Verify(key)
	if p != nil {
		t.Errorf("Verify(%q) returned a principal with error %v", key, err)
	}
	var ae *authn.Error
	if !errors.As(err, &ae) {
		t.Fatalf("Verify(%q) error = %v, want *authn.Error", key, err)
	}
	if ae.Reason != reason || ae.Code != code {
		t.Errorf("Verify(%q) = %s/%s, want %s/%s", key, ae.Reason, ae.Code, reason, code)
	}
}

// waitFor polls cond until it holds or five seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// syncBuffer is a log destination that the watcher goroutine and the test
// may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// withWrongSecret returns key with the first character of its secret changed.
func withWrongSecret(key string) string {
	c := byte('A')
	if key[20] == 'A' {
		c = 'B'
	}
	return key[:20] + string(c) + key[21:]
}
