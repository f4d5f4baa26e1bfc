package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string // the file name, e.g. 0001_init.sql
	sql     string
}

// loadMigrations reads the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: name must start with a positive number and an underscore", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(migrationFS, "migrations/"+name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrationLock serialises migrators of one schema across processes. The lock is
// transaction-scoped, so it is released by commit or rollback even if the process dies,
// and it is keyed on the current schema so that tests migrating their own schemas in
// parallel do not queue behind each other.
const migrationLock = "SELECT pg_advisory_xact_lock(hashtextextended('vibecoder.migrate.' || coalesce(current_schema(), ''), 0))"

// Migrate implements store.Store. Each pending migration runs in its own transaction
// holding migrationLock, and the applied check happens under the lock, so any number
// of processes may call Migrate at once and each migration is applied exactly once.
// Everything is created unqualified, in the first schema of the search_path.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	migs, err := loadMigrations()
	if err != nil {
		return 0, fmt.Errorf("load migrations: %w", err)
	}
	applied := 0
	for _, m := range migs {
		ran := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrationLock); err != nil {
				return err
			}
			// Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can
			// otherwise collide on the catalog's unique indexes.
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    integer PRIMARY KEY,
				name       text NOT NULL,
				applied_at timestamptz NOT NULL)`); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
			var done bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
				m.version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			// No arguments: pgx sends it over the simple protocol, which allows the
			// several statements a migration file holds.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.version, m.name, store.Now()); err != nil {
				return err
			}
			ran = true
			return nil
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", m.name, translate(err))
		}
		if ran {
			applied++
			s.log.Info("migration applied", slog.String("dialect", "postgres"), slog.String("name", m.name))
		}
	}
	return applied, nil
}
