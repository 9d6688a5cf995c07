//go:build !unix

package keys

import (
	"errors"
	"fmt"
)

// lockDir is not implemented off Unix: without a lock the system releases
// when its holder dies, concurrent changes could lose a key version.
// Loading, encrypting and decrypting work everywhere.
func lockDir(dir string) (func(), error) {
	return nil, fmt.Errorf("lock key directory %s: %w", dir, errors.ErrUnsupported)
}
