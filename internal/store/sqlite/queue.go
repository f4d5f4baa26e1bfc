package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Queue implements store.Store: River on the single writer connection, polling (SQLite
// has no LISTEN/NOTIFY; one process works its jobs and its in-process hub wakes
// event streams).
func (s *Store) Queue() store.JobQueue { return jobQueue{s} }

type jobQueue struct{ s *Store }

func (q jobQueue) NewClient(cfg *river.Config) (store.JobClient, error) {
	c := *cfg
	c.PollOnly = true
	return store.NewRiverClient(riversqlite.New(q.s.writer), &c, func(ctx context.Context) (*sql.Tx, bool) {
		tx := ctxTx(ctx)
		return tx, tx != nil
	})
}

// countActive counts the jobs still to be worked or being worked, by kind and state.
// Finalized jobs are counted as they finish; leaving them out keeps the query on
// River's state indexes.
const countActive = `SELECT kind, state, count(*) FROM river_job
WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
GROUP BY kind, state`

func (q jobQueue) CountActive(ctx context.Context) (map[string]map[string]int64, error) {
	// River shares the writer connection; the query is short and infrequent.
	rows, err := q.s.writer.QueryContext(ctx, countActive)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", translate(err))
	}
	defer rows.Close()
	return store.ScanJobCounts(rows)
}

func (jobQueue) EventsAcrossProcesses() bool         { return false }
func (jobQueue) WatchEvents(context.Context, func()) {}

// Pools implements store.Store: the writer connection (the readers never wait).
func (s *Store) Pools() []store.Pool {
	return []store.Pool{{Name: "sqlite_writer", Stats: func() store.PoolStats {
		st := s.writer.Stats()
		return store.PoolStats{MaxOpen: int64(st.MaxOpenConnections), InUse: int64(st.InUse), Idle: int64(st.Idle),
			WaitCount: st.WaitCount, WaitDuration: st.WaitDuration}
	}}}
}
