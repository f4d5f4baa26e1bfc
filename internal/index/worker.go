package index

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
	"go.opentelemetry.io/otel/attribute"

	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/jobs"
	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/store"
)

// KindIndex is the index job's kind, and its queue's name.
const KindIndex = "index"

// JobKind declares the index job to the job system: its queue's defaults, and how a
// cancelled index job that never ran is settled on its project.
var JobKind = jobs.Kind{
	Name:      KindIndex,
	Queue:     jobs.QueueConfig{Concurrency: 2, Timeout: 30 * time.Minute, MaxAttempts: 3, Backoff: 10 * time.Second},
	Cancelled: cancelled,
}

// Args are an index job's arguments.
type Args struct {
	UserID    uuid.UUID `json:"user_id"`
	ProjectID uuid.UUID `json:"project_id"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return KindIndex }

// Runner indexes one project's repository, reporting progress as it goes (the
// Indexer; tests stand in for it).
type Runner interface {
	Index(ctx context.Context, p *store.Project, progress func(Event)) (Stats, error)
}

// Worker runs index jobs: the project's index status goes indexing → ready (or
// failed, or queued again when River will retry), with progress events on the
// project's stream. A repository the policy refuses is not retried.
type Worker struct {
	jobs.Policy[Args]
	st      store.Store
	indexer Runner
	events  *jobs.Events
	log     *slog.Logger
}

// NewWorker returns the worker for index jobs under cfg.
func NewWorker(cfg jobs.Config, st store.Store, ix Runner, ev *jobs.Events, log *slog.Logger) *Worker {
	return &Worker{Policy: jobs.PolicyFor[Args](cfg, KindIndex), st: st, indexer: ix, events: ev, log: log}
}

// Enqueue queues an index job for the project, marking it queued in the same
// transaction.
func Enqueue(ctx context.Context, q *jobs.Queue, p *store.Project) (*jobs.Job, error) {
	return q.Enqueue(ctx, p.UserID, p.ID, nil, Args{UserID: p.UserID, ProjectID: p.ID}, func(ctx context.Context) error {
		cp := *p
		cp.IndexStatus = store.IndexQueued
		return q.Store().UpdateProject(ctx, &cp)
	})
}

// Work implements river.Worker.
func (w *Worker) Work(ctx context.Context, j *river.Job[Args]) (err error) {
	ctx = jobs.WithJobContext(ctx, j.Metadata)
	ctx, span := observe.StartSpan(ctx, "job index", attribute.Int64("job.id", j.ID), attribute.Int("job.attempt", j.Attempt),
		attribute.String("project.id", j.Args.ProjectID.String()))
	defer func() { observe.EndSpan(span, err) }()
	a := j.Args
	p, err := w.st.GetProject(ctx, a.UserID, a.ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		// Deleted since it was queued: nothing to do, and nothing to retry.
		return river.JobCancel(fmt.Errorf("project %s no longer exists", a.ProjectID))
	}
	if err != nil {
		return err
	}
	emit := func(typ string, data any) {
		if err := w.events.Emit(context.WithoutCancel(ctx), a.UserID, a.ProjectID, nil, typ, data); err != nil {
			w.log.Warn("index progress event", slog.String("project_id", a.ProjectID.String()), slog.Any("error", err))
		}
	}
	p.IndexStatus = store.IndexRunning
	if err := w.st.UpdateProject(ctx, p); err != nil {
		return err
	}
	emit("index.started", map[string]any{"job_id": j.ID, "attempt": j.Attempt})
	summary, err := w.indexer.Index(ctx, p, func(ev Event) { emit("index.progress", ev) })
	if errors.Is(err, gitops.ErrRepoForbidden) || errors.Is(err, gitops.ErrRepoInvalid) {
		err = river.JobCancel(err) // the policy refused the repository: no retry changes that
	}
	// The status must be written even when the job's context has ended.
	sctx := context.WithoutCancel(ctx)
	cur, gerr := w.st.GetProject(sctx, a.UserID, a.ProjectID)
	if gerr != nil {
		return errors.Join(err, gerr)
	}
	if err != nil {
		cur.IndexStatus = store.IndexFailed
		switch {
		case errors.Is(context.Cause(ctx), river.ErrJobCancelledRemotely):
			cur.IndexStatus = store.IndexCancelled // by the user: River does not retry it
			_ = w.st.UpdateProject(sctx, cur)
			emit("index.cancelled", map[string]any{"job_id": j.ID, "attempt": j.Attempt})
			return err
		case j.Attempt < j.MaxAttempts:
			// River retries every error but a cancellation while attempts are left,
			// and an attempt stopped by shutdown or by its timeout is such an error:
			// say so, rather than "failed" just before the retry starts.
			cur.IndexStatus = store.IndexQueued
		}
		_ = w.st.UpdateProject(sctx, cur)
		data := map[string]any{"error": err.Error(), "attempt": j.Attempt, "will_retry": cur.IndexStatus == store.IndexQueued}
		switch {
		case errors.Is(context.Cause(ctx), context.DeadlineExceeded):
			data["reason"] = "timeout"
		case ctx.Err() != nil:
			data["reason"] = "stopped" // the worker is shutting down
		}
		emit("index.failed", data)
		return err
	}
	now := store.Now()
	cur.IndexStatus, cur.IndexedAt = store.IndexReady, &now
	if err := w.st.UpdateProject(sctx, cur); err != nil {
		return err
	}
	emit("index.finished", summary)
	return nil
}

// cancelled settles a project's index status after one of its index jobs was
// cancelled before it ran, when no worker will: the project is "queued" because of that
// job, and stays so only while another index job of the project is waiting; one running
// makes it "indexing", none at all "cancelled". (A running job's cancellation reaches its
// worker, which records it.) Only the newest unfinished index jobs are looked at; a
// project with an older one still waiting beyond them shows "cancelled" until it starts.
func cancelled(ctx context.Context, q *jobs.Queue, ref store.JobRef) error {
	st := q.Store()
	p, err := st.GetProject(ctx, ref.UserID, ref.ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.IndexStatus != store.IndexQueued {
		return nil
	}
	rows, err := q.Unfinished(ctx, KindIndex, 500)
	if err != nil {
		return fmt.Errorf("list index jobs: %w", err)
	}
	status := store.IndexCancelled
	for _, row := range rows {
		var a Args
		if row.ID == ref.JobID || json.Unmarshal(row.EncodedArgs, &a) != nil || a.ProjectID != ref.ProjectID {
			continue
		}
		if row.State == rivertype.JobStateRunning {
			status = store.IndexRunning
			break
		}
		status = store.IndexQueued
	}
	if status == p.IndexStatus {
		return nil
	}
	p.IndexStatus = status
	return st.UpdateProject(ctx, p)
}
