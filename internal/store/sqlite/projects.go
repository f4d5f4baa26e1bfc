package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

const projectCols = "id, user_id, name, description, repo_url, default_branch, test_command, index_status, indexed_at, created_at, updated_at"

func scanProject(r scanner) (*store.Project, error) {
	var p store.Project
	var indexed sql.NullString
	var created, updated string
	if err := r.Scan(&p.ID, &p.UserID, &p.Name, &p.Description, &p.RepoURL, &p.DefaultBranch, &p.TestCommand,
		&p.IndexStatus, &indexed, &created, &updated); err != nil {
		return nil, translate(err)
	}
	var err error
	if p.IndexedAt, err = parseTimePtr(indexed); err != nil {
		return nil, err
	}
	if p.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if p.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return &p, nil
}

// CreateProject implements store.Projects.
func (s *Store) CreateProject(ctx context.Context, p *store.Project) error {
	p.Prepare()
	_, err := s.w(ctx).ExecContext(ctx, "INSERT INTO projects ("+projectCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		p.ID.String(), p.UserID.String(), p.Name, p.Description, p.RepoURL, p.DefaultBranch, p.TestCommand,
		p.IndexStatus, fmtTimePtr(p.IndexedAt), fmtTime(p.CreatedAt), fmtTime(p.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create project: %w", translate(err))
	}
	return nil
}

// GetProject implements store.Projects.
func (s *Store) GetProject(ctx context.Context, userID, id uuid.UUID) (*store.Project, error) {
	p, err := scanProject(s.r(ctx).QueryRowContext(ctx, "SELECT "+projectCols+" FROM projects WHERE id = ? AND user_id = ?",
		id.String(), userID.String()))
	if err != nil {
		return nil, fmt.Errorf("get project %s: %w", id, err)
	}
	return p, nil
}

// ListProjects implements store.Projects.
func (s *Store) ListProjects(ctx context.Context, userID uuid.UUID, page store.Page) ([]store.Project, error) {
	clause, args := pageClause(page)
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+projectCols+" FROM projects WHERE user_id = ?"+clause,
		append([]any{userID.String()}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return collect(rows, scanProject)
}

// UpdateProject implements store.Projects.
func (s *Store) UpdateProject(ctx context.Context, p *store.Project) error {
	p.UpdatedAt = store.Now()
	err := mustAffect(s.w(ctx).ExecContext(ctx, `UPDATE projects SET name = ?, description = ?, repo_url = ?,
		default_branch = ?, test_command = ?, index_status = ?, indexed_at = ?, updated_at = ?
		WHERE id = ? AND user_id = ?`,
		p.Name, p.Description, p.RepoURL, p.DefaultBranch, p.TestCommand, p.IndexStatus, fmtTimePtr(p.IndexedAt),
		fmtTime(p.UpdatedAt), p.ID.String(), p.UserID.String()))
	if err != nil {
		return fmt.Errorf("update project %s: %w", p.ID, err)
	}
	return nil
}

// DeleteProject implements store.Projects.
func (s *Store) DeleteProject(ctx context.Context, userID, id uuid.UUID) error {
	err := mustAffect(s.w(ctx).ExecContext(ctx, "DELETE FROM projects WHERE id = ? AND user_id = ?", id.String(), userID.String()))
	if err != nil {
		return fmt.Errorf("delete project %s: %w", id, err)
	}
	return nil
}
