package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/vibecoder/vibecoder/internal/store"
)

// timeLayout is fixed-width so that text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func fmtTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return fmtTime(*t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

func parseTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func uuidPtrArg(id *uuid.UUID) any {
	if id == nil || *id == uuid.Nil {
		return nil
	}
	return id.String()
}

func jsonArg(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// translate turns SQLite errors into the store's errors at the boundary.
func translate(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		// Another process held the write lock for longer than busy_timeout: the
		// database is there but not taking writes right now.
		if p := se.Code() & 0xff; p == sqlite3.SQLITE_BUSY || p == sqlite3.SQLITE_LOCKED {
			return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
		}
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", store.ErrConflict, se.Error())
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			// The parent does not exist or belongs to another tenant.
			return fmt.Errorf("%w: parent row", store.ErrNotFound)
		}
		if strings.Contains(se.Error(), "UNIQUE constraint failed") {
			return fmt.Errorf("%w: %s", store.ErrConflict, se.Error())
		}
		if strings.Contains(se.Error(), "FOREIGN KEY constraint failed") {
			return fmt.Errorf("%w: parent row", store.ErrNotFound)
		}
	}
	return err
}

// scanner is satisfied by *sql.Row and *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// mustAffect reports ErrNotFound when a write matched no row.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return translate(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// pageArgs returns the SQL fragment and arguments that select one page, newest first.
func pageClause(p store.Page) (string, []any) {
	p = p.Normalize()
	if p.After == uuid.Nil {
		return " ORDER BY id DESC LIMIT ?", []any{p.Limit}
	}
	return " AND id < ? ORDER BY id DESC LIMIT ?", []any{p.After.String(), p.Limit}
}
