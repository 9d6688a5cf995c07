//go:build !unix

package apikey

import (
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// lockStore is not implemented off Unix: without a lock that the system
// releases when its holder dies, concurrent writers could lose each other's
// keys. Reading and verifying work everywhere.
func lockStore(path string, _ time.Duration) (func(), error) {
	return nil, fmt.Errorf("lock API key store %s: %w", path, errors.ErrUnsupported)
}

// inode is unknown off Unix; size and modification time still reveal changes.
func inode(fs.FileInfo) uint64 { return 0 }
