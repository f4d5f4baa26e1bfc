package sqlite

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

const taskCols = "id, user_id, project_id, title, description, status, created_at, updated_at"

func scanTask(r scanner) (*store.Task, error) {
	var t store.Task
	var created, updated string
	if err := r.Scan(&t.ID, &t.UserID, &t.ProjectID, &t.Title, &t.Description, &t.Status, &created, &updated); err != nil {
		return nil, translate(err)
	}
	var err error
	if t.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if t.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateTask implements store.Tasks.
func (s *Store) CreateTask(ctx context.Context, t *store.Task) error {
	t.Prepare()
	_, err := s.w(ctx).ExecContext(ctx, "INSERT INTO tasks ("+taskCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		t.ID.String(), t.UserID.String(), t.ProjectID.String(), t.Title, t.Description, t.Status,
		fmtTime(t.CreatedAt), fmtTime(t.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create task: %w", translate(err))
	}
	return nil
}

// GetTask implements store.Tasks.
func (s *Store) GetTask(ctx context.Context, userID, id uuid.UUID) (*store.Task, error) {
	t, err := scanTask(s.r(ctx).QueryRowContext(ctx, "SELECT "+taskCols+" FROM tasks WHERE id = ? AND user_id = ?",
		id.String(), userID.String()))
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// ListTasks implements store.Tasks.
func (s *Store) ListTasks(ctx context.Context, userID, projectID uuid.UUID, page store.Page) ([]store.Task, error) {
	clause, args := pageClause(page)
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+taskCols+" FROM tasks WHERE user_id = ? AND project_id = ?"+clause,
		append([]any{userID.String(), projectID.String()}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return collect(rows, scanTask)
}

// UpdateTask implements store.Tasks.
func (s *Store) UpdateTask(ctx context.Context, t *store.Task) error {
	store.Sanitize(t)
	t.UpdatedAt = store.Now()
	err := mustAffect(s.w(ctx).ExecContext(ctx,
		"UPDATE tasks SET title = ?, description = ?, status = ?, updated_at = ? WHERE id = ? AND user_id = ?",
		t.Title, t.Description, t.Status, fmtTime(t.UpdatedAt), t.ID.String(), t.UserID.String()))
	if err != nil {
		return fmt.Errorf("update task %s: %w", t.ID, err)
	}
	return nil
}

// DeleteTask implements store.Tasks.
func (s *Store) DeleteTask(ctx context.Context, userID, id uuid.UUID) error {
	err := mustAffect(s.w(ctx).ExecContext(ctx, "DELETE FROM tasks WHERE id = ? AND user_id = ?", id.String(), userID.String()))
	if err != nil {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	return nil
}
