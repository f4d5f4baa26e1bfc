package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

func nullableUUID(id *uuid.UUID) any {
	if id == nil || *id == uuid.Nil {
		return nil
	}
	return id.String()
}

func parseNullUUID(s sql.NullString) (*uuid.UUID, error) {
	if !s.Valid {
		return nil, nil
	}
	id, err := uuid.Parse(s.String)
	if err != nil {
		return nil, fmt.Errorf("stored uuid %q: %w", s.String, err)
	}
	return &id, nil
}

// CreateJobRef implements store.Jobs.
func (s *Store) CreateJobRef(ctx context.Context, ref *store.JobRef) error {
	ref.Prepare()
	_, err := s.w(ctx).ExecContext(ctx, `INSERT INTO job_refs (job_id, user_id, project_id, execution_id, kind, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, ref.JobID, ref.UserID.String(), ref.ProjectID.String(), nullableUUID(ref.ExecutionID), ref.Kind, fmtTime(ref.CreatedAt))
	if err != nil {
		return fmt.Errorf("create job ref %d: %w", ref.JobID, translate(err))
	}
	return nil
}

const jobRefCols = "job_id, user_id, project_id, execution_id, kind, created_at"

func scanJobRef(r scanner) (*store.JobRef, error) {
	var j store.JobRef
	var exec sql.NullString
	var created string
	if err := r.Scan(&j.JobID, &j.UserID, &j.ProjectID, &exec, &j.Kind, &created); err != nil {
		return nil, translate(err)
	}
	var err error
	if j.ExecutionID, err = parseNullUUID(exec); err != nil {
		return nil, err
	}
	if j.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return &j, nil
}

// GetJobRef implements store.Jobs.
func (s *Store) GetJobRef(ctx context.Context, userID uuid.UUID, jobID int64) (*store.JobRef, error) {
	j, err := scanJobRef(s.r(ctx).QueryRowContext(ctx, "SELECT "+jobRefCols+" FROM job_refs WHERE job_id = ? AND user_id = ?", jobID, userID.String()))
	if err != nil {
		return nil, fmt.Errorf("get job %d: %w", jobID, err)
	}
	return j, nil
}

// ListJobRefs implements store.Jobs.
func (s *Store) ListJobRefs(ctx context.Context, userID, projectID uuid.UUID, beforeJobID int64, limit int) ([]store.JobRef, error) {
	if beforeJobID <= 0 {
		beforeJobID = 1<<63 - 1
	}
	limit = store.Page{Limit: limit}.Normalize().Limit
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+jobRefCols+` FROM job_refs WHERE user_id = ? AND project_id = ? AND job_id < ?
		ORDER BY job_id DESC LIMIT ?`, userID.String(), projectID.String(), beforeJobID, limit)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return collect(rows, scanJobRef)
}

// AppendEvent implements store.Jobs.
func (s *Store) AppendEvent(ctx context.Context, ev *store.Event) error {
	ev.Prepare()
	err := s.w(ctx).QueryRowContext(ctx, `INSERT INTO events (user_id, project_id, execution_id, type, data, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, ev.UserID.String(), ev.ProjectID.String(), nullableUUID(ev.ExecutionID),
		ev.Type, string(ev.Data), fmtTime(ev.CreatedAt)).Scan(&ev.ID)
	if err != nil {
		return fmt.Errorf("append event: %w", translate(err))
	}
	return nil
}

// ListEvents implements store.Jobs.
func (s *Store) ListEvents(ctx context.Context, userID uuid.UUID, f store.EventFilter) ([]store.Event, error) {
	limit := store.Page{Limit: f.Limit}.Normalize().Limit
	q := `SELECT id, user_id, project_id, execution_id, type, data, created_at FROM events
		WHERE user_id = ? AND project_id = ? AND id > ? AND `
	args := []any{userID.String(), f.ProjectID.String(), f.AfterID}
	if f.ExecutionID != uuid.Nil {
		q += "execution_id = ?"
		args = append(args, f.ExecutionID.String())
	} else {
		q += "execution_id IS NULL"
	}
	rows, err := s.r(ctx).QueryContext(ctx, q+" ORDER BY id LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return collect(rows, func(r scanner) (*store.Event, error) {
		var e store.Event
		var exec sql.NullString
		var data, created string
		if err := r.Scan(&e.ID, &e.UserID, &e.ProjectID, &exec, &e.Type, &data, &created); err != nil {
			return nil, err
		}
		var err error
		if e.ExecutionID, err = parseNullUUID(exec); err != nil {
			return nil, err
		}
		if e.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		e.Data = json.RawMessage(data)
		return &e, nil
	})
}
