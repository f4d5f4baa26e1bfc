package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

const executionCols = "id, user_id, project_id, task_id, status, step, error, tokens_in, tokens_out, cost_usd, started_at, finished_at, created_at, updated_at, details"

func scanExecution(r scanner) (*store.Execution, error) {
	var e store.Execution
	var started, finished sql.NullString
	var created, updated, details string
	if err := r.Scan(&e.ID, &e.UserID, &e.ProjectID, &e.TaskID, &e.Status, &e.Step, &e.Error, &e.TokensIn, &e.TokensOut,
		&e.CostUSD, &started, &finished, &created, &updated, &details); err != nil {
		return nil, translate(err)
	}
	e.Details = json.RawMessage(details)
	var err error
	if e.StartedAt, err = parseTimePtr(started); err != nil {
		return nil, err
	}
	if e.FinishedAt, err = parseTimePtr(finished); err != nil {
		return nil, err
	}
	if e.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if e.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return &e, nil
}

// CreateExecution implements store.Executions. The project is the task's.
func (s *Store) CreateExecution(ctx context.Context, e *store.Execution) error {
	e.Prepare()
	err := s.w(ctx).QueryRowContext(ctx, "INSERT INTO executions ("+executionCols+`)
		SELECT ?, user_id, project_id, id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM tasks WHERE id = ? AND user_id = ?
		RETURNING project_id`,
		e.ID.String(), e.Status, e.Step, e.Error, e.TokensIn, e.TokensOut, e.CostUSD, fmtTimePtr(e.StartedAt),
		fmtTimePtr(e.FinishedAt), fmtTime(e.CreatedAt), fmtTime(e.UpdatedAt), string(e.Details), e.TaskID.String(), e.UserID.String(),
	).Scan(&e.ProjectID)
	if err != nil {
		return fmt.Errorf("create execution for task %s: %w", e.TaskID, translate(err))
	}
	return nil
}

// GetExecution implements store.Executions.
func (s *Store) GetExecution(ctx context.Context, userID, id uuid.UUID) (*store.Execution, error) {
	e, err := scanExecution(s.r(ctx).QueryRowContext(ctx, "SELECT "+executionCols+" FROM executions WHERE id = ? AND user_id = ?",
		id.String(), userID.String()))
	if err != nil {
		return nil, fmt.Errorf("get execution %s: %w", id, err)
	}
	return e, nil
}

// ListExecutions implements store.Executions.
func (s *Store) ListExecutions(ctx context.Context, userID, taskID uuid.UUID, page store.Page) ([]store.Execution, error) {
	q := "SELECT " + executionCols + " FROM executions WHERE user_id = ?"
	args := []any{userID.String()}
	if taskID != uuid.Nil {
		q += " AND task_id = ?"
		args = append(args, taskID.String())
	}
	clause, pargs := pageClause(page)
	rows, err := s.r(ctx).QueryContext(ctx, q+clause, append(args, pargs...)...)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	return collect(rows, scanExecution)
}

// UpdateExecution implements store.Executions.
func (s *Store) UpdateExecution(ctx context.Context, e *store.Execution) error {
	store.Sanitize(e)
	e.UpdatedAt = store.Now()
	if len(e.Details) == 0 {
		e.Details = json.RawMessage(`{}`)
	}
	err := mustAffect(s.w(ctx).ExecContext(ctx, `UPDATE executions SET status = ?, step = ?, error = ?, tokens_in = ?,
		tokens_out = ?, cost_usd = ?, started_at = ?, finished_at = ?, updated_at = ?, details = ? WHERE id = ? AND user_id = ?`,
		e.Status, e.Step, e.Error, e.TokensIn, e.TokensOut, e.CostUSD, fmtTimePtr(e.StartedAt), fmtTimePtr(e.FinishedAt),
		fmtTime(e.UpdatedAt), string(e.Details), e.ID.String(), e.UserID.String()))
	if err != nil {
		return fmt.Errorf("update execution %s: %w", e.ID, err)
	}
	return nil
}

const commitCols = "id, user_id, project_id, execution_id, sha, branch, message, files_changed, pr_url, created_at"

func scanCommit(r scanner) (*store.Commit, error) {
	var c store.Commit
	var files, created string
	if err := r.Scan(&c.ID, &c.UserID, &c.ProjectID, &c.ExecutionID, &c.SHA, &c.Branch, &c.Message, &files, &c.PRURL, &created); err != nil {
		return nil, translate(err)
	}
	if err := json.Unmarshal([]byte(files), &c.FilesChanged); err != nil {
		return nil, fmt.Errorf("stored files_changed: %w", err)
	}
	var err error
	if c.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return &c, nil
}

// CreateCommit implements store.Executions. The project is the execution's.
func (s *Store) CreateCommit(ctx context.Context, c *store.Commit) error {
	c.Prepare()
	files, err := jsonArg(c.FilesChanged)
	if err != nil {
		return fmt.Errorf("create commit: %w", err)
	}
	err = s.w(ctx).QueryRowContext(ctx, "INSERT INTO commits ("+commitCols+`)
		SELECT ?, user_id, project_id, id, ?, ?, ?, ?, ?, ? FROM executions WHERE id = ? AND user_id = ?
		RETURNING project_id`,
		c.ID.String(), c.SHA, c.Branch, c.Message, files, c.PRURL, fmtTime(c.CreatedAt), c.ExecutionID.String(), c.UserID.String(),
	).Scan(&c.ProjectID)
	if err != nil {
		return fmt.Errorf("create commit for execution %s: %w", c.ExecutionID, translate(err))
	}
	return nil
}

// ListCommits implements store.Executions.
func (s *Store) ListCommits(ctx context.Context, userID, executionID uuid.UUID, page store.Page) ([]store.Commit, error) {
	clause, args := pageClause(page)
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+commitCols+" FROM commits WHERE user_id = ? AND execution_id = ?"+clause,
		append([]any{userID.String(), executionID.String()}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("list commits: %w", err)
	}
	return collect(rows, scanCommit)
}

const reviewCols = "id, user_id, project_id, execution_id, agent_id, verdict, summary, comments, created_at"

func scanReview(r scanner) (*store.Review, error) {
	var rv store.Review
	var agent sql.NullString
	var comments, created string
	if err := r.Scan(&rv.ID, &rv.UserID, &rv.ProjectID, &rv.ExecutionID, &agent, &rv.Verdict, &rv.Summary, &comments, &created); err != nil {
		return nil, translate(err)
	}
	if agent.Valid {
		id, err := uuid.Parse(agent.String)
		if err != nil {
			return nil, fmt.Errorf("stored agent_id: %w", err)
		}
		rv.AgentID = &id
	}
	if err := json.Unmarshal([]byte(comments), &rv.Comments); err != nil {
		return nil, fmt.Errorf("stored comments: %w", err)
	}
	var err error
	if rv.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return &rv, nil
}

// CreateReview implements store.Executions. The project is the execution's; an agent,
// when given, must be the same user's.
func (s *Store) CreateReview(ctx context.Context, r *store.Review) error {
	r.Prepare()
	comments, err := jsonArg(r.Comments)
	if err != nil {
		return fmt.Errorf("create review: %w", err)
	}
	agent := uuidPtrArg(r.AgentID)
	err = s.w(ctx).QueryRowContext(ctx, "INSERT INTO reviews ("+reviewCols+`)
		SELECT ?, user_id, project_id, id, ?, ?, ?, ?, ? FROM executions WHERE id = ? AND user_id = ?
		AND (? IS NULL OR EXISTS (SELECT 1 FROM agents WHERE agents.id = ? AND agents.user_id = executions.user_id))
		RETURNING project_id`,
		r.ID.String(), agent, r.Verdict, r.Summary, comments, fmtTime(r.CreatedAt), r.ExecutionID.String(), r.UserID.String(),
		agent, agent,
	).Scan(&r.ProjectID)
	if err != nil {
		return fmt.Errorf("create review for execution %s: %w", r.ExecutionID, translate(err))
	}
	return nil
}

// ListReviews implements store.Executions.
func (s *Store) ListReviews(ctx context.Context, userID, executionID uuid.UUID, page store.Page) ([]store.Review, error) {
	clause, args := pageClause(page)
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+reviewCols+" FROM reviews WHERE user_id = ? AND execution_id = ?"+clause,
		append([]any{userID.String(), executionID.String()}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("list reviews: %w", err)
	}
	return collect(rows, scanReview)
}
