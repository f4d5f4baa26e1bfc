package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/store"
)

// Job is a background job as the API shows it.
type Job struct {
	ID          int64                    `json:"id"`
	Kind        string                   `json:"kind"`
	Queue       string                   `json:"queue"`
	State       string                   `json:"state"`
	Attempt     int                      `json:"attempt"`
	MaxAttempts int                      `json:"max_attempts"`
	Errors      []rivertype.AttemptError `json:"errors"`
	ProjectID   uuid.UUID                `json:"project_id"`
	ExecutionID *uuid.UUID               `json:"execution_id"`
	CreatedAt   time.Time                `json:"created_at"`
	ScheduledAt time.Time                `json:"scheduled_at"`
	AttemptedAt *time.Time               `json:"attempted_at"`
	FinalizedAt *time.Time               `json:"finalized_at"`
}

func view(ref store.JobRef, row *rivertype.JobRow) Job {
	j := Job{ID: ref.JobID, Kind: ref.Kind, ProjectID: ref.ProjectID, ExecutionID: ref.ExecutionID, CreatedAt: ref.CreatedAt,
		Errors: []rivertype.AttemptError{}}
	if row == nil {
		// River deletes finalized jobs after their retention period; the ref remains.
		j.State = "deleted"
		return j
	}
	j.Queue, j.State, j.Attempt, j.MaxAttempts = row.Queue, string(row.State), row.Attempt, row.MaxAttempts
	j.CreatedAt, j.ScheduledAt, j.AttemptedAt, j.FinalizedAt = row.CreatedAt, row.ScheduledAt, row.AttemptedAt, row.FinalizedAt
	if row.Errors != nil {
		j.Errors = row.Errors
	}
	return j
}

// Enqueue inserts a job of args' kind for a project (and execution, if given) in one
// transaction with whatever before writes: the job exists if and only if those rows do.
func (q *Queue) Enqueue(ctx context.Context, userID, projectID uuid.UUID, executionID *uuid.UUID, args river.JobArgs,
	before func(ctx context.Context) error) (*Job, error) {
	kind := args.Kind()
	qc, ok := q.cfg.Queues[kind]
	if !ok {
		return nil, fmt.Errorf("jobs: unknown kind %q", kind)
	}
	var out Job
	err := q.st.InTx(ctx, userID, func(ctx context.Context) error {
		if before != nil {
			if err := before(ctx); err != nil {
				return err
			}
		}
		row, err := q.c.InsertTx(ctx, args, &river.InsertOpts{Queue: kind, MaxAttempts: qc.MaxAttempts, Metadata: metadata(ctx)})
		if err != nil {
			return fmt.Errorf("insert %s job: %w", kind, err)
		}
		ref := storeRef(row.ID, userID, projectID, executionID, kind)
		if err := q.st.CreateJobRef(ctx, &ref); err != nil {
			return err
		}
		out = view(ref, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// List returns a project's jobs, newest first, with their River state.
func (q *Queue) List(ctx context.Context, userID, projectID uuid.UUID, beforeJobID int64, limit int) ([]Job, error) {
	refs, err := q.st.ListJobRefs(ctx, userID, projectID, beforeJobID, limit)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(refs))
	for i, r := range refs {
		ids[i] = r.JobID
	}
	rows, err := q.list(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	byID := make(map[int64]*rivertype.JobRow, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	out := make([]Job, len(refs))
	for i, ref := range refs {
		out[i] = view(ref, byID[ref.JobID])
	}
	return out, nil
}

// Get returns one of the user's jobs; another user's is store.ErrNotFound.
func (q *Queue) Get(ctx context.Context, userID uuid.UUID, jobID int64) (*Job, error) {
	ref, err := q.st.GetJobRef(ctx, userID, jobID)
	if err != nil {
		return nil, err
	}
	row, err := q.c.JobGet(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		row, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get job %d: %w", jobID, err)
	}
	j := view(*ref, row)
	return &j, nil
}

// ErrJobState is returned when a job is not in a state the operation applies to.
var ErrJobState = errors.New("job is not in a state that allows this")

// Cancel cancels one of the user's jobs: a queued job never runs, a running job's
// context is cancelled (the worker stops at its next check), a finished job is left alone.
func (q *Queue) Cancel(ctx context.Context, userID uuid.UUID, jobID int64) (*Job, error) {
	ref, err := q.st.GetJobRef(ctx, userID, jobID)
	if err != nil {
		return nil, err
	}
	row, err := q.c.JobCancel(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return nil, fmt.Errorf("%w: the job was already removed", ErrJobState)
	}
	if err != nil {
		return nil, fmt.Errorf("cancel job %d: %w", jobID, err)
	}
	if row.State == rivertype.JobStateCancelled {
		// It will never run, so no worker will tell its rows: its kind's owner does.
		for _, k := range q.cfg.Kinds {
			if k.Name != ref.Kind || k.Cancelled == nil {
				continue
			}
			if err := k.Cancelled(ctx, q, *ref); err != nil {
				q.log.WarnContext(ctx, "settle a cancelled job", slog.String("kind", ref.Kind), slog.Int64("job_id", jobID),
					slog.String("project_id", ref.ProjectID.String()), slog.Any("error", err))
			}
		}
	}
	j := view(*ref, row)
	return &j, nil
}

// Retry makes a discarded, cancelled or completed job run again now.
func (q *Queue) Retry(ctx context.Context, userID uuid.UUID, jobID int64) (*Job, error) {
	ref, err := q.st.GetJobRef(ctx, userID, jobID)
	if err != nil {
		return nil, err
	}
	cur, err := q.c.JobGet(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return nil, fmt.Errorf("%w: the job was already removed", ErrJobState)
	}
	if err != nil {
		return nil, err
	}
	switch cur.State {
	case rivertype.JobStateDiscarded, rivertype.JobStateCancelled, rivertype.JobStateCompleted:
	default:
		return nil, fmt.Errorf("%w: it is %s", ErrJobState, cur.State)
	}
	row, err := q.c.JobRetry(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("retry job %d: %w", jobID, err)
	}
	j := view(*ref, row)
	return &j, nil
}

func storeRef(jobID int64, userID, projectID uuid.UUID, executionID *uuid.UUID, kind string) store.JobRef {
	return store.JobRef{JobID: jobID, UserID: userID, ProjectID: projectID, ExecutionID: executionID, Kind: kind}
}

// metadata carries the request id of the request that queued a job, so the job's logs
// and spans can be tied back to it.
func metadata(ctx context.Context) []byte {
	id := observe.RequestID(ctx)
	if id == "" {
		return nil
	}
	b, _ := json.Marshal(map[string]string{"request_id": id})
	return b
}

// WithJobContext returns ctx carrying the request id recorded in a job's metadata.
func WithJobContext(ctx context.Context, jobMetadata []byte) context.Context {
	var m struct {
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(jobMetadata, &m) == nil && m.RequestID != "" {
		return observe.WithRequestID(ctx, m.RequestID)
	}
	return ctx
}
