package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/attribute"

	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/store"
)

// IndexArgs are an index job's arguments.
type IndexArgs struct {
	UserID    uuid.UUID `json:"user_id"`
	ProjectID uuid.UUID `json:"project_id"`
}

// Kind implements river.JobArgs.
func (IndexArgs) Kind() string { return KindIndex }

// Indexer indexes one project's repository, reporting progress as it goes and
// returning a summary (encoded into the final event).
type Indexer interface {
	Index(ctx context.Context, p *store.Project, progress func(typ string, data any)) (summary any, err error)
}

// IndexWorker runs index jobs: the project's index status goes indexing → ready (or
// failed), with progress events on the project's stream.
type IndexWorker struct {
	Policy[IndexArgs]
	st      store.Store
	indexer Indexer
	events  *Events
	log     *slog.Logger
}

// NewIndexWorker returns the worker for index jobs under cfg.
func NewIndexWorker(cfg Config, st store.Store, ix Indexer, ev *Events, log *slog.Logger) *IndexWorker {
	return &IndexWorker{Policy: PolicyFor[IndexArgs](cfg, KindIndex), st: st, indexer: ix, events: ev, log: log}
}

// Work implements river.Worker.
func (w *IndexWorker) Work(ctx context.Context, j *river.Job[IndexArgs]) (err error) {
	ctx = WithJobContext(ctx, j.Metadata)
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
	summary, err := w.indexer.Index(ctx, p, emit)
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

// EnqueueIndex queues an index job for the project, marking it queued in the same
// transaction.
func (q *Queue) EnqueueIndex(ctx context.Context, p *store.Project) (*Job, error) {
	return q.Enqueue(ctx, p.UserID, p.ID, nil, IndexArgs{UserID: p.UserID, ProjectID: p.ID}, func(ctx context.Context) error {
		cp := *p
		cp.IndexStatus = store.IndexQueued
		return q.st.UpdateProject(ctx, &cp)
	})
}

// indexCancelled settles a project's index status after one of its index jobs was
// cancelled before it ran, when no worker will: the project is "queued" because of that
// job, and stays so only while another index job of the project is waiting; one running
// makes it "indexing", none at all "cancelled". (A running job's cancellation reaches its
// worker, which records it.) Only the newest unfinished index jobs are looked at; a
// project with an older one still waiting beyond them shows "cancelled" until it starts.
func (q *Queue) indexCancelled(ctx context.Context, ref store.JobRef) error {
	p, err := q.st.GetProject(ctx, ref.UserID, ref.ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.IndexStatus != store.IndexQueued {
		return nil
	}
	rows, err := q.unfinished(ctx, KindIndex, 500)
	if err != nil {
		return fmt.Errorf("list index jobs: %w", err)
	}
	status := store.IndexCancelled
	for _, row := range rows {
		var a IndexArgs
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
	return q.st.UpdateProject(ctx, p)
}
