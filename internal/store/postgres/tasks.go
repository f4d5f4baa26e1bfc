package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
)

const taskCols = "id, user_id, project_id, title, description, status, created_at, updated_at"

func scanTask(r pgx.Row) (*store.Task, error) {
	var t store.Task
	if err := r.Scan(&t.ID, &t.UserID, &t.ProjectID, &t.Title, &t.Description, &t.Status, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return nil, translate(err)
	}
	return &t, nil
}

// CreateTask implements store.Tasks. An empty Status becomes TaskOpen. The composite
// foreign key on (project_id, user_id) turns another user's project into ErrNotFound.
func (s *Store) CreateTask(ctx context.Context, t *store.Task) error {
	t.Prepare()
	err := s.tenantTx(ctx, t.UserID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO tasks ("+taskCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			t.ID, t.UserID, t.ProjectID, t.Title, t.Description, t.Status, t.CreatedAt, t.UpdatedAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("create task in project %s: %w", t.ProjectID, translate(err))
	}
	return nil
}

// GetTask implements store.Tasks.
func (s *Store) GetTask(ctx context.Context, userID, id uuid.UUID) (*store.Task, error) {
	var t *store.Task
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		var err error
		t, err = scanTask(tx.QueryRow(ctx, "SELECT "+taskCols+" FROM tasks WHERE id = $1 AND user_id = $2", id, userID))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, translate(err))
	}
	return t, nil
}

// ListTasks implements store.Tasks. Another user's project simply has no tasks.
func (s *Store) ListTasks(ctx context.Context, userID, projectID uuid.UUID, page store.Page) ([]store.Task, error) {
	after, limit := pageCursor(page)
	var out []store.Task
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+taskCols+` FROM tasks
			WHERE user_id = $1 AND project_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
			userID, projectID, after, limit)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanTask)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tasks of project %s: %w", projectID, translate(err))
	}
	return out, nil
}

// UpdateTask implements store.Tasks: it writes title, description and status (a task
// never moves between projects) and sets UpdatedAt, and ProjectID and CreatedAt from
// the stored row.
func (s *Store) UpdateTask(ctx context.Context, t *store.Task) error {
	store.Sanitize(t)
	now := store.Now()
	err := s.tenantTx(ctx, t.UserID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `UPDATE tasks SET title = $3, description = $4, status = $5, updated_at = $6
			WHERE id = $1 AND user_id = $2 RETURNING project_id, created_at`,
			t.ID, t.UserID, t.Title, t.Description, t.Status, now).Scan(&t.ProjectID, &t.CreatedAt)
	})
	if err != nil {
		return fmt.Errorf("update task %s: %w", t.ID, translate(err))
	}
	t.UpdatedAt = now
	return nil
}

// DeleteTask implements store.Tasks; the task's executions go with it.
func (s *Store) DeleteTask(ctx context.Context, userID, id uuid.UUID) error {
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM tasks WHERE id = $1 AND user_id = $2", id, userID)
		return affected(tag.RowsAffected(), err)
	})
	if err != nil {
		return fmt.Errorf("delete task %s: %w", id, translate(err))
	}
	return nil
}
