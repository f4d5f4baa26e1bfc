package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
)

// KeywordSearchSQL is the keyword search's query, for the test that explains its plan.
const KeywordSearchSQL = keywordSearchSQL

// MigrateThrough applies the store's own migrations up to version last (not River's),
// for tests that upgrade a database holding data written in an older format.
func (s *Store) MigrateThrough(ctx context.Context, last int) error {
	migs, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = s.migrateStore(ctx, conn, migs[:last])
	return err
}

// TSVectorText is tsvectorText, for the test that compares it with the server's parser.
var TSVectorText = tsvectorText
