package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibecoder/vibecoder/internal/store/postgres"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
)

// countActive counts the jobs still to be worked or being worked, the queue
// depth, by kind and state. Finalized jobs are counted as they finish (WatchFinished);
// leaving them out keeps the query on River's state indexes.
const countActive = `SELECT kind, state, count(*) FROM river_job
WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
GROUP BY kind, state`

// CountActive returns the jobs waiting or running in the whole database (every
// process's), by kind then state. It is one small grouped query; call it every few
// seconds, not per request.
func (q *Queue) CountActive(ctx context.Context) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	switch s := q.st.(type) {
	case *sqlite.Store:
		// River shares the writer connection; the query is short and infrequent.
		rows, err := s.Writer().QueryContext(ctx, countActive)
		if err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		defer rows.Close()
		if err := scanCounts(rows, out); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
	case *postgres.Store:
		rows, err := s.Pool().Query(ctx, countActive)
		if err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		defer rows.Close()
		if err := scanCounts(rows, out); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
	default:
		return nil, fmt.Errorf("jobs: no job count for store %T", q.st)
	}
	return out, nil
}

// countRows is what the rows of countActive offer in both dialects: database/sql's
// *sql.Rows (SQLite) and pgx.Rows (PostgreSQL).
type countRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanCounts reads countActive's (kind, state, count) rows into out, by kind then state.
func scanCounts(rows countRows, out map[string]map[string]int64) error {
	for rows.Next() {
		var kind, state string
		var n int64
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return err
		}
		if out[kind] == nil {
			out[kind] = map[string]int64{}
		}
		out[kind][state] = n
	}
	return rows.Err()
}

// FinishedFunc hears of one finished job attempt: its kind, how it ended (completed,
// retryable, discarded, cancelled, snoozed, interrupted), how long it ran and how long
// it waited in the queue before it started.
type FinishedFunc func(kind, state string, run, wait time.Duration)

type subscriber interface {
	Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func())
}

// WatchFinished calls fn for every job attempt this process finishes, from a goroutine
// of its own that ends when ctx is done or the queue stops. Call it before Start. It
// reports false, and does nothing, in a process that does not work jobs.
func (q *Queue) WatchFinished(ctx context.Context, fn FinishedFunc) bool {
	sub, ok := q.c.(subscriber)
	if !q.working || !ok {
		return false
	}
	events, cancel := sub.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled,
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
