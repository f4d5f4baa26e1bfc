package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// CountActive returns the jobs waiting or running in the whole database (every
// process's), by kind then state. It is one small grouped query; call it every few
// seconds, not per request.
func (q *Queue) CountActive(ctx context.Context) (map[string]map[string]int64, error) {
	return q.st.Queue().CountActive(ctx)
}

// FinishedFunc hears of one finished job attempt: its kind, how it ended (completed,
// retryable, discarded, cancelled, snoozed, interrupted), how long it ran and how long
// it waited in the queue before it started.
type FinishedFunc func(kind, state string, run, wait time.Duration)

// WatchFinished calls fn for every job attempt this process finishes, from a goroutine
// of its own that ends when ctx is done or the queue stops. Call it before Start. It
// reports false, and does nothing, in a process that does not work jobs.
func (q *Queue) WatchFinished(ctx context.Context, fn FinishedFunc) bool {
	if !q.working {
		return false
	}
	events, cancel := q.c.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled,
		river.EventKindJobSnoozed, river.EventKindJobInterrupted)
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return // the queue stopped
				}
				if ev.Job == nil {
					continue
				}
				var run, wait time.Duration
				if ev.JobStats != nil {
					run, wait = ev.JobStats.RunDuration, ev.JobStats.QueueWaitDuration
				}
				fn(ev.Job.Kind, finishedState(ev), run, wait)
			}
		}
	}()
	return true
}

func finishedState(ev *river.Event) string {
	switch ev.Kind {
	case river.EventKindJobCompleted:
		return "completed"
	case river.EventKindJobCancelled:
		return "cancelled"
	case river.EventKindJobSnoozed:
		return "snoozed"
	case river.EventKindJobInterrupted:
		return "interrupted"
	}
	if ev.Job.State == rivertype.JobStateDiscarded {
		return "discarded"
	}
	return "retryable"
}
