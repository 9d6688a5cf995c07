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

	"github.com/rampart-sec/rampart/internal/securefile"
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
	if err := securefile.CheckPrivate("API key store", path, fi); err != nil {
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
	securefile.RemoveStaleTemps(path)
	fi, err := securefile.Write(path, data)
	if err != nil {
		return fileID{}, fmt.Errorf("write API key store: %w", err)
	}
	return idOf(fi), nil
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
	p, err := securefile.ReadPrivate("API key pepper", path, 1<<10)
	if err != nil {
		return nil, err
	}
	if len(p) != PepperSize {
		return nil, fmt.Errorf("API key pepper %s: %d bytes, want exactly %d", path, len(p), PepperSize)
	}
	return p, nil
}

// createPepper writes a new pepper to path unless a file already exists
// there. It links rather than renames: a rename could replace a pepper
// another process just created and silently invalidate the keys hashed with
// it.
func createPepper(path string) error {
	p := make([]byte, PepperSize)
	if _, err := rand.Read(p); err != nil {
		return fmt.Errorf("generate API key pepper: %w", err)
	}
	if _, err := securefile.Create(path, p); err != nil {
		return fmt.Errorf("create API key pepper: %w", err)
	}
	return nil
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
