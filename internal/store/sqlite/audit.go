package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

const auditCols = "id, created_at, actor_id, action, target_type, target_id, outcome, ip, user_agent, request_id, metadata"

// AppendAudit implements store.Audit. It writes through the caller's transaction when
// ctx carries one (the single writer connection could not serve a second).
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if err := store.PrepareAudit(e); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	_, err := s.w(ctx).ExecContext(ctx, "INSERT INTO audit_log ("+auditCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		e.ID.String(), fmtTime(e.CreatedAt), nullableUUID(e.ActorID), e.Action, e.TargetType, e.TargetID, e.Outcome,
		e.IP, e.UserAgent, e.RequestID, string(e.Metadata))
	if err != nil {
		return fmt.Errorf("append audit entry %s: %w", e.Action, translate(err))
	}
	return nil
}

// ListAudit implements store.Audit. Every filter is a SQL condition; the page is read
// newest first along an index (actor_id, id) or the primary key.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var where []string
	var args []any
	if f.ActorID != uuid.Nil {
		where, args = append(where, "actor_id = ?"), append(args, f.ActorID.String())
	}
	if len(f.Actions) > 0 {
		where = append(where, "action IN (?"+strings.Repeat(", ?", len(f.Actions)-1)+")")
		for _, a := range f.Actions {
			args = append(args, a)
		}
	}
	if len(f.ExcludeActions) > 0 {
		where = append(where, "action NOT IN (?"+strings.Repeat(", ?", len(f.ExcludeActions)-1)+")")
		for _, a := range f.ExcludeActions {
			args = append(args, a)
		}
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, fmtTime(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, fmtTime(f.Until))
	}
	if f.Before != uuid.Nil {
		where, args = append(where, "id < ?"), append(args, f.Before.String())
	}
	q := "SELECT " + auditCols + " FROM audit_log"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, store.Page{Limit: f.Limit}.Normalize().Limit)
	rows, err := s.r(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", translate(err))
	}
	defer rows.Close()
	out := []store.AuditEntry{}
	for rows.Next() {
		var e store.AuditEntry
		var created, metadata string
		var actor sql.NullString
		if err := rows.Scan(&e.ID, &created, &actor, &e.Action, &e.TargetType, &e.TargetID, &e.Outcome,
			&e.IP, &e.UserAgent, &e.RequestID, &metadata); err != nil {
			return nil, fmt.Errorf("list audit entries: %w", translate(err))
		}
		if e.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if e.ActorID, err = parseNullUUID(actor); err != nil {
			return nil, err
		}
		e.Metadata = []byte(metadata)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit entries: %w", translate(err))
	}
	return out, nil
}

// ownerQueries read a resource's owner by id, whoever it belongs to.
var ownerQueries = map[string]string{
	store.ResourceProject:   "SELECT user_id FROM projects WHERE id = ?",
	store.ResourceTask:      "SELECT user_id FROM tasks WHERE id = ?",
	store.ResourceAgent:     "SELECT user_id FROM agents WHERE id = ?",
	store.ResourceExecution: "SELECT user_id FROM executions WHERE id = ?",
	store.ResourceJob:       "SELECT user_id FROM job_refs WHERE job_id = ?",
}

// ResourceOwner implements store.Audit. SQLite has no row-level security to step
// around: this is a plain lookup by id.
func (s *Store) ResourceOwner(ctx context.Context, kind, id string) (uuid.UUID, bool, error) {
	q, ok := ownerQueries[kind]
	if !ok {
		return uuid.Nil, false, fmt.Errorf("resource owner: unknown kind %q", kind)
	}
	var arg any
	if kind == store.ResourceJob {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return uuid.Nil, false, nil
		}
		arg = n
	} else {
		u, err := uuid.Parse(id)
		if err != nil {
			return uuid.Nil, false, nil
		}
		arg = u.String()
	}
	var owner uuid.UUID
	err := s.r(ctx).QueryRowContext(ctx, q, arg).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("owner of %s %s: %w", kind, id, translate(err))
	}
	return owner, true, nil
}
