package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
)

const auditCols = "id, created_at, actor_id, action, target_type, target_id, outcome, ip, user_agent, request_id, metadata"

// insertAudit has no RETURNING: that would need the row to pass the SELECT policy too,
// which an anonymous row written without app.user_id does not.
const insertAudit = "INSERT INTO audit_log (" + auditCols + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"

// AppendAudit implements store.Audit. An actor's entry is written as that tenant, so
// the policy's WITH CHECK holds it to its own actor_id; an anonymous entry needs no
// tenant (the policy admits actor_id NULL to anyone) and joins the caller's
// transaction when ctx carries one.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if err := store.PrepareAudit(e); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	args := []any{e.ID, e.CreatedAt, e.ActorID, e.Action, e.TargetType, e.TargetID, e.Outcome,
		e.IP, e.UserAgent, e.RequestID, e.Metadata}
	var err error
	switch cur, bound := ctx.Value(txKey{}).(boundTx); {
	case e.ActorID != nil:
		err = s.tenantTx(ctx, *e.ActorID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, insertAudit, args...)
			return err
		})
	case bound:
		_, err = cur.tx.Exec(ctx, insertAudit, args...)
	default:
		_, err = s.pool.Exec(ctx, insertAudit, args...)
	}
	if err != nil {
		return fmt.Errorf("append audit entry %s: %w", e.Action, translate(err))
	}
	return nil
}

// ListAudit implements store.Audit. One actor's entries are read as that tenant;
// everyone's through adminTx, whose admin_read policy is the only path on which
// audit_log spans actors.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.ActorID != uuid.Nil {
		where = append(where, "actor_id = "+arg(f.ActorID))
	}
	if len(f.Actions) > 0 {
		where = append(where, "action = ANY("+arg(f.Actions)+"::text[])")
	}
	if len(f.ExcludeActions) > 0 {
		where = append(where, "action <> ALL("+arg(f.ExcludeActions)+"::text[])")
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < "+arg(f.Until))
	}
	if f.Before != uuid.Nil {
		where = append(where, "id < "+arg(f.Before))
	}
	q := "SELECT " + auditCols + " FROM audit_log"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT " + arg(store.Page{Limit: f.Limit}.Normalize().Limit)
	var out []store.AuditEntry
	read := func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r pgx.Row) (*store.AuditEntry, error) {
			var e store.AuditEntry
			var metadata []byte
			if err := r.Scan(&e.ID, &e.CreatedAt, &e.ActorID, &e.Action, &e.TargetType, &e.TargetID, &e.Outcome,
				&e.IP, &e.UserAgent, &e.RequestID, &metadata); err != nil {
				return nil, translate(err)
			}
			e.Metadata = metadata
			return &e, nil
		})
		return err
	}
	var err error
	if f.ActorID == uuid.Nil {
		err = s.adminTx(ctx, read)
	} else {
		err = s.tenantTx(ctx, f.ActorID, read)
	}
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", translate(err))
	}
	return out, nil
}

// ResourceOwner implements store.Audit through vibecoder_resource_owner (migration
// 0006), which opens exactly the one row asked about to its one SELECT, in a read-only
// transaction without app.user_id: nothing else becomes visible, and nothing can be
// written.
func (s *Store) ResourceOwner(ctx context.Context, kind, id string) (uuid.UUID, bool, error) {
	switch kind {
	case store.ResourceJob:
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return uuid.Nil, false, nil
		}
		id = strconv.FormatInt(n, 10)
	case store.ResourceProject, store.ResourceTask, store.ResourceAgent, store.ResourceExecution:
		u, err := uuid.Parse(id)
		if err != nil {
			return uuid.Nil, false, nil
		}
		id = u.String()
	default:
		return uuid.Nil, false, fmt.Errorf("resource owner: unknown kind %q", kind)
	}
	var owner *uuid.UUID
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT vibecoder_resource_owner($1, $2)", kind, id).Scan(&owner)
	})
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("owner of %s %s: %w", kind, id, translate(err))
	}
	if owner == nil {
		return uuid.Nil, false, nil
	}
	return *owner, true, nil
}
