// Package sqlite is the embedded dialect of the store: a single SQLite file under the
// data directory (pure Go, modernc.org/sqlite) in WAL mode, with one writer connection
// and a separate pool of read-only connections.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/google/uuid"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/vibecoder/vibecoder/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the SQLite implementation of store.Store.
type Store struct {
	writer *sql.DB // exactly one connection: SQLite has one writer at a time
	reader *sql.DB // read-only connections, used outside write transactions
	log    *slog.Logger
	path   string

	usageMu    sync.Mutex
	usageStmts map[int]*sql.Stmt // InsertUsage's statements by rows per statement

	inserts insertHub // wakes this process's River queues when their jobs commit
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path. It does not migrate.
func Open(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	// busy_timeout comes first: switching a new file to WAL takes a lock, and a
	// process starting beside another must wait for it rather than fail.
	pragmas := []string{
		"busy_timeout(10000)",
		"journal_mode(WAL)",
		"foreign_keys(1)",
		"synchronous(NORMAL)",
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		for _, p := range append(pragmas, extra...) {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode()
	}
	// BEGIN IMMEDIATE takes the write lock at the start of a transaction, so a
	// transaction never fails half-way on lock upgrade. The writer keeps its
	// statement journals in memory: a multi-row INSERT inside a transaction (the
	// gateway's usage rows, 64 a statement) journals every page it touches first, and
	// past 64 KiB SQLite spilled that to a temporary file, a write system call a page
	// (4 % of a cache hit's CPU). The writer runs no large sorts; readers keep the
	// default.
	writer, err := sql.Open("sqlite", dsn("temp_store(MEMORY)")+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// Switching a new file to WAL can answer SQLITE_BUSY without waiting while another
	// process does the same (SQLite does not call the busy handler there): try again.
	err = writer.PingContext(ctx)
	for wait := 10 * time.Millisecond; err != nil && strings.Contains(err.Error(), "SQLITE_BUSY") && wait < 5*time.Second; wait *= 2 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		err = writer.PingContext(ctx)
	}
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", dsn("query_only(1)"))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	n := max(4, runtime.NumCPU())
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	return &Store{writer: writer, reader: reader, log: log, path: path}, nil
}

// Writer returns the single writer connection pool. The job queue shares it so that a
// job and the row it drives commit in one transaction.
func (s *Store) Writer() *sql.DB { return s.writer }

// Dialect implements store.Store.
func (s *Store) Dialect() string { return "sqlite" }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.usageMu.Lock()
	var errs []error
	for _, st := range s.usageStmts {
		errs = append(errs, st.Close())
	}
	s.usageStmts = nil
	s.usageMu.Unlock()
	return errors.Join(append(errs, s.reader.Close(), s.writer.Close())...)
}

// Migrate implements store.Store. Every migration the binary applies, the store's
// (each in its own transaction) and then River's, runs while this process holds an
// exclusive lock on a file beside the database (path + "-migrate.lock"), so processes
// starting together on one file apply each migration once and the others wait and go
// on. The operating system drops the lock if the process dies. It returns how many of
// the store's own migrations it applied (River's are logged).
func (s *Store) Migrate(ctx context.Context) (int, error) {
	migs, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	unlock, err := lockFile(ctx, s.path+"-migrate.lock")
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer unlock()
	applied, err := s.migrateStore(ctx, migs)
	if err != nil {
		return applied, err
	}
	m, err := rivermigrate.New(riversqlite.New(s.writer), &rivermigrate.Config{Logger: s.log})
	if err != nil {
		return applied, fmt.Errorf("migrate job queue: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return applied, fmt.Errorf("migrate job queue: %w", translate(err))
	}
	if n := len(res.Versions); n > 0 {
		s.log.Info("job queue migrations applied", slog.String("dialect", "sqlite"), slog.Int("count", n))
	}
	return applied, nil
}

// lockFile takes an exclusive flock on path (created if needed), polling until it has
// it or ctx ends, and returns its release.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for the migration lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// migrateStore applies the store's own pending migrations.
func (s *Store) migrateStore(ctx context.Context, migs []store.Migration) (int, error) {
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", translate(err))
	}
	applied := 0
	for _, m := range migs {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.Version, m.Name, fmtTime(store.Now())); err != nil {
				return err
			}
			applied++
			s.log.Info("migration applied", slog.String("dialect", "sqlite"), slog.String("name", m.Name))
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.Name, translate(err))
		}
	}
	return applied, nil
}

// querier is what the writer pool and a transaction have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type txKey struct{}

// txState is the write transaction InTx put in a context, and the queues of the
// jobs inserted in it, to be woken once it commits (see wake.go).
type txState struct {
	tx     *sql.Tx
	queues []string
}

// ctxTxState returns the transaction state InTx put in ctx, if any.
func ctxTxState(ctx context.Context) *txState {
	st, _ := ctx.Value(txKey{}).(*txState)
	return st
}

// ctxTx returns the transaction InTx put in ctx, if any.
func ctxTx(ctx context.Context) *sql.Tx {
	if st := ctxTxState(ctx); st != nil {
		return st.tx
	}
	return nil
}

// w is where a write goes: the caller's transaction, or the writer connection.
func (s *Store) w(ctx context.Context) querier {
	if tx := ctxTx(ctx); tx != nil {
		return tx
	}
	return s.writer
}

// r is where a read goes: the caller's transaction (to see its own writes), or a reader.
func (s *Store) r(ctx context.Context) querier {
	if tx := ctxTx(ctx); tx != nil {
		return tx
	}
	return s.reader
}

// InTx implements store.Store: fn runs in one write transaction; store calls made with
// the context fn receives join it, and tx is the *sql.Tx for the job queue's InsertTx.
// Once a transaction that inserted jobs commits, their queues are woken in this
// process (wake.go). SQLite has no row-level security, so userID only documents whose
// transaction it is.
func (s *Store) InTx(ctx context.Context, _ uuid.UUID, fn func(ctx context.Context) error) error {
	if ctxTx(ctx) != nil {
		return fn(ctx) // the caller's transaction: it commits, and wakes, when the caller's InTx returns
	}
	st := &txState{}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		st.tx = tx
		return fn(context.WithValue(ctx, txKey{}, st))
	})
	if err == nil {
		s.inserts.committed(st.queues)
	}
	return err
}

// inTx runs fn in a write transaction on the writer connection, or inside the caller's
// transaction when ctx carries one (a second BeginTx on the single writer connection
// would wait for itself forever).
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if tx := ctxTx(ctx); tx != nil {
		return fn(tx)
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
