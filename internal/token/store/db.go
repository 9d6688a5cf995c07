package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"modernc.org/sqlite"
)

// querier is what the queries need from a connection or a transaction.
// Queries are written with "?" placeholders; the PostgreSQL side rewrites
// them to $n.
type querier interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	queryRow(ctx context.Context, q string, args ...any) scanner
	query(ctx context.Context, q string, args ...any) (rows, error)
}

type scanner interface{ Scan(dest ...any) error }

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// dialect is one backend: a pool of connections and transactions over it.
type dialect interface {
	querier
	name() string
	// tx runs fn in a transaction that commits when fn returns nil.
	tx(ctx context.Context, fn func(querier) error) error
	isConflict(err error) bool
	close() error
}

// --- SQLite ---

type sqliteDB struct {
	db *sql.DB
}

type sqliteQ interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

type sqliteQuerier struct{ q sqliteQ }

func (s sqliteQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.q.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqliteQuerier) queryRow(ctx context.Context, q string, args ...any) scanner {
	return sqlRow{s.q.QueryRowContext(ctx, q, args...)}
}

func (s sqliteQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := s.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

type sqlRow struct{ r *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	if err := r.r.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	}
	return nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

func openSQLite(ctx context.Context, path string) (dialect, error) {
	if path == "" {
		return nil, errors.New("open token store: empty SQLite path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open token store: create directory for %s: %w", path, err)
	}
	// WAL with synchronous=FULL fsyncs the log on every commit: an
	// acknowledged write survives a power loss. Immediate transactions take
	// the write lock at BEGIN, so two writers never deadlock upgrading a
	// read lock; busy_timeout makes the loser wait instead of failing.
	dsn := "file:" + path + "?_txlock=immediate" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open token store %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open token store %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("open token store %s: restrict permissions: %w", path, err)
	}
	return &sqliteDB{db: db}, nil
}

func (d *sqliteDB) name() string { return "sqlite" }

func (d *sqliteDB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return sqliteQuerier{d.db}.exec(ctx, q, args...)
}

func (d *sqliteDB) queryRow(ctx context.Context, q string, args ...any) scanner {
	return sqliteQuerier{d.db}.queryRow(ctx, q, args...)
}

func (d *sqliteDB) query(ctx context.Context, q string, args ...any) (rows, error) {
	return sqliteQuerier{d.db}.query(ctx, q, args...)
}

func (d *sqliteDB) tx(ctx context.Context, fn func(querier) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(sqliteQuerier{tx}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (d *sqliteDB) isConflict(err error) bool {
	var se *sqlite.Error
	// SQLITE_CONSTRAINT_PRIMARYKEY (1555) and SQLITE_CONSTRAINT_UNIQUE (2067).
	return errors.As(err, &se) && (se.Code() == 1555 || se.Code() == 2067)
}

func (d *sqliteDB) close() error { return d.db.Close() }

// --- PostgreSQL ---

type pgDB struct {
	pool *pgxpool.Pool
	// rewritten caches each query with its placeholders rewritten.
	rewritten sync.Map
}

type pgQ interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type pgQuerier struct {
	d *pgDB
	q pgQ
}

func (p pgQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, p.d.rewrite(q), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (p pgQuerier) queryRow(ctx context.Context, q string, args ...any) scanner {
	return pgRow{p.q.QueryRow(ctx, p.d.rewrite(q), args...)}
}

func (p pgQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := p.q.Query(ctx, p.d.rewrite(q), args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

type pgRow struct{ r pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	if err := r.r.Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		return err
	}
	return nil
}

func openPostgres(ctx context.Context, dsn string) (dialect, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The DSN may hold a password: do not echo it.
		return nil, errors.New("open token store: cannot parse the PostgreSQL connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open token store: connect to PostgreSQL %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open token store: connect to PostgreSQL %s: %w", cfg.ConnConfig.Host, err)
	}
	return &pgDB{pool: pool}, nil
}

func (d *pgDB) name() string { return "postgres" }

// rewrite turns "?" placeholders into $1, $2, ... (the queries have no "?"
// in literals).
func (d *pgDB) rewrite(q string) string {
	if v, ok := d.rewritten.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	d.rewritten.Store(q, b.String())
	return b.String()
}

func (d *pgDB) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return pgQuerier{d, d.pool}.exec(ctx, q, args...)
}

func (d *pgDB) queryRow(ctx context.Context, q string, args ...any) scanner {
	return pgQuerier{d, d.pool}.queryRow(ctx, q, args...)
}

func (d *pgDB) query(ctx context.Context, q string, args ...any) (rows, error) {
	return pgQuerier{d, d.pool}.query(ctx, q, args...)
}

func (d *pgDB) tx(ctx context.Context, fn func(querier) error) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return fn(pgQuerier{d, tx}) })
}

func (d *pgDB) isConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (d *pgDB) close() error {
	d.pool.Close()
	return nil
}
