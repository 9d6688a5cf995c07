// Package securefile writes and reads the files that hold secrets and state
// Rampart must not lose: keys, peppers, key stores, certificates. Every write
// is durable before it returns (temporary file, fsync, rename or link,
// directory fsync), so a crash leaves the old content or the new one, never
// a mix, and nothing acknowledged is lost. Files are created 0600 in 0700
// directories, and reading a secret refuses a file others can read.
package securefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix is the name prefix of the temporary files a write of path
// uses, so that a writer can remove those a crashed writer left.
func TempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// Write replaces path with data (mode 0600), creating its directory (0700)
// if needed. It returns the written file's information, which the rename
// keeps (same inode, size and modification time).
func Write(path string, data []byte) (fs.FileInfo, error) {
	tmp, fi, err := writeTemp(path, data)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("install %s: %w", path, err)
	}
	return fi, SyncDir(filepath.Dir(path))
}

// Create writes data to path (mode 0600) only if no file is there, and
// reports whether it did. It links the finished file into place instead of
// renaming it: a link never replaces a file that another process created
// meanwhile, so two processes racing both end up with the first one's
// content (a second key or pepper would silently invalidate the first).
func Create(path string, data []byte) (created bool, err error) {
	tmp, _, err := writeTemp(path, data)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("install %s: %w", path, err)
	}
	return true, SyncDir(filepath.Dir(path))
}

// writeTemp writes data to a synced temporary file next to path.
func writeTemp(path string, data []byte) (name string, fi fs.FileInfo, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("create directory of %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, TempPrefix(path)+"*") // mode 0600
	if err != nil {
		return "", nil, fmt.Errorf("write %s: %w", path, err)
	}
	name = f.Name()
	fail := func(err error) (string, fs.FileInfo, error) {
		f.Close()
		os.Remove(name)
		return "", nil, fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if fi, err = f.Stat(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", nil, fmt.Errorf("write %s: %w", path, err)
	}
	return name, fi, nil
}

// SyncDir makes the directory entries of dir (a rename, a link) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// CheckPrivate refuses what is not a regular file that only its owner can
// access; what names it in the error ("identity key").
func CheckPrivate(what, path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s is not a regular file", what, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s %s is accessible by group or others (mode %#o): chmod 600 it", what, path, perm)
	}
	return nil
}

// ReadPrivate reads a file that CheckPrivate accepts, of at most max bytes.
// The checks are made on the open file, so they hold for what is read.
func ReadPrivate(what, path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s %s: %w", what, path, err)
	}
	if err := CheckPrivate(what, path, fi); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, path, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s %s is too large (more than %d bytes)", what, path, max)
	}
	return b, nil
}

// RemoveStaleTemps deletes the temporary files that crashed writers of path
// left. Failing to delete one is harmless (it is never read).
func RemoveStaleTemps(path string) {
	dir, prefix := filepath.Dir(path), TempPrefix(path)
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
