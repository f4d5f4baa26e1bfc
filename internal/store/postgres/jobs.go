package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
)

// CreateJobRef implements store.Jobs.
func (s *Store) CreateJobRef(ctx context.Context, ref *store.JobRef) error {
	ref.Prepare()
	err := s.tenantTx(ctx, ref.UserID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO job_refs (job_id, user_id, project_id, execution_id, kind, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, ref.JobID, ref.UserID, ref.ProjectID, ref.ExecutionID, ref.Kind, ref.CreatedAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("create job ref %d: %w", ref.JobID, translate(err))
	}
	return nil
}

const jobRefCols = "job_id, user_id, project_id, execution_id, kind, created_at"

func scanJobRef(r pgx.Row) (*store.JobRef, error) {
	var j store.JobRef
	if err := r.Scan(&j.JobID, &j.UserID, &j.ProjectID, &j.ExecutionID, &j.Kind, &j.CreatedAt); err != nil {
		return nil, translate(err)
	}
	return &j, nil
}

// GetJobRef implements store.Jobs.
func (s *Store) GetJobRef(ctx context.Context, userID uuid.UUID, jobID int64) (*store.JobRef, error) {
	var j *store.JobRef
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		var err error
		j, err = scanJobRef(tx.QueryRow(ctx, "SELECT "+jobRefCols+" FROM job_refs WHERE job_id = $1 AND user_id = $2", jobID, userID))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get job %d: %w", jobID, translate(err))
	}
	return j, nil
}

// ListJobRefs implements store.Jobs.
func (s *Store) ListJobRefs(ctx context.Context, userID, projectID uuid.UUID, beforeJobID int64, limit int) ([]store.JobRef, error) {
	if beforeJobID <= 0 {
		beforeJobID = 1<<63 - 1
	}
	limit = store.Page{Limit: limit}.Normalize().Limit
	var out []store.JobRef
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+jobRefCols+` FROM job_refs WHERE user_id = $1 AND project_id = $2 AND job_id < $3
			ORDER BY job_id DESC LIMIT $4`, userID, projectID, beforeJobID, limit)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanJobRef)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", translate(err))
	}
	return out, nil
}

// AppendEvent implements store.Jobs. A trigger notifies listeners on channel vibecoder_events.
func (s *Store) AppendEvent(ctx context.Context, ev *store.Event) error {
	ev.Prepare()
	err := s.tenantTx(ctx, ev.UserID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO events (user_id, project_id, execution_id, type, data, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, ev.UserID, ev.ProjectID, ev.ExecutionID, ev.Type, ev.Data, ev.CreatedAt).Scan(&ev.ID)
	})
	if err != nil {
		return fmt.Errorf("append event: %w", translate(err))
	}
	return nil
}

// ListEvents implements store.Jobs.
func (s *Store) ListEvents(ctx context.Context, userID uuid.UUID, f store.EventFilter) ([]store.Event, error) {
	limit := store.Page{Limit: f.Limit}.Normalize().Limit
	q := `SELECT id, user_id, project_id, execution_id, type, data, created_at FROM events
		WHERE user_id = $1 AND project_id = $2 AND id > $3 AND `
	args := []any{userID, f.ProjectID, f.AfterID, limit}
	if f.ExecutionID != uuid.Nil {
		q += "execution_id = $5"
		args = append(args, f.ExecutionID)
	} else {
		q += "execution_id IS NULL"
	}
	q += " ORDER BY id LIMIT $4"
	var out []store.Event
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r pgx.Row) (*store.Event, error) {
			var e store.Event
			var data []byte
			if err := r.Scan(&e.ID, &e.UserID, &e.ProjectID, &e.ExecutionID, &e.Type, &data, &e.CreatedAt); err != nil {
				return nil, err
			}
			e.Data = data
			return &e, nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", translate(err))
	}
	return out, nil
}
