// Package storetest opens the token store's backends for tests: a SQLite
// file in the test's temporary directory, and a real PostgreSQL at
// RAMPART_TEST_POSTGRES_DSN in a schema of its own that is dropped when
// the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rampart-sec/rampart/internal/token/store"
)

// DefaultPostgresDSN is used when RAMPART_TEST_POSTGRES_DSN is unset.
const DefaultPostgresDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// KEK is a fixed key-encryption key for tests.
var KEK = []byte("0123456789abcdef0123456789abcdef")

// Backend opens a fresh, empty store; Reopen opens the same one again.
type Backend struct {
	Name string
	// Open returns a new empty store, closed when the test ends, and a DSN
	// that opens it again.
	Open func(t testing.TB) (store.Store, string)
}

// Backends returns SQLite and PostgreSQL; the PostgreSQL one skips the
// test when the server is unreachable (and fails it when CI=true).
func Backends() []Backend {
	return []Backend{{Name: "sqlite", Open: SQLite}, {Name: "postgres", Open: Postgres}}
}

// OpenDSN opens dsn with the test KEK and closes it when the test ends.
func OpenDSN(t testing.TB, dsn string) store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), dsn, store.Options{KEK: KEK})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// SQLite opens a new store in a file under t.TempDir().
func SQLite(t testing.TB) (store.Store, string) {
	dsn := filepath.Join(t.TempDir(), "token.db")
	return OpenDSN(t, dsn), dsn
}

// Postgres opens a new store in a uniquely named schema, dropped at the end.
// It skips when the server is unreachable, and fails instead when CI=true.
func Postgres(t testing.TB) (store.Store, string) {
	t.Helper()
	dsn := os.Getenv("RAMPART_TEST_POSTGRES_DSN")
	if dsn == "" {
		dsn = DefaultPostgresDSN
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at RAMPART_TEST_POSTGRES_DSN is required in CI: %v", err)
		}
		t.Skipf("skipping: no PostgreSQL reachable (set RAMPART_TEST_POSTGRES_DSN): %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "rampart_token_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		conn.Close(ctx)
		t.Fatalf("create schema: %v", err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse RAMPART_TEST_POSTGRES_DSN: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	// Registered after the schema drop, so it runs first: the pool closes
	// before its schema goes.
	return OpenDSN(t, u.String()), u.String()
}
