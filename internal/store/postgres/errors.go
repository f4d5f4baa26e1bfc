package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

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
// composite foreign keys) is ErrNotFound, and a database that cannot be reached is
// ErrUnavailable (see unavailable). Other server errors become plain errors that
// keep the SQLSTATE and message; other errors pass through unchanged. Wrapping keeps
// the driver's error in the chain, so errors.Is(err, context.Canceled) keeps working.
// Translating an error twice is harmless.
func translate(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
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

// unavailable reports whether err says the database could not be reached or would not
// take work — a failure of the dependency, not of the statement: a failed connect
// (refused, reset, timed out, DNS), a connection lost mid-statement, a server shutting
// down or starting up (SQLSTATE 57P01-57P03), the connection-exception class (08) and
// too many connections (53300), or a deadline that ran out waiting for any of it.
// A cancelled context is the caller leaving, not an outage, and is not unavailable.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", pe.Code == "53300":
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || // context.DeadlineExceeded is a net.Error too
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
