package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vibecoder/vibecoder/internal/store"
)

// SQLSTATE codes the store translates.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeNotNullViolation    = "23502"
)

// translate turns pgx errors into the store's errors at the boundary, so callers never
// see a driver type: no row is ErrNotFound, a duplicate is ErrConflict, and a missing
// parent (which is also what another tenant's parent looks like, thanks to the
// composite foreign keys) is ErrNotFound. Other server errors become plain errors that
// keep the SQLSTATE and message; network and context errors pass through unchanged so
// errors.Is(err, context.Canceled) keeps working.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case codeUniqueViolation:
		return fmt.Errorf("%w: %s", store.ErrConflict, pe.ConstraintName)
	case codeForeignKeyViolation:
		return fmt.Errorf("%w: parent row (%s)", store.ErrNotFound, pe.ConstraintName)
	case codeCheckViolation:
		return fmt.Errorf("invalid %s: value violates check constraint %s", pe.TableName, pe.ConstraintName)
	case codeNotNullViolation:
		return fmt.Errorf("invalid %s: %s must not be null", pe.TableName, pe.ColumnName)
	}
	return fmt.Errorf("postgres error %s: %s", pe.Code, pe.Message)
}
