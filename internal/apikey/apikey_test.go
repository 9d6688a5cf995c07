package apikey

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-sec/rampart/internal/authn"
	"github.com/rampart-sec/rampart/internal/securefile"
	"github.com/rampart-sec/rampart/sdk/principal"
)

var keyPattern = regexp.MustCompile(`^rk_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$`)

func TestCreateThenVerify(t *testing.T) {
	s, path, pepper := newTestStore(t)
	key, rec, err := s.Create("billing-batch", []string{"batch"}, []string{"invoices:read", "invoices:write"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !keyPattern.MatchString(key) {
		t.Fatalf("key %q does not have the documented form", key)
	}
	if id := key[3:19]; rec.ID != id {
		t.Errorf("record id %q, key id %q", rec.ID, id)
	}
	if rec.Name != "billing-batch" || rec.Created.IsZero() || !rec.Expires.IsZero() || !rec.Revoked.IsZero() {
		t.Errorf("record = %+v", rec)
	}

	want := &principal.Principal{
		Subject: "billing-batch",
		Kind:    principal.Client,
		Method:  principal.APIKey,
		Roles:   []string{"batch"},
		Scopes:  []string{"invoices:read", "invoices:write"},
		Claims:  map[string]any{"api_key_id": rec.ID},
	}
	p, err := s.Verify(key)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("principal = %+v, want %+v", p, want)
	}

	// The secret is never written, in any form a reader could use.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secret := key[20:]
	if bytes.Contains(data, []byte(secret)) || bytes.Contains(data, []byte(key)) {
		t.Fatalf("store file contains the secret:\n%s", data)
	}
	if !bytes.Contains(data, []byte(rec.Hash)) || !bytes.Contains(data, []byte(rec.ID)) {
		t.Fatalf("store file lacks the record:\n%s", data)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("store file mode: %v %v, want 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("store directory mode: %v %v, want 0700", fi.Mode(), err)
	}

	// Another process opening the file accepts the key too.
	s2, err := Open(path, pepper)
	if err != nil {
		t.Fatal(err)
	}
	if p2, err := s2.Verify(key); err != nil || !reflect.DeepEqual(p2, want) {
		t.Errorf("second store: Verify = %+v, %v", p2, err)
	}
	if got := s2.List(); len(got) != 1 || !reflect.DeepEqual(got[0], rec) {
		t.Errorf("second store: List = %+v, want [%+v]", got, rec)
	}
}

func TestVerifyRefusesForgedAndMalformedKeys(t *testing.T) {
	s, _, _ := newTestStore(t)
	key, rec := mustCreate(t, s, "ci", nil, nil, 0)
	// Another well-formed id: the first character changed.
	otherID := "b" + rec.ID[1:]
	if rec.ID[0] == 'b' {
		otherID = "a" + rec.ID[1:]
	}
	other := "rk_" + otherID + key[19:]
	// The last character carries 4 bits of the secret and 2 spare bits;
	// changing a spare bit must not give a second spelling of the key.
	last := key[len(key)-1]
	v, _ := b64URLValue(last)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	nonCanonical := key[:len(key)-1] + string(alphabet[v^1])

	malformed := "malformed"
	tests := []struct {
		name, key, reason string
	}{
		{"wrong secret", withWrongSecret(key), ReasonBadKey},
		{"unknown id", other, authn.ReasonUnknownKey},
		{"non-canonical secret", nonCanonical, malformed},
		{"truncated", key[:len(key)-1], malformed},
		{"extra character", key + "A", malformed},
		{"trailing newline", key + "\n", malformed},
		{"newline inside", key[:30] + "\n" + key[31:], malformed},
		{"wrong prefix", "rx_" + key[3:], malformed},
		{"upper-case prefix", "RK_" + key[3:], malformed},
		{"no prefix", key[3:], malformed},
		{"upper-case id", "rk_" + strings.ToUpper(key[3:19]) + key[19:], malformed},
		{"id outside base32", "rk_" + "0" + key[4:], malformed},
		{"missing separator", key[:19] + "-" + key[20:], malformed},
		{"standard base64 plus", key[:20] + "+" + key[21:], malformed},
		{"standard base64 slash", key[:20] + "/" + key[21:], malformed},
		{"padding", key[:len(key)-1] + "=", malformed},
		{"space", key[:25] + " " + key[26:], malformed},
		{"non-ASCII", key[:len(key)-2] + "é", malformed},
		{"empty", "", malformed},
		{"prefix only", "rk_", malformed},
		{"bearer-like", "Bearer " + key, malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := "invalid_token"
			if tt.reason == malformed {
				code = "invalid_request"
			}
			wantRefused(t, s, tt.key, tt.reason, code)
		})
	}
	if _, err := s.Verify(key); err != nil {
		t.Errorf("the real key stopped verifying: %v", err)
	}
}

func TestVerifyRefusesUnderAnotherPepper(t *testing.T) {
	s, path, _ := newTestStore(t)
	key, _ := mustCreate(t, s, "ci", nil, nil, 0)
	other := make([]byte, PepperSize)
	rand.Read(other)
	s2, err := Open(path, other)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, s2, key, ReasonBadKey, "invalid_token")
}

func TestRevoke(t *testing.T) {
	s, path, pepper := newTestStore(t)
	gw, err := Open(path, pepper) // the gateway, loaded before the revocation
	if err != nil {
		t.Fatal(err)
	}
	key1, rec1 := mustCreate(t, s, "ci", nil, nil, 0)
	key2, _ := mustCreate(t, s, "deploy", nil, nil, 0)
	if err := gw.reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := gw.Verify(key1); err != nil {
		t.Fatalf("gateway before revocation: %v", err)
	}

	got, err := s.Revoke(rec1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != rec1.ID || got.Revoked.IsZero() {
		t.Errorf("Revoke returned %+v", got)
	}
	wantRefused(t, s, key1, authn.ReasonRevoked, "invalid_token")
	if _, err := s.Verify(key2); err != nil {
		t.Errorf("the other key was affected: %v", err)
	}

	// The gateway accepts the key until it reloads, and refuses it after.
	if _, err := gw.Verify(key1); err != nil {
		t.Fatalf("gateway before reload: %v", err)
	}
	if err := gw.reload(); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, gw, key1, authn.ReasonRevoked, "invalid_token")

	// A revoked key with the wrong secret is a bad key: only holders of
	// the secret learn that it was revoked.
	wantRefused(t, gw, withWrongSecret(key1), ReasonBadKey, "invalid_token")

	for _, arg := range []string{rec1.ID, "ci", "nobody", "aaaaaaaaaaaaaaaa"} {
		if _, err := s.Revoke(arg); err == nil {
			t.Errorf("Revoke(%q) succeeded", arg)
		}
	}
	// By name.
	if _, err := s.Revoke("deploy"); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, s, key2, authn.ReasonRevoked, "invalid_token")
}

func TestRevokeReachesRunningGatewayViaStart(t *testing.T) {
	cli, path, pepper := newTestStore(t)
	logs := &syncBuffer{}
	gw, err := OpenWith(path, pepper, Options{Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	gw.poll = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gw.Start(ctx)

	key, rec := mustCreate(t, cli, "ci", nil, []string{"deploy"}, 0)
	waitFor(t, "the gateway to accept the new key", func() bool {
		_, err := gw.Verify(key)
		return err == nil
	})
	if _, err := cli.Revoke(rec.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the gateway to refuse the revoked key", func() bool {
		_, err := gw.Verify(key)
		ae, _ := err.(*authn.Error)
		return ae != nil && ae.Reason == authn.ReasonRevoked
	})

	// A broken file is logged and the last good set stays in force.
	key2, _ := mustCreate(t, cli, "deploy", nil, nil, 0)
	waitFor(t, "the gateway to accept the second key", func() bool {
		_, err := gw.Verify(key2)
		return err == nil
	})
	replaceFile(t, path, []byte("{not json"))
	waitFor(t, "the reload failure to be logged", func() bool {
		return strings.Contains(logs.String(), "reload failed")
	})
	if _, err := gw.Verify(key2); err != nil {
		t.Errorf("after a failed reload the last good keys must stay: %v", err)
	}
	wantRefused(t, gw, key, authn.ReasonRevoked, "invalid_token")
	if !strings.Contains(logs.String(), path) || strings.Contains(logs.String(), key2[20:]) {
		t.Errorf("log should name the path and never a secret:\n%s", logs)
	}
}

// replaceFile installs data at path the way an editor or a broken tool
// might: a new file renamed into place.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".edit"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestReloadFailureKeepsLastGoodSet(t *testing.T) {
	s, path, pepper := newTestStore(t)
	key, _ := mustCreate(t, s, "ci", nil, nil, 0)
	gw, err := Open(path, pepper)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"garbage":       "\x00\x01garbage",
		"unknown field": `{"version":1,"keys":[],"extra":true}`,
		"newer version": `{"version":2,"keys":[]}`,
	} {
		replaceFile(t, path, []byte(data))
		if err := gw.reload(); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: reload error = %v, want one naming %s", name, err, path)
		}
		if _, err := gw.Verify(key); err != nil {
			t.Errorf("%s: key refused after a failed reload: %v", name, err)
		}
	}
	// Removing the file removes every key: fail closed.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := gw.reload(); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, gw, key, authn.ReasonUnknownKey, "invalid_token")
}

func TestExpiry(t *testing.T) {
	s, _, _ := newTestStore(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	s.now = func() time.Time { return now }
	key, rec := mustCreate(t, s, "nightly", nil, nil, time.Hour)
	if want := now.Add(time.Hour); !rec.Expires.Equal(want) {
		t.Fatalf("Expires = %v, want %v", rec.Expires, want)
	}
	p, err := s.Verify(key)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Expires.Equal(rec.Expires) {
		t.Errorf("principal Expires = %v, want %v", p.Expires, rec.Expires)
	}
	now = now.Add(time.Hour - time.Nanosecond)
	if _, err := s.Verify(key); err != nil {
		t.Errorf("a nanosecond before expiry: %v", err)
	}
	now = now.Add(time.Nanosecond)
	wantRefused(t, s, key, authn.ReasonExpired, "invalid_token")

	// Without a ttl a key never expires.
	key2, rec2 := mustCreate(t, s, "forever", nil, nil, 0)
	now = now.AddDate(100, 0, 0)
	if _, err := s.Verify(key2); err != nil || !rec2.Expires.IsZero() {
		t.Errorf("key without ttl: %v, Expires %v", err, rec2.Expires)
	}
}

func TestCreateRefusesInvalidInput(t *testing.T) {
	s, path, _ := newTestStore(t)
	mustCreate(t, s, "ci", nil, nil, 0)
	tests := []struct {
		name          string
		key           string
		roles, scopes []string
		ttl           time.Duration
	}{
		{"duplicate active name", "ci", nil, nil, 0},
		{"empty name", "", nil, nil, 0},
		{"upper case", "CI", nil, nil, 0},
		{"space", "c i", nil, nil, 0},
		{"slash", "a/b", nil, nil, 0},
		{"too long", strings.Repeat("a", 64), nil, nil, 0},
		{"empty role", "a", []string{""}, nil, 0},
		{"role with space", "a", []string{"a b"}, nil, 0},
		{"scope with quote", "a", nil, []string{`a"b`}, 0},
		{"scope with apostrophe", "a", nil, []string{`a'b`}, 0},
		{"scope with backslash", "a", nil, []string{`a\b`}, 0},
		{"scope with control", "a", nil, []string{"a\x01"}, 0},
		{"scope non-ASCII", "a", nil, []string{"é"}, 0},
		{"negative ttl", "a", nil, nil, -time.Second},
	}
	for _, tt := range tests {
		if _, _, err := s.Create(tt.key, tt.roles, tt.scopes, tt.ttl); err == nil {
			t.Errorf("%s: Create succeeded", tt.name)
		}
	}
	if n := len(s.List()); n != 1 {
		t.Errorf("List has %d keys after refused creates, want 1", n)
	}
	if _, _, err := s.Create(strings.Repeat("a", 63), []string{"x:y/z"}, []string{"~!#$%"}, 0); err != nil {
		t.Errorf("longest name and punctuation: %v", err)
	}

	// A revoked key's name can be reused.
	if _, err := s.Revoke("ci"); err != nil {
		t.Fatal(err)
	}
	key, rec := mustCreate(t, s, "ci", nil, nil, 0)
	if p, err := s.Verify(key); err != nil || p.Subject != "ci" || p.Claims["api_key_id"] != rec.ID {
		t.Errorf("reused name: %+v, %v", p, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestRevokeRefusesAmbiguousName(t *testing.T) {
	s, _, _ := newTestStore(t)
	_, a := mustCreate(t, s, "a", nil, nil, 0)
	// A name spelled like another key's id.
	mustCreate(t, s, a.ID, nil, nil, 0)
	if _, err := s.Revoke(a.ID); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("Revoke of an ambiguous argument: %v", err)
	}
	for _, r := range s.List() {
		if !r.Revoked.IsZero() {
			t.Errorf("%s was revoked", r.ID)
		}
	}
}

func TestListSortedAndCopied(t *testing.T) {
	s, _, _ := newTestStore(t)
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"c", "a", "b"} {
		s.now = func() time.Time { return base.Add(time.Duration(i) * time.Minute) }
		mustCreate(t, s, name, []string{"r"}, nil, 0)
	}
	list := s.List()
	var names []string
	for _, r := range list {
		names = append(names, r.Name)
	}
	if want := []string{"c", "a", "b"}; !reflect.DeepEqual(names, want) {
		t.Errorf("List order = %v, want %v (by creation)", names, want)
	}
	list[0].Roles[0] = "admin"
	if s.List()[0].Roles[0] != "r" {
		t.Error("modifying List's result changed the store")
	}
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	pepper := make([]byte, PepperSize)
	rand.Read(pepper)
	okHash := strings.Repeat("A", 43)
	rec := func(id, name, hash, extra string) string {
		return fmt.Sprintf(`{"id":%q,"name":%q,"hash":%q,"created":"2030-01-01T00:00:00Z"%s}`, id, name, hash, extra)
	}
	id1, id2 := strings.Repeat("a", 16), strings.Repeat("b", 16)
	tests := map[string]string{
		"garbage":             "garbage",
		"empty":               "",
		"null":                "null",
		"no version":          `{"keys":[]}`,
		"version 2":           `{"version":2,"keys":[]}`,
		"unknown field":       `{"version":1,"keys":[],"x":1}`,
		"trailing data":       `{"version":1,"keys":[]} {}`,
		"bad id":              `{"version":1,"keys":[` + rec("AAAAAAAAAAAAAAAA", "a", okHash, "") + `]}`,
		"bad name":            `{"version":1,"keys":[` + rec(id1, "A B", okHash, "") + `]}`,
		"short hash":          `{"version":1,"keys":[` + rec(id1, "a", okHash[:42], "") + `]}`,
		"hash with newline":   `{"version":1,"keys":[` + rec(id1, "a", okHash[:42]+"\n", "") + `]}`,
		"no created":          `{"version":1,"keys":[{"id":"` + id1 + `","name":"a","hash":"` + okHash + `"}]}`,
		"bad scope":           `{"version":1,"keys":[` + rec(id1, "a", okHash, `,"scopes":["a b"]`) + `]}`,
		"duplicate id":        `{"version":1,"keys":[` + rec(id1, "a", okHash, "") + `,` + rec(id1, "b", okHash, "") + `]}`,
		"duplicate active":    `{"version":1,"keys":[` + rec(id1, "a", okHash, "") + `,` + rec(id2, "a", okHash, "") + `]}`,
		"unknown record keys": `{"version":1,"keys":[` + rec(id1, "a", okHash, `,"secret":"x"`) + `]}`,
	}
	for name, data := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path, pepper)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: Open error = %v, want one naming %s", name, err, path)
		}
	}

	// The same record set, valid: one revoked "a" and one active "a".
	valid := `{"version":1,"keys":[` + rec(id1, "a", okHash, `,"revoked":"2030-01-02T00:00:00Z"`) + `,` + rec(id2, "a", okHash, "") + `]}`
	path := filepath.Join(dir, "valid.json")
	if err := os.WriteFile(path, []byte(valid), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, pepper)
	if err != nil {
		t.Fatalf("valid file: %v", err)
	}
	if n := len(s.List()); n != 2 {
		t.Errorf("List has %d keys, want 2", n)
	}

	// Other users may not read the store.
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, pepper); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("group-readable store: Open error = %v", err)
	}
	if err := os.Chmod(path, 0o604); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, pepper); err == nil {
		t.Error("world-readable store opened")
	}
	if _, err := Open(dir, pepper); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory as store: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.json"), pepper[:16]); err == nil {
		t.Error("short pepper accepted")
	}
}

func TestMissingFileIsEmptyStore(t *testing.T) {
	s, path, _ := newTestStore(t)
	if n := len(s.List()); n != 0 {
		t.Fatalf("List has %d keys", n)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Open created the store file: %v", err)
	}
	wantRefused(t, s, "rk_aaaaaaaaaaaaaaaa_"+strings.Repeat("A", 43), authn.ReasonUnknownKey, "invalid_token")
}

// TestConcurrentWritersLoseNothing runs two stores on one file, as two CLI
// processes would, creating keys at the same time: every key must be in the
// file at the end.
func TestConcurrentWritersLoseNothing(t *testing.T) {
	a, path, pepper := newTestStore(t)
	b, err := Open(path, pepper)
	if err != nil {
		t.Fatal(err)
	}
	const perWorker, workers = 5, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	keys := map[string]string{} // name → key
	errs := make(chan error, 2*workers*perWorker)
	for w := range 2 * workers {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for i := range perWorker {
				name := fmt.Sprintf("w%d-k%d", w, i)
				key, _, err := s.Create(name, nil, nil, 0)
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				keys[name] = key
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	fresh, err := Open(path, pepper)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fresh.List()); n != 2*workers*perWorker {
		t.Fatalf("store holds %d keys, want %d", n, 2*workers*perWorker)
	}
	for name, key := range keys {
		if p, err := fresh.Verify(key); err != nil || p.Subject != name {
			t.Errorf("%s: %+v, %v", name, p, err)
		}
	}
}

// TestLeftoverTempFileIsHarmless simulates a writer that crashed after
// writing part of its temporary file, before the rename: the store keeps
// its old content, and the next writer clears the leftover away.
func TestLeftoverTempFileIsHarmless(t *testing.T) {
	s, path, pepper := newTestStore(t)
	key, _ := mustCreate(t, s, "ci", nil, nil, 0)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(filepath.Dir(path), securefile.TempPrefix(path)+"123456")
	if err := os.WriteFile(leftover, before[:len(before)/2], 0o600); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(path, pepper)
	if err != nil {
		t.Fatalf("Open with a leftover temp file: %v", err)
	}
	if _, err := s2.Verify(key); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Fatal("the store file changed")
	}

	key2, _ := mustCreate(t, s2, "deploy", nil, nil, 0)
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover temp file still there after a write: %v", err)
	}
	s3, err := Open(path, pepper)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{key, key2} {
		if _, err := s3.Verify(k); err != nil {
			t.Errorf("after the write: %v", err)
		}
	}
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

// TestWriteRefusesToOverwriteABrokenStore: a writer must not replace a file
// it cannot read, which may hold revocations.
func TestWriteRefusesToOverwriteABrokenStore(t *testing.T) {
	s, path, _ := newTestStore(t)
	mustCreate(t, s, "ci", nil, nil, 0)
	replaceFile(t, path, []byte("{broken"))
	if _, _, err := s.Create("deploy", nil, nil, 0); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Create over a broken store: %v", err)
	}
	if _, err := s.Revoke("ci"); err == nil {
		t.Error("Revoke over a broken store succeeded")
	}
	if data, _ := os.ReadFile(path); string(data) != "{broken" {
		t.Errorf("broken store was overwritten: %q", data)
	}
}

func TestVerifyAllocations(t *testing.T) {
	s, _, _ := newTestStore(t)
	key, _ := mustCreate(t, s, "ci", nil, nil, 0)
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items, so allocations are not representative")
	}
	s.Verify(key) // fill the pool
	if n := testing.AllocsPerRun(100, func() { s.Verify(key) }); n != 0 {
		t.Errorf("Verify of a good key allocates %v times per call, want 0", n)
	}
}
