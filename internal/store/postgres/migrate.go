package postgres

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/vibecoder/vibecoder/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock serialises migrators of one schema across processes: every migration
// the binary applies, the store's and River's, runs while one session holds it. It is
// keyed on the current schema so that tests migrating their own schemas in parallel do
// not queue behind each other.
const migrationLock = "SELECT pg_advisory_lock(hashtextextended('vibecoder.migrate.' || coalesce(current_schema(), ''), 0))"

// Migrate implements store.Store. It takes migrationLock on a connection of its own
// (not the pool's, so a pool of one cannot deadlock it), applies the store's pending
// migrations on it, each in its own transaction, then River's through the pool, and
// closes the connection, which releases the lock even if a step failed. The applied
// check happens under the lock, so any number of processes (serve, worker, migrate)
// may start at once on an empty database and each migration is applied exactly once;
// the others wait for the lock, find nothing to do and go on. Everything is created
// unqualified, in the first schema of the search_path. It returns how many of the
// store's own migrations it applied (River's are logged).
func (s *Store) Migrate(ctx context.Context) (int, error) {
	migs, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return 0, fmt.Errorf("migrate: connect: %w", translate(err))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx) // releases the lock, also after a failed step
	}()
	waitStart := time.Now()
	if _, err := conn.Exec(ctx, migrationLock); err != nil {
		return 0, fmt.Errorf("migrate: take the migration lock: %w", translate(err))
	}
	if waited := time.Since(waitStart); waited > time.Second {
		s.log.Info("waited for another process's migrations", slog.Duration("waited", waited))
	}
	applied, err := s.migrateStore(ctx, conn, migs)
	if err != nil {
		return applied, err
	}
	if err := s.migrateRiver(ctx); err != nil {
		return applied, err
	}
	return applied, nil
}

// migrateStore applies the store's pending migrations on conn, which holds the lock.
func (s *Store) migrateStore(ctx context.Context, conn *pgx.Conn, migs []store.Migration) (int, error) {
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL)`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", translate(err))
	}
	applied := 0
	for _, m := range migs {
		ran := false
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var done bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
				m.Version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			// No arguments: pgx sends it over the simple protocol, which allows the
			// several statements a migration file holds.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.Version, m.Name, store.Now()); err != nil {
				return err
			}
			ran = true
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.Name, translate(err))
		}
		if ran {
			applied++
			s.log.Info("migration applied", slog.String("dialect", "postgres"), slog.String("name", m.Name))
		}
	}
	return applied, nil
}

// migrateRiver applies the job queue's (River's) pending migrations. River runs each
// in its own transaction on the pool; the caller holds migrationLock, so no other
// process of ours runs them at the same time.
func (s *Store) migrateRiver(ctx context.Context) error {
	m, err := rivermigrate.New(riverpgxv5.New(s.pool), &rivermigrate.Config{Logger: s.log})
	if err != nil {
		return fmt.Errorf("migrate job queue: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("migrate job queue: %w", translate(err))
	}
	if n := len(res.Versions); n > 0 {
		s.log.Info("job queue migrations applied", slog.String("dialect", "postgres"), slog.Int("count", n))
	}
	return nil
}
