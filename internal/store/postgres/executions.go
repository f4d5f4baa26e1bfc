package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
)

const executionCols = `id, user_id, project_id, task_id, status, step, error, tokens_in, tokens_out, cost_usd,
	started_at, finished_at, created_at, updated_at, details`

func scanExecution(r pgx.Row) (*store.Execution, error) {
	var e store.Execution
	if err := r.Scan(&e.ID, &e.UserID, &e.ProjectID, &e.TaskID, &e.Status, &e.Step, &e.Error,
		&e.TokensIn, &e.TokensOut, &e.CostUSD, &e.StartedAt, &e.FinishedAt, &e.CreatedAt, &e.UpdatedAt, &e.Details); err != nil {
		return nil, translate(err)
	}
	return &e, nil
}

// CreateExecution implements store.Executions. The row is inserted from the user's
// task, which supplies ProjectID; when the task is not the user's nothing is inserted
// and the result is ErrNotFound. An empty Status becomes ExecQueued.
func (s *Store) CreateExecution(ctx context.Context, e *store.Execution) error {
	e.Prepare()
	err := s.tenantTx(ctx, e.UserID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "INSERT INTO executions ("+executionCols+`)
			SELECT $1::uuid, t.user_id, t.project_id, t.id, $4::text, $5::text, $6::text, $7::bigint, $8::bigint,
				$9::double precision, $10::timestamptz, $11::timestamptz, $12::timestamptz, $12::timestamptz, $13::jsonb
			FROM tasks t WHERE t.id = $3 AND t.user_id = $2
			RETURNING project_id`,
			e.ID, e.UserID, e.TaskID, e.Status, e.Step, e.Error, e.TokensIn, e.TokensOut, e.CostUSD,
			e.StartedAt, e.FinishedAt, e.CreatedAt, string(e.Details)).Scan(&e.ProjectID)
	})
	if err != nil {
		return fmt.Errorf("create execution of task %s: %w", e.TaskID, translate(err))
	}
	return nil
}

// GetExecution implements store.Executions.
func (s *Store) GetExecution(ctx context.Context, userID, id uuid.UUID) (*store.Execution, error) {
	var e *store.Execution
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		var err error
		e, err = scanExecution(tx.QueryRow(ctx, "SELECT "+executionCols+" FROM executions WHERE id = $1 AND user_id = $2", id, userID))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get execution %s: %w", id, translate(err))
	}
	return e, nil
}

// ListExecutions implements store.Executions.
func (s *Store) ListExecutions(ctx context.Context, userID, taskID uuid.UUID, page store.Page) ([]store.Execution, error) {
	after, limit := pageCursor(page)
	q := "SELECT " + executionCols + " FROM executions WHERE user_id = $1 AND id < $2"
	args := []any{userID, after, limit}
	if taskID != uuid.Nil {
		q += " AND task_id = $4"
		args = append(args, taskID)
	}
	q += " ORDER BY id DESC LIMIT $3"
	var out []store.Execution
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanExecution)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", translate(err))
	}
	return out, nil
}

// UpdateExecution implements store.Executions: it writes the run's progress fields
// (status, step, error, tokens, cost, start and finish times) and sets UpdatedAt, and
// ProjectID, TaskID and CreatedAt from the stored row.
func (s *Store) UpdateExecution(ctx context.Context, e *store.Execution) error {
	store.Sanitize(e)
	now := store.Now()
	if len(e.Details) == 0 {
		e.Details = json.RawMessage(`{}`)
	}
	err := s.tenantTx(ctx, e.UserID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `UPDATE executions SET status = $3, step = $4, error = $5, tokens_in = $6,
			tokens_out = $7, cost_usd = $8, started_at = $9, finished_at = $10, updated_at = $11, details = $12::jsonb
			WHERE id = $1 AND user_id = $2 RETURNING project_id, task_id, created_at`,
			e.ID, e.UserID, e.Status, e.Step, e.Error, e.TokensIn, e.TokensOut, e.CostUSD,
			e.StartedAt, e.FinishedAt, now, string(e.Details)).Scan(&e.ProjectID, &e.TaskID, &e.CreatedAt)
	})
	if err != nil {
		return fmt.Errorf("update execution %s: %w", e.ID, translate(err))
	}
	e.UpdatedAt = now
	return nil
}

const commitCols = "id, user_id, project_id, execution_id, sha, branch, message, files_changed, pr_url, created_at"

func scanCommit(r pgx.Row) (*store.Commit, error) {
	var c store.Commit
	if err := r.Scan(&c.ID, &c.UserID, &c.ProjectID, &c.ExecutionID, &c.SHA, &c.Branch, &c.Message,
		&c.FilesChanged, &c.PRURL, &c.CreatedAt); err != nil {
		return nil, translate(err)
	}
	if c.FilesChanged == nil {
		c.FilesChanged = []string{}
	}
	return &c, nil
}

// CreateCommit implements store.Executions. ProjectID is taken from the execution, which
// must be the user's (ErrNotFound otherwise). Nil FilesChanged is stored as [].
func (s *Store) CreateCommit(ctx context.Context, c *store.Commit) error {
	c.Prepare()
	err := s.tenantTx(ctx, c.UserID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "INSERT INTO commits ("+commitCols+`)
			SELECT $1::uuid, e.user_id, e.project_id, e.id, $4::text, $5::text, $6::text, $7::jsonb, $8::text, $9::timestamptz
			FROM executions e WHERE e.id = $3 AND e.user_id = $2
			RETURNING project_id`,
			c.ID, c.UserID, c.ExecutionID, c.SHA, c.Branch, c.Message, c.FilesChanged, c.PRURL, c.CreatedAt).Scan(&c.ProjectID)
	})
	if err != nil {
		return fmt.Errorf("create commit for execution %s: %w", c.ExecutionID, translate(err))
	}
	return nil
}

// ListCommits implements store.Executions.
func (s *Store) ListCommits(ctx context.Context, userID, executionID uuid.UUID, page store.Page) ([]store.Commit, error) {
	after, limit := pageCursor(page)
	var out []store.Commit
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+commitCols+` FROM commits
			WHERE user_id = $1 AND execution_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
			userID, executionID, after, limit)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanCommit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list commits of execution %s: %w", executionID, translate(err))
	}
	return out, nil
}

const reviewCols = "id, user_id, project_id, execution_id, agent_id, verdict, summary, comments, created_at"

func scanReview(r pgx.Row) (*store.Review, error) {
	var rv store.Review
	if err := r.Scan(&rv.ID, &rv.UserID, &rv.ProjectID, &rv.ExecutionID, &rv.AgentID, &rv.Verdict, &rv.Summary,
		&rv.Comments, &rv.CreatedAt); err != nil {
		return nil, translate(err)
	}
	if rv.Comments == nil {
		rv.Comments = []store.ReviewComment{}
	}
	return &rv, nil
}

// CreateReview implements store.Executions. ProjectID is taken from the execution,
// which must be the user's, and so must the agent when AgentID is set (ErrNotFound
// otherwise). Nil Comments are stored as [].
func (s *Store) CreateReview(ctx context.Context, r *store.Review) error {
	r.Prepare()
	err := s.tenantTx(ctx, r.UserID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "INSERT INTO reviews ("+reviewCols+`)
			SELECT $1::uuid, e.user_id, e.project_id, e.id, $4::uuid, $5::text, $6::text, $7::jsonb, $8::timestamptz
			FROM executions e WHERE e.id = $3 AND e.user_id = $2
			RETURNING project_id`,
			r.ID, r.UserID, r.ExecutionID, r.AgentID, r.Verdict, r.Summary, r.Comments, r.CreatedAt).Scan(&r.ProjectID)
	})
	if err != nil {
		return fmt.Errorf("create review for execution %s: %w", r.ExecutionID, translate(err))
	}
	return nil
}

// ListReviews implements store.Executions.
func (s *Store) ListReviews(ctx context.Context, userID, executionID uuid.UUID, page store.Page) ([]store.Review, error) {
	after, limit := pageCursor(page)
	var out []store.Review
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+reviewCols+` FROM reviews
			WHERE user_id = $1 AND execution_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
			userID, executionID, after, limit)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanReview)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list reviews of execution %s: %w", executionID, translate(err))
	}
	return out, nil
}
