package apikey

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// storeVersion is the only store file format this package reads and writes.
const storeVersion = 1

// maxStoreSize bounds what is read from the store file (about 200,000 keys),
// so a wrong path pointing at a huge file fails instead of exhausting memory.
const maxStoreSize = 64 << 20

// storeFile is the JSON form of the store.
type storeFile struct {
	Version int      `json:"version"`
	Keys    []Record `json:"keys"`
}

// fileID is what the poller compares to notice that the store file was
// replaced or changed: every write renames a new file into place, so the
// inode changes even when the size and modification time do not.
type fileID struct {
	exists bool
	ino    uint64
	size   int64
	mtime  int64 // unix nanoseconds
}

func idOf(fi fs.FileInfo) fileID {
	return fileID{exists: true, ino: inode(fi), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// statStore returns the identity of the file at path; a missing file has
// the zero fileID.
func statStore(path string) (fileID, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileID{}, nil
	}
	if err != nil {
		return fileID{}, fmt.Errorf("stat API key store: %w", err)
	}
	return idOf(fi), nil
}

// checkPrivate refuses anything but a regular file that only its owner may
// access: the store holds the key hashes and the pepper file the key that
// makes them unguessable.
func checkPrivate(what, path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s is not a regular file", what, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s %s is accessible by group or others (mode %#o): chmod 600 it", what, path, perm)
	}
	return nil
}

// readStore reads and parses the store file at path. A missing file is an
// empty store with the zero fileID. The identity is taken from the open
// file, so it always matches the content returned.
func readStore(path string) ([]Record, fileID, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fileID{}, nil
	}
	if err != nil {
		return nil, fileID{}, fmt.Errorf("open API key store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileID{}, fmt.Errorf("stat API key store: %w", err)
	}
	if err := checkPrivate("API key store", path, fi); err != nil {
		return nil, fileID{}, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxStoreSize+1))
	if err != nil {
		return nil, fileID{}, fmt.Errorf("read API key store %s: %w", path, err)
	}
	if len(data) > maxStoreSize {
		return nil, fileID{}, fmt.Errorf("API key store %s is larger than %d bytes", path, maxStoreSize)
	}
	recs, err := parseStore(data)
	if err != nil {
		return nil, fileID{}, fmt.Errorf("API key store %s: %w", path, err)
	}
	return recs, idOf(fi), nil
}

// parseStore decodes the store file strictly: unknown fields, trailing data
// and other versions are errors, since a file we do not fully understand
// might hold a revocation we would miss.
func parseStore(data []byte) ([]Record, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var sf storeFile
	if err := dec.Decode(&sf); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("parse: unexpected data after the JSON object")
	}
	if sf.Version != storeVersion {
		return nil, fmt.Errorf("unsupported version %d (want %d)", sf.Version, storeVersion)
	}
	return sf.Keys, nil
}

// tempPrefix names the temporary files of a store at path. Only writers
// holding the store lock create them, so the lock holder may delete any it
// finds: they are left over from a writer that crashed.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// writeStore replaces the store file at path with recs, durably: the new
// content goes to a temporary file that is synced before it is renamed over
// the old one, and the directory is synced after, so a crash leaves either
// the old file or the new one, never a mix, and a write that returned nil
// survives a power loss. The caller holds the store lock.
func writeStore(path string, recs []Record) (fileID, error) {
	if recs == nil {
		recs = []Record{} // "keys": [] rather than null
	}
	data, err := json.MarshalIndent(storeFile{Version: storeVersion, Keys: recs}, "", "  ")
	if err != nil {
		return fileID{}, fmt.Errorf("encode API key store: %w", err)
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	removeStaleTemps(dir, tempPrefix(path))
	f, err := os.CreateTemp(dir, tempPrefix(path)+"*") // mode 0600
	if err != nil {
		return fileID{}, fmt.Errorf("write API key store: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name()) // fails harmlessly once renamed
	}()
	if _, err := f.Write(data); err != nil {
		return fileID{}, fmt.Errorf("write API key store %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fileID{}, fmt.Errorf("sync API key store %s: %w", path, err)
	}
	// The identity survives the rename (same inode, size and mtime), so
	// this store's poller will not reload what it just wrote.
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, fmt.Errorf("stat API key store %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fileID{}, fmt.Errorf("write API key store %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fileID{}, fmt.Errorf("install API key store: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fileID{}, err
	}
	return idOf(fi), nil
}

// removeStaleTemps deletes temporary files that crashed writers left in dir.
// Failing to delete one is harmless (it is never read), so errors are ignored.
func removeStaleTemps(dir, prefix string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// syncDir makes a new directory entry in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// PepperSize is the size of the pepper LoadOrCreatePepper makes, and the
// least Open accepts.
const PepperSize = 32

// LoadOrCreatePepper returns the pepper in the file at path: the HMAC key
// under which key secrets are hashed, so that a copy of the store file alone
// is useless. It creates the file with 32 bytes from crypto/rand if it does
// not exist (directory mode 0700, file mode 0600). It refuses a file that
// group or others may access and a file that does not hold exactly 32 bytes;
// errors name the path.
//
// A new pepper is written to a temporary file, synced, then hard-linked into
// place, which never replaces a file: if another process created a pepper
// meanwhile, that one wins and is returned, so two processes never hash
// with different peppers. Losing the pepper makes every key fail to verify.
func LoadOrCreatePepper(path string) ([]byte, error) {
	p, err := loadPepper(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return p, err
	}
	if err := createPepper(path); err != nil {
		return nil, err
	}
	return loadPepper(path)
}

// loadPepper reads the pepper at path; an error wrapping fs.ErrNotExist
// means there is no file.
func loadPepper(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open API key pepper: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat API key pepper: %w", err)
	}
	if err := checkPrivate("API key pepper", path, fi); err != nil {
		return nil, err
	}
	p, err := io.ReadAll(io.LimitReader(f, PepperSize+1))
	if err != nil {
		return nil, fmt.Errorf("read API key pepper %s: %w", path, err)
	}
	if len(p) != PepperSize {
		return nil, fmt.Errorf("API key pepper %s: %d bytes, want exactly %d", path, len(p), PepperSize)
	}
	return p, nil
}

// createPepper writes a new pepper to path unless a file already exists there.
func createPepper(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create API key pepper directory: %w", err)
	}
	p := make([]byte, PepperSize)
	if _, err := rand.Read(p); err != nil {
		return fmt.Errorf("generate API key pepper: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("create API key pepper: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if _, err := f.Write(p); err != nil {
		return fmt.Errorf("write API key pepper %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync API key pepper %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write API key pepper %s: %w", path, err)
	}
	// No rename fallback where links are unsupported: a rename could
	// replace a pepper another process just created and silently
	// invalidate the keys hashed with it.
	if err := os.Link(f.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return fmt.Errorf("install API key pepper: %w", err)
	}
	return syncDir(dir)
}

// PepperPath is where the pepper of the store at path lives: beside it, so
// that the CLI and the gateway that share a store share its pepper.
func PepperPath(path string) string { return filepath.Join(filepath.Dir(path), "pepper") }

// OpenStore opens the store at path with the pepper beside it, creating the
// pepper (and its directory) on first use.
func OpenStore(path string, o Options) (*Store, error) {
	pepper, err := LoadOrCreatePepper(PepperPath(path))
	if err != nil {
		return nil, err
	}
	return OpenWith(path, pepper, o)
}
