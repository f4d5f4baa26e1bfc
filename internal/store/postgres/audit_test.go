package postgres_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/postgres"
)

// asAdmin runs fn in a transaction with the admin flag set, as ListAudit of everyone
// does (but not read-only, so that writes can be shown to be refused).
func asAdmin(t *testing.T, s *postgres.Store, fn func(pgx.Tx) error) error {
	t.Helper()
	return pgx.BeginFunc(t.Context(), s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(t.Context(), "SELECT set_config('app.admin', 'on', true)"); err != nil {
			return err
		}
		return fn(tx)
	})
}

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Row-level security on audit_log: nothing without a tenant, a tenant's own rows with
// one, every row with the admin flag; writes only of one's own or anonymous rows; no
// update or delete for anyone.
func TestAuditRLS(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	a := seedTenant(t, s, "a@example.com")
	b := seedTenant(t, s, "b@example.com")
	A, B := a.user.ID, b.user.ID
	for _, e := range []*store.AuditEntry{
		{ActorID: &A, Action: "project.create"},
		{ActorID: &A, Action: "apikey.create"},
		{ActorID: &B, Action: "project.create"},
		{Action: "user.login", Outcome: store.OutcomeFailure},
	} {
		must(t, s.AppendAudit(ctx, e))
	}
	count := func(tx pgx.Tx) int {
		t.Helper()
		var n int
		must(t, tx.QueryRow(ctx, "SELECT count(*) FROM audit_log").Scan(&n))
		return n
	}

	must(t, pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if n := count(tx); n != 0 {
			t.Errorf("without app.user_id %d audit rows are visible, want 0", n)
		}
		return nil
	}))
	must(t, asTenant(ctx, s, A, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT actor_id FROM audit_log")
		if err != nil {
			return err
		}
		actors, err := pgx.CollectRows(rows, pgx.RowTo[*uuid.UUID])
		if err != nil {
			return err
		}
		if len(actors) != 2 {
			t.Errorf("tenant A sees %d audit rows, want its 2", len(actors))
		}
		for _, id := range actors {
			if id == nil || *id != A {
				t.Errorf("tenant A sees a row of actor %v", id)
			}
		}
		return nil
	}))
	must(t, asAdmin(t, s, func(tx pgx.Tx) error {
		if n := count(tx); n != 4 {
			t.Errorf("with the admin flag %d audit rows are visible, want all 4", n)
		}
		return nil
	}))

	insert := "INSERT INTO audit_log (id, created_at, actor_id, action) VALUES ($1, now(), $2, 'forged')"
	err := asTenant(ctx, s, A, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, insert, store.NewID(), B)
		return err
	})
	if sqlState(err) != "42501" {
		t.Errorf("tenant A writing a row as B: got %v, want a row-level security violation", err)
	}
	err = pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, insert, store.NewID(), A)
		return err
	})
	if sqlState(err) != "42501" {
		t.Errorf("writing an actor's row without app.user_id: got %v, want a row-level security violation", err)
	}
	err = asAdmin(t, s, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, insert, store.NewID(), A)
		return err
	})
	if sqlState(err) != "42501" {
		t.Errorf("writing an actor's row with the admin flag: got %v, want a row-level security violation", err)
	}
	must(t, asTenant(ctx, s, A, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, insert, store.NewID(), nil) // anonymous rows are anyone's to write
		return err
	}))

	// Own rows reach the append-only trigger, which refuses; with the admin flag the
	// rows are not even writable (admin_read is SELECT only), so nothing changes.
	for _, q := range []string{"UPDATE audit_log SET action = 'rewritten'", "DELETE FROM audit_log", "TRUNCATE audit_log"} {
		err := asTenant(ctx, s, A, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, q)
			return err
		})
		if sqlState(err) != "23001" {
			t.Errorf("tenant A: %s: got %v, want the append-only trigger's restrict_violation", q, err)
		}
	}
	for _, q := range []string{"UPDATE audit_log SET action = 'rewritten'", "DELETE FROM audit_log"} {
		must(t, asAdmin(t, s, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, q)
			if err == nil && tag.RowsAffected() != 0 {
				t.Errorf("admin flag: %s affected %d rows", q, tag.RowsAffected())
			}
			return err
		}))
	}
	all, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, err)
	if len(all) != 5 {
		t.Fatalf("after refused changes ListAudit(all) has %d rows, want 5", len(all))
	}
	for _, e := range all {
		if e.Action == "rewritten" {
			t.Errorf("an entry was rewritten: %+v", e)
		}
	}
}

// The owner probe opens exactly one row, to SELECT only, and only inside
// vibecoder_resource_owner.
func TestResourceOwnerProbe(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	a := seedTenant(t, s, "a@example.com")
	b := seedTenant(t, s, "b@example.com")

	owner, found, err := s.ResourceOwner(ctx, store.ResourceProject, b.project.ID.String())
	if err != nil || !found || owner != b.user.ID {
		t.Fatalf("ResourceOwner(B's project) = %s, %v, %v", owner, found, err)
	}
	// Called in tenant A's transaction, the function answers and then leaves nothing
	// of B's visible in that transaction.
	must(t, asTenant(ctx, s, a.user.ID, func(tx pgx.Tx) error {
		var got uuid.UUID
		if err := tx.QueryRow(ctx, "SELECT vibecoder_resource_owner('task', $1)", b.task.ID.String()).Scan(&got); err != nil {
			return err
		}
		if got != b.user.ID {
			t.Errorf("probe of B's task = %s, want %s", got, b.user.ID)
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM tasks WHERE user_id = $1", b.user.ID).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("after the probe tenant A sees %d of B's tasks", n)
		}
		return nil
	}))
	// The probe setting grants reads of that one row, never writes.
	must(t, asTenant(ctx, s, a.user.ID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('app.probe_id', $1, true)", b.project.ID.String()); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM projects WHERE user_id = $1", b.user.ID).Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			t.Errorf("with the probe set, %d of B's projects are readable; want the 1 probed", n)
		}
		for _, q := range []string{"UPDATE projects SET name = 'pwned' WHERE id = $1", "DELETE FROM projects WHERE id = $1"} {
			tag, err := tx.Exec(ctx, q, b.project.ID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 0 {
				t.Errorf("with the probe set, %s affected %d of B's rows", q, tag.RowsAffected())
			}
		}
		return nil
	}))
	got, err := s.GetProject(ctx, b.user.ID, b.project.ID)
	must(t, err)
	if got.Name != b.project.Name {
		t.Errorf("B's project was changed through the probe: %+v", got)
	}
	if _, _, err := s.ResourceOwner(ctx, "apikey", uuid.NewString()); err == nil {
		t.Error("ResourceOwner of an unknown kind succeeded")
	}
}
