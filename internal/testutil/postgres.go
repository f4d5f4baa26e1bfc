package testutil

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The role and database tests connect as. The role is deliberately not a superuser and
// cannot bypass row-level security: it owns the tables it creates, and FORCE ROW LEVEL
// SECURITY applies to owners, so RLS is really enforced in tests. Its password only
// matters where the server does not trust local connections.
const (
	pgTestRole     = "vibecoder_test"
	pgTestPassword = "vibecoder_test"
	pgTestDatabase = "vibecoder_test"
)

// pgShared is set up once per test process: creating the role and the database takes
// an admin connection, after which every test only creates and drops a schema through
// one small pool that connects as the test role.
var pgShared struct {
	once sync.Once
	err  error
	base *url.URL      // connects as the test role to the test database
	pool *pgxpool.Pool // the same, for creating and dropping schemas
}

// PostgresDSN returns a DSN for a fresh, empty schema of its own in the test database,
// connecting as a role that is subject to row-level security, with search_path set to
// that schema. The schema is dropped when the test ends. When no PostgreSQL answers at
// VIBECODER_TEST_DATABASE_URL (an admin URL; DefaultPostgresURL when unset) the test
// fails under CI=true and is skipped elsewhere (see Missing).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	pgShared.once.Do(func() { pgShared.err = setupPostgres() })
	if pgShared.err != nil {
		Missing(t, "PostgreSQL", EnvPostgresURL, pgShared.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	schema := "t_" + RandomSuffix(8)
	if _, err := pgShared.pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create test schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pgShared.pool.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	u := *pgShared.base
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func setupPostgres() error {
	raw := os.Getenv(EnvPostgresURL)
	if raw == "" {
		raw = DefaultPostgresURL
	}
	admin, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %s: %w", EnvPostgresURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connectCtx, cancelConnect := context.WithTimeout(ctx, 5*time.Second)
	defer cancelConnect()
	conn, err := pgx.Connect(connectCtx, raw)
	if err != nil {
		return fmt.Errorf("connect as admin to %s: %w", admin.Redacted(), err)
	}
	defer conn.Close(context.Background())
	if err := ensureRoleAndDatabase(ctx, conn); err != nil {
		return err
	}

	base := *admin
	base.User = url.UserPassword(pgTestRole, pgTestPassword)
	base.Path = "/" + pgTestDatabase
	q := base.Query()
	q.Del("search_path")
	base.RawQuery = q.Encode()
	cfg, err := pgxpool.ParseConfig(base.String())
	if err != nil {
		return fmt.Errorf("test DSN: %w", err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect as %s: %w", pgTestRole, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("connect as %s to %s: %w", pgTestRole, pgTestDatabase, err)
	}
	pgShared.base, pgShared.pool = &base, pool
	return nil
}

// ensureRoleAndDatabase creates the test role and database when missing. Test binaries
// of several packages run at once, so the work happens under an advisory lock (held on
// the admin database, which they all share) and tolerates losing a race anyway.
func ensureRoleAndDatabase(ctx context.Context, conn *pgx.Conn) error {
	const lockKey = 0x76635f7465737421 // "vc_test!"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(lockKey)); err != nil {
		return fmt.Errorf("lock test setup: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", int64(lockKey)) }()

	var super, bypass, exists bool
	err := conn.QueryRow(ctx, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", pgTestRole).Scan(&super, &bypass)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		_, err = conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '%s'",
			pgTestRole, pgTestPassword))
		if err != nil && !isCode(err, "42710") { // duplicate_object: another process won
			return fmt.Errorf("create role %s: %w", pgTestRole, err)
		}
	case err != nil:
		return fmt.Errorf("look up role %s: %w", pgTestRole, err)
	case super || bypass:
		// Someone widened the role; tests would silently stop enforcing RLS.
		if _, err := conn.Exec(ctx, "ALTER ROLE "+pgTestRole+" NOSUPERUSER NOBYPASSRLS"); err != nil {
			return fmt.Errorf("restrict role %s: %w", pgTestRole, err)
		}
	}

	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", pgTestDatabase).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", pgTestDatabase, err)
	}
	if !exists {
		_, err := conn.Exec(ctx, "CREATE DATABASE "+pgTestDatabase+" OWNER "+pgTestRole)
		if err != nil && !isCode(err, "42P04") { // duplicate_database: another process won
			return fmt.Errorf("create database %s: %w", pgTestDatabase, err)
		}
	}
	return nil
}

func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}
