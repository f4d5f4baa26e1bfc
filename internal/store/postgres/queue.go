package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Queue implements store.Store: River on the pool, woken across processes by
// LISTEN/NOTIFY.
func (s *Store) Queue() store.JobQueue { return jobQueue{s} }

type jobQueue struct{ s *Store }

func (q jobQueue) NewClient(cfg *river.Config) (store.JobClient, error) {
	return store.NewRiverClient(riverpgxv5.New(q.s.pool), cfg, func(ctx context.Context) (pgx.Tx, bool) {
		b, ok := ctx.Value(txKey{}).(boundTx)
		return b.tx, ok
	})
}

// countActive counts the jobs still to be worked or being worked, by kind and state.
// Finalized jobs are counted as they finish; leaving them out keeps the query on
// River's state indexes.
const countActive = `SELECT kind, state, count(*) FROM river_job
WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')
GROUP BY kind, state`

func (q jobQueue) CountActive(ctx context.Context) (map[string]map[string]int64, error) {
	rows, err := q.s.pool.Query(ctx, countActive)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", translate(err))
	}
	defer rows.Close()
	return store.ScanJobCounts(rows)
}

func (jobQueue) EventsAcrossProcesses() bool { return true }

// WatchEvents listens for the events trigger's NOTIFY on vibecoder_events until ctx
// ends, reconnecting as needed.
func (q jobQueue) WatchEvents(ctx context.Context, wake func()) {
	q.s.Listen(ctx, "vibecoder_events", func(string) { wake() })
}

// Pools implements store.Store.
func (s *Store) Pools() []store.Pool {
	return []store.Pool{{Name: "postgres", Stats: func() store.PoolStats {
		st := s.pool.Stat()
		return store.PoolStats{MaxOpen: int64(st.MaxConns()), InUse: int64(st.AcquiredConns()), Idle: int64(st.IdleConns()),
			WaitCount: st.EmptyAcquireCount(), WaitDuration: st.EmptyAcquireWaitTime()}
	}}}
}
