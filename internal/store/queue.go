package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// JobQueue is a dialect's job queue: River on the same database, with River's
// transaction type hidden inside the dialect. Jobs are inserted and completed in the
// store transaction of the context (InTx), so a job commits or rolls back together
// with the rows it drives. Nothing outside the dialect packages knows which driver
// runs.
type JobQueue interface {
	// NewClient returns a River client on this database for cfg (the caller sets
	// workers, queues and policies; the dialect sets what its driver needs, such as
	// polling where it has no LISTEN/NOTIFY).
	NewClient(cfg *river.Config) (JobClient, error)
	// CountActive returns the jobs waiting or running in the whole database, by kind
	// then state: one small grouped query.
	CountActive(ctx context.Context) (map[string]map[string]int64, error)
	// EventsAcrossProcesses reports whether WatchEvents hears other processes' events
	// (PostgreSQL's NOTIFY); without it (SQLite: one process) streams are woken in
	// process and by polling.
	EventsAcrossProcesses() bool
	// WatchEvents calls wake whenever another process appends an event, until ctx
	// ends; it returns at once where EventsAcrossProcesses is false.
	WatchEvents(ctx context.Context, wake func())
}

// JobClient is River's client with its transaction type hidden.
type JobClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobRetry(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	// Subscribe delivers the events of the jobs this client works (River's Subscribe).
	Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func())
	// InsertTx inserts a job in the store transaction ctx carries (InTx); without one
	// it fails.
	InsertTx(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobRow, error)
	// CompleteTx marks job, which a worker of this client is running (ctx is its work
	// context), completed in the store transaction ctx carries.
	CompleteTx(ctx context.Context, job *rivertype.JobRow) error
}

// JobCountRows is what a dialect's rows of (kind, state, count) offer: database/sql's
// *sql.Rows and pgx's Rows alike.
type JobCountRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanJobCounts reads (kind, state, count) rows into counts by kind, then state.
func ScanJobCounts(rows JobCountRows) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	for rows.Next() {
		var kind, state string
		var n int64
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		if out[kind] == nil {
			out[kind] = map[string]int64{}
		}
		out[kind][state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return out, nil
}

// Pool is one of a store's connection pools, for metrics.
type Pool struct {
	Name  string
	Stats func() PoolStats
}

// PoolStats is a pool's state.
type PoolStats struct {
	MaxOpen, InUse, Idle int64
	WaitCount            int64
	WaitDuration         time.Duration
}

// RiverClient is a JobClient over a River client whose transactions are TTx: each
// dialect makes one with its driver and txFrom, which finds the dialect's store
// transaction in a context.
type RiverClient[TDriver riverdriver.Driver[TTx], TTx any] struct {
	*river.Client[TTx]
	txFrom func(ctx context.Context) (TTx, bool)
}

// NewRiverClient returns the JobClient of a River client on driver.
func NewRiverClient[TDriver riverdriver.Driver[TTx], TTx any](driver TDriver, cfg *river.Config,
	txFrom func(ctx context.Context) (TTx, bool)) (*RiverClient[TDriver, TTx], error) {
	c, err := river.NewClient[TTx](driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	return &RiverClient[TDriver, TTx]{Client: c, txFrom: txFrom}, nil
}

// errNoTx is a job insert or completion outside InTx.
var errNoTx = errors.New("store: the job queue was used outside a store transaction (InTx)")

// InsertTx implements JobClient.
func (c *RiverClient[TDriver, TTx]) InsertTx(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobRow, error) {
	tx, ok := c.txFrom(ctx)
	if !ok {
		return nil, errNoTx
	}
	res, err := c.Client.InsertTx(ctx, tx, args, opts)
	if err != nil {
		return nil, err
	}
	return res.Job, nil
}

// CompleteTx implements JobClient.
func (c *RiverClient[TDriver, TTx]) CompleteTx(ctx context.Context, job *rivertype.JobRow) error {
	tx, ok := c.txFrom(ctx)
	if !ok {
		return errNoTx
	}
	_, err := river.JobCompleteTx[TDriver](ctx, tx, &river.Job[rowArgs]{JobRow: job})
	return err
}

// rowArgs stands for a job's arguments where only its row matters (completion).
type rowArgs struct{}

func (rowArgs) Kind() string { return "" }
