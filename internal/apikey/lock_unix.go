//go:build unix

package apikey

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// lockStore takes an exclusive flock(2) on path, creating the file if
// needed, waiting at most wait. flock rather than an O_EXCL lock file: the
// kernel drops the lock when its holder dies, so a crashed CLI never leaves
// a lock behind that someone must delete by hand. The lock file itself is
// never removed (removing it would let two processes lock different files).
func lockStore(path string, wait time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open API key store lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	pause := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock API key store %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock API key store %s: still held by another process after %s", path, wait)
		}
		// Non-blocking attempts with a short pause, because a blocking
		// flock cannot be given a deadline.
		time.Sleep(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
}

// inode returns the file's inode number.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
