//go:build unix

package keys

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive flock(2) on DIR/.lock. flock, because the
// kernel releases it when its holder dies: a crashed CLI leaves no lock
// that someone must delete by hand. The lock file is never removed
// (removing it would let two processes lock different files).
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open key directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock key directory %s: %w", dir, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}
