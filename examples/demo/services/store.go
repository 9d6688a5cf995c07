package services

import (
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rampart-sec/rampart/sdk/fieldcrypt"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite" (no cgo)
)

// openDB opens (creating) a service's own SQLite database in dir: each
// service has its own file, its own key and no credentials of another's.
// WAL with synchronous=FULL: a write that returned is on disk.
func openDB(dir, name string) (*sql.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	dsn := "file:" + filepath.Join(dir, name+".db") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", name, err)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s database: %w", name, err)
	}
	return db, nil
}

// fieldKey loads the service's field-encryption key from dir, creating a
// random one on first start (mode 0600). In production it would come from a
// secret manager or `rampart keys`; the demo keeps it beside the database
// to show that the database file alone holds no readable PII.
func fieldKey(dir string) (*fieldcrypt.Crypter, error) {
	path := filepath.Join(dir, "field.key")
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("write field key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read field key: %w", err)
	}
	kr, err := fieldcrypt.NewKeyring(fieldcrypt.Randomized, key)
	if err != nil {
		return nil, err
	}
	return fieldcrypt.New(fieldcrypt.Options{Keyring: kr})
}
