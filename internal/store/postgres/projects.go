package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
)

const projectCols = "id, user_id, name, description, repo_url, default_branch, test_command, index_status, indexed_at, created_at, updated_at"

func scanProject(r pgx.Row) (*store.Project, error) {
	var p store.Project
	if err := r.Scan(&p.ID, &p.UserID, &p.Name, &p.Description, &p.RepoURL, &p.DefaultBranch, &p.TestCommand,
		&p.IndexStatus, &p.IndexedAt, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, translate(err)
	}
	return &p, nil
}

// CreateProject implements store.Projects. An empty IndexStatus becomes IndexNever.
func (s *Store) CreateProject(ctx context.Context, p *store.Project) error {
	p.Prepare()
	err := s.tenantTx(ctx, p.UserID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO projects ("+projectCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
			p.ID, p.UserID, p.Name, p.Description, p.RepoURL, p.DefaultBranch, p.TestCommand,
			p.IndexStatus, p.IndexedAt, p.CreatedAt, p.UpdatedAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("create project: %w", translate(err))
	}
	return nil
}

// GetProject implements store.Projects.
func (s *Store) GetProject(ctx context.Context, userID, id uuid.UUID) (*store.Project, error) {
	var p *store.Project
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		var err error
		p, err = scanProject(tx.QueryRow(ctx, "SELECT "+projectCols+" FROM projects WHERE id = $1 AND user_id = $2", id, userID))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get project %s: %w", id, translate(err))
	}
	return p, nil
}

// ListProjects implements store.Projects.
func (s *Store) ListProjects(ctx context.Context, userID uuid.UUID, page store.Page) ([]store.Project, error) {
	after, limit := pageCursor(page)
	var out []store.Project
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+projectCols+" FROM projects WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
			userID, after, limit)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanProject)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", translate(err))
	}
	return out, nil
}

// UpdateProject implements store.Projects: it writes every mutable field of p (not
// its owner or creation time) and sets UpdatedAt, and CreatedAt from the stored row.
func (s *Store) UpdateProject(ctx context.Context, p *store.Project) error {
	now := store.Now()
	err := s.tenantTx(ctx, p.UserID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `UPDATE projects SET name = $3, description = $4, repo_url = $5, default_branch = $6,
			test_command = $7, index_status = $8, indexed_at = $9, updated_at = $10
			WHERE id = $1 AND user_id = $2 RETURNING created_at`,
			p.ID, p.UserID, p.Name, p.Description, p.RepoURL, p.DefaultBranch, p.TestCommand,
			p.IndexStatus, p.IndexedAt, now).Scan(&p.CreatedAt)
	})
	if err != nil {
		return fmt.Errorf("update project %s: %w", p.ID, translate(err))
	}
	p.UpdatedAt = now
	return nil
}

// DeleteProject implements store.Projects. The foreign keys cascade to the project's
// tasks, executions, commits, reviews and code chunks; usage rows keep their cost and
// lose the reference.
func (s *Store) DeleteProject(ctx context.Context, userID, id uuid.UUID) error {
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM projects WHERE id = $1 AND user_id = $2", id, userID)
		return affected(tag.RowsAffected(), err)
	})
	if err != nil {
		return fmt.Errorf("delete project %s: %w", id, translate(err))
	}
	return nil
}
