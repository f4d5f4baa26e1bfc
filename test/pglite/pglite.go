// Package pglite connects Go tests to the PGlite server (PostgreSQL in WebAssembly, with
// the pgvector extension) that scripts/pglite.sh starts, for the tests of the pgvector
// code paths: Debian's PostgreSQL has no pgvector.
//
// PGlite is a single backend behind one socket, so two workarounds apply, both confined
// to this package:
//   - Startup parameters (user, search_path) are ignored, and every connection is the
//     same session as the one before it. A test's schema and role are therefore set with
//     session-level SET on a first connection, and the store's one-connection pool
//     inherits them; cleanup resets them.
//   - For the same reason named prepared statements outlive a connection, and the next
//     one's statement cache would collide with them: the DSN selects pgx's "describe_exec" mode
//     (unnamed statements), and setup and cleanup DEALLOCATE ALL.
//   - Only one connection may be open at a time, in this process or any other test
//     binary: a test holds an exclusive file lock from DSN until its cleanup.
package pglite

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

// EnvURL names the PGlite server's URL; scripts/pglite.sh exports it.
const EnvURL = "VIBECODER_TEST_PGVECTOR_URL"

// Role is the ordinary role tests run as, so that row-level security is enforced
// (PGlite's only login is the superuser "postgres").
const Role = "vibecoder_test"

// DSN returns a DSN of the PGlite server for a fresh schema of this test, running as Role,
// with a pool of one connection. Without the server the test fails under CI=true and is
// skipped elsewhere (testutil.Missing). The test must close every connection it opened
// with the DSN before it ends (t.Cleanup order does this for stores opened after DSN).
func DSN(t testing.TB) string {
	t.Helper()
	raw := os.Getenv(EnvURL)
	if raw == "" {
		testutil.Missing(t, "PGlite with pgvector", EnvURL, errors.New(EnvURL+" is not set; run scripts/pglite.sh"))
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvURL, err)
	}
	unlock := lock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	schema := "t_" + testutil.RandomSuffix(8)
	err = session(ctx, raw,
		"RESET ROLE",
		"DEALLOCATE ALL",
		"DO $$ BEGIN CREATE ROLE "+Role+" NOSUPERUSER NOBYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
		"CREATE SCHEMA "+schema+" AUTHORIZATION "+Role,
		"SET search_path TO "+schema,
		"SET ROLE "+Role)
	if err != nil {
		unlock()
		testutil.Missing(t, "PGlite with pgvector", EnvURL, err)
	}
	t.Cleanup(func() {
		defer unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := session(ctx, raw, "RESET ROLE", "DEALLOCATE ALL", "RESET search_path", "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop PGlite test schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("pool_max_conns", "1")
	q.Set("default_query_exec_mode", "describe_exec")
	u.RawQuery = q.Encode()
	return u.String()
}

// session runs statements on one connection of their own.
func session(ctx context.Context, dsn string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// lock takes the machine-wide PGlite lock, waiting for other tests (in any test binary).
func lock(t testing.TB) func() {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "vibecoder-pglite.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("PGlite lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("PGlite lock: %v", err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}
