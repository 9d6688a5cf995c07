package keys

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/rampart-sec/rampart/internal/securefile"
	"github.com/rampart-sec/rampart/sdk/fieldcrypt"
)

// Manager holds the keyrings of one directory. It is safe for concurrent
// use; changes go to disk before they take effect, and Reload picks up
// changes other processes (the CLI) made.
type Manager struct {
	dir string
	kek tink.AEAD
	now func() time.Time
	// update serializes Reload and changes, so that a reload never
	// installs a state older than a change it raced with.
	update sync.Mutex
	mu     sync.RWMutex
	rings  map[string]loaded
}

// Open loads every keyring in dir (which need not exist yet) with the
// key-encryption key kek. A keyring that does not load (another KEK, an
// altered file) fails Open: serving without it would fail its callers later
// and less clearly.
func Open(dir string, kek tink.AEAD) (*Manager, error) {
	if kek == nil {
		return nil, ErrNoKEK
	}
	m := &Manager{dir: dir, kek: kek, now: time.Now, rings: map[string]loaded{}}
	if err := m.Reload(); err != nil {
		return nil, err
	}
	return m, nil
}

// Reload re-reads the keyring files that changed since they were loaded,
// loads new ones and forgets removed ones. A file that fails to load keeps
// its previous state and is reported.
func (m *Manager) Reload() error {
	m.update.Lock()
	defer m.update.Unlock()
	names, err := scan(m.dir)
	if err != nil {
		return err
	}
	m.mu.RLock()
	current := make(map[string]loaded, len(m.rings))
	for n, l := range m.rings {
		current[n] = l
	}
	m.mu.RUnlock()
	next := make(map[string]loaded, len(names))
	var errs []error
	for _, name := range names {
		path := m.path(name)
		old, had := current[name]
		if had {
			if fi, err := os.Stat(path); err == nil && os.SameFile(fi, old.file) && fi.ModTime().Equal(old.file.ModTime()) {
				next[name] = old
				continue
			}
		}
		_, l, err := readRing(m.kek, path, name)
		if err != nil {
			errs = append(errs, err)
			if had {
				next[name] = old
			}
			continue
		}
		next[name] = l
	}
	m.mu.Lock()
	m.rings = next
	m.mu.Unlock()
	return errors.Join(errs...)
}

func (m *Manager) get(name string) (*ring, error) {
	m.mu.RLock()
	l, ok := m.rings[name]
	m.mu.RUnlock()
	if !ok {
		return nil, ErrUnknownKey
	}
	return l.ring, nil
}

// List describes every keyring, by name.
func (m *Manager) List() []Info {
	m.mu.RLock()
	out := make([]Info, 0, len(m.rings))
	for _, l := range m.rings {
		out = append(out, l.ring.info.clone())
	}
	m.mu.RUnlock()
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Get describes one keyring.
func (m *Manager) Get(name string) (Info, error) {
	r, err := m.get(name)
	if err != nil {
		return Info{}, err
	}
	return r.info.clone(), nil
}

// Encrypt seals plaintext with the primary version of keyring name;
// associatedData (may be nil) must be given again to decrypt.
func (m *Manager) Encrypt(name string, plaintext, associatedData []byte) (string, error) {
	r, err := m.get(name)
	if err != nil {
		return "", err
	}
	return r.encrypt(plaintext, associatedData)
}

// Decrypt opens a ciphertext of keyring name. Errors: ErrUnknownKey,
// ErrMalformedCiphertext, ErrUnknownVersion, ErrVersionDisabled,
// ErrVersionTooOld, ErrDecrypt (tampered, or other associated data).
func (m *Manager) Decrypt(name, ciphertext string, associatedData []byte) ([]byte, error) {
	r, err := m.get(name)
	if err != nil {
		return nil, err
	}
	return r.decrypt(ciphertext, associatedData)
}

// Rewrap decrypts a ciphertext and encrypts it again under the primary
// version, with the same associated data; the plaintext never leaves.
func (m *Manager) Rewrap(name, ciphertext string, associatedData []byte) (string, error) {
	r, err := m.get(name)
	if err != nil {
		return "", err
	}
	pt, err := r.decrypt(ciphertext, associatedData)
	if err != nil {
		return "", err
	}
	defer clear(pt)
	return r.encrypt(pt, associatedData)
}

// DataKey generates a random data key of bits (128, 256 or 512) and
// returns it with its ciphertext under keyring name: a service encrypts
// its data locally with the key, keeps only the ciphertext, and asks for
// a decrypt when it needs the key again.
func (m *Manager) DataKey(name string, bits int, associatedData []byte) (plaintext []byte, ciphertext string, err error) {
	if bits != 128 && bits != 256 && bits != 512 {
		return nil, "", fmt.Errorf("data key of %d bits: want 128, 256 or 512", bits)
	}
	r, err := m.get(name)
	if err != nil {
		return nil, "", err
	}
	key, err := randomBytes(bits / 8)
	if err != nil {
		return nil, "", err
	}
	ct, err := r.encrypt(key, associatedData)
	if err != nil {
		return nil, "", err
	}
	return key, ct, nil
}

// Create makes keyring name of type t with version 1.
func (m *Manager) Create(name string, t Type) (Info, error) {
	if !ValidName(name) {
		return Info{}, fmt.Errorf("create key %q: names are 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit", name)
	}
	if _, err := template(t); err != nil {
		return Info{}, fmt.Errorf("create key %q: %w", name, err)
	}
	return m.change(name, true, func(b *fileBody) error {
		b.Format, b.Name, b.Type, b.Primary, b.MinDecryptionVersion = fileFormat, name, t, 1, 1
		return m.addVersion(b)
	})
}

// Rotate adds a version to keyring name and makes it the primary.
func (m *Manager) Rotate(name string) (Info, error) {
	return m.change(name, false, func(b *fileBody) error {
		if err := m.addVersion(b); err != nil {
			return err
		}
		b.Primary = len(b.Versions)
		return nil
	})
}

// SetVersionDisabled disables (or enables again) one version: its
// ciphertexts stop decrypting, the key itself is kept. The primary cannot
// be disabled (rotate first).
func (m *Manager) SetVersionDisabled(name string, version int, disabled bool) (Info, error) {
	return m.change(name, false, func(b *fileBody) error {
		if version < 1 || version > len(b.Versions) {
			return fmt.Errorf("version %d: %w", version, ErrUnknownVersion)
		}
		if disabled && version == b.Primary {
			return fmt.Errorf("version %d is the primary: rotate before disabling it", version)
		}
		b.Versions[version-1].Disabled = disabled
		return nil
	})
}

// SetMinDecryptionVersion refuses ciphertexts of versions below min (at
// most the primary). Rewrap old ciphertexts first: the ones left behind
// stop decrypting.
func (m *Manager) SetMinDecryptionVersion(name string, min int) (Info, error) {
	return m.change(name, false, func(b *fileBody) error {
		if min < 1 || min > b.Primary {
			return fmt.Errorf("minimum decryption version %d not in 1..%d (the primary)", min, b.Primary)
		}
		b.MinDecryptionVersion = min
		return nil
	})
}

func (m *Manager) addVersion(b *fileBody) error {
	v := len(b.Versions) + 1
	sealed, err := newVersion(m.kek, b.Name, b.Type, v)
	if err != nil {
		return err
	}
	b.Versions = append(b.Versions, fileVersion{Version: v, Created: m.now().UTC().Truncate(time.Second), Keyset: sealed})
	return nil
}

// change applies fn to keyring name as it is on disk, under the directory
// lock, writes the result durably, and only then serves it. Reading the
// file again (not the memory) means a change another process made is
// never overwritten.
func (m *Manager) change(name string, create bool, fn func(*fileBody) error) (Info, error) {
	m.update.Lock()
	defer m.update.Unlock()
	unlock, err := lockDir(m.dir)
	if err != nil {
		return Info{}, err
	}
	defer unlock()
	path := m.path(name)
	// Under the lock no writer is in flight: temporary files are a
	// crashed writer's.
	securefile.RemoveStaleTemps(path)
	b, _, err := readRing(m.kek, path, name)
	switch {
	case create && err == nil:
		return Info{}, fmt.Errorf("create key %q: %w", name, ErrKeyExists)
	case create && errors.Is(err, fs.ErrNotExist):
		b = &fileBody{}
	case !create && errors.Is(err, fs.ErrNotExist):
		return Info{}, fmt.Errorf("key %q: %w", name, ErrUnknownKey)
	case err != nil:
		return Info{}, err
	}
	if err := fn(b); err != nil {
		return Info{}, fmt.Errorf("key %q: %w", name, err)
	}
	data, err := encodeFile(m.kek, b)
	if err != nil {
		return Info{}, err
	}
	if _, err := securefile.Write(path, data); err != nil {
		return Info{}, fmt.Errorf("save key %q: %w", name, err)
	}
	// Serve what is on disk, read back through the same checks as a load.
	_, l, err := readRing(m.kek, path, name)
	if err != nil {
		return Info{}, fmt.Errorf("reload key %q: %w", name, err)
	}
	m.mu.Lock()
	m.rings[name] = l
	m.mu.Unlock()
	return l.ring.info.clone(), nil
}

// clone copies the versions, which the ring itself reads.
func (i Info) clone() Info {
	i.Versions = slices.Clone(i.Versions)
	return i
}

// Keyring returns keyring name as a fieldcrypt.Keyring. It follows the
// manager: after a rotation (and Reload, for one made elsewhere) it
// encrypts under the new primary.
func (m *Manager) Keyring(name string) (fieldcrypt.Keyring, error) {
	if _, err := m.get(name); err != nil {
		return nil, fmt.Errorf("key %q: %w", name, err)
	}
	return keyring{m: m, name: name}, nil
}

type keyring struct {
	m    *Manager
	name string
}

func (k keyring) Encrypt(plaintext, ad []byte) (string, error) {
	return k.m.Encrypt(k.name, plaintext, ad)
}

func (k keyring) Decrypt(ciphertext string, ad []byte) ([]byte, error) {
	return k.m.Decrypt(k.name, ciphertext, ad)
}

func (k keyring) PrimaryVersion() int {
	r, err := k.m.get(k.name)
	if err != nil {
		return 0
	}
	return r.info.Primary
}

// Watch calls Reload every interval until ctx ends, so that a running
// server serves what "rampart keys" changed (a rotation, a disabled
// version) within one interval. Failures go to report (may be nil); the
// last good state keeps serving.
func (m *Manager) Watch(ctx context.Context, interval time.Duration, report func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Reload(); err != nil && report != nil {
				report(err)
			}
		}
	}
}
