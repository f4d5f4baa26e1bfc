package jobs

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// Advance ends a pipeline step exactly once: in one transaction it runs before (the
// step's writes, e.g. the execution's new state), inserts the next step's job (when
// next is not nil) with its ref, and marks the current job completed. A crash at any
// point leaves either all of it or none of it, so a step is never skipped nor its
// successor enqueued twice.
func Advance[T river.JobArgs](ctx context.Context, q *Queue, job *river.Job[T], userID, projectID uuid.UUID, executionID *uuid.UUID,
	next river.JobArgs, before func(ctx context.Context) error) error {
	return q.st.InTx(ctx, userID, func(ctx context.Context) error {
		if before != nil {
			if err := before(ctx); err != nil {
				return err
			}
		}
		if next != nil {
			kind := next.Kind()
			qc, ok := q.cfg.Queues[kind]
			if !ok {
				return fmt.Errorf("jobs: unknown kind %q", kind)
			}
			row, err := q.c.InsertTx(ctx, next, &river.InsertOpts{Queue: kind, MaxAttempts: qc.MaxAttempts, Metadata: metadata(ctx)})
			if err != nil {
				return fmt.Errorf("insert %s job: %w", kind, err)
			}
			ref := storeRef(row.ID, userID, projectID, executionID, kind)
			if err := q.st.CreateJobRef(ctx, &ref); err != nil {
				return err
			}
		}
		if err := q.c.CompleteTx(ctx, job.JobRow); err != nil {
			return fmt.Errorf("complete job %d: %w", job.ID, err)
		}
		return nil
	})
}
