package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Queue implements store.Store: River on the single writer connection. SQLite has no
// LISTEN/NOTIFY: one process works its jobs, its queues are woken in process when the
// transaction that inserted a job commits (wake.go), otherwise by River's notification
// outbox or their poll, and its in-process hub wakes event streams.
func (s *Store) Queue() store.JobQueue { return jobQueue{s} }

type jobQueue struct{ s *Store }

// fetchCooldown is the least time between two fetches of a queue unless the caller
// sets one. River's default, 100 ms, is meant to spread out the fetches a burst of
// NOTIFYs would cause; here it mostly made a woken queue wait out the cooldown of a
// poll that had just found nothing (about two hand-offs in five). A fetch is one short
// write on the single writer: 10 ms bounds them to 100 a second per queue.
const fetchCooldown = 10 * time.Millisecond

func (q jobQueue) NewClient(cfg *river.Config) (store.JobClient, error) {
	rc := *cfg
	if rc.FetchCooldown == 0 {
		rc.FetchCooldown = fetchCooldown
	}
	c, err := store.NewRiverClient(driver{riversqlite.New(q.s.writer), q.s.reader, &q.s.inserts}, &rc, func(ctx context.Context) (*sql.Tx, bool) {
		tx := ctxTx(ctx)
		return tx, tx != nil
	})
	if err != nil {
		return nil, err
	}
	return client{c}, nil
}

// client is the River client that records the queues of the jobs it inserts in a
// store transaction, for InTx to wake once the transaction commits.
type client struct {
	*store.RiverClient[driver, *sql.Tx]
}

// InsertTx implements store.JobClient.
func (c client) InsertTx(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobRow, error) {
	row, err := c.RiverClient.InsertTx(ctx, args, opts)
	if err != nil {
		return nil, err
	}
	if st := ctxTxState(ctx); st != nil && row.State == rivertype.JobStateAvailable && !slices.Contains(st.queues, row.Queue) {
		st.queues = append(st.queues, row.Queue)
	}
	return row, nil
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
