// Package jobs runs Vibe Coder's background work on River: one queue per job kind
// (index, codegen, testrun, review, pr) with its own concurrency, timeout, attempts and
// backoff; jobs inserted in the same transaction as the rows they drive; River on the
// embedded SQLite database or on PostgreSQL.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Kind is a job kind as its owner declares it (the pipeline its steps, the indexer
// its index job): its name, which is also its queue's, its queue's defaults, and what
// to do when one of its jobs is cancelled before any worker ran it.
type Kind struct {
	Name  string
	Queue QueueConfig
	// Cancelled, when set, is told of a job of this kind cancelled while it waited:
	// no worker will see that cancellation, so whatever the job's rows say about it is
	// the owner's to settle.
	Cancelled func(ctx context.Context, q *Queue, ref store.JobRef) error
}

// QueueConfig tunes one kind's queue.
type QueueConfig struct {
	Concurrency int           // jobs at once in this process
	Timeout     time.Duration // a job's context is cancelled after this
	MaxAttempts int           // then the job is discarded
	Backoff     time.Duration // first retry delay, doubled per attempt (with jitter), capped at an hour
}

// Config tunes the job system.
type Config struct {
	// Kinds are the job kinds this process knows, with their queues' defaults.
	Kinds []Kind
	// Queues overrides queue settings by kind (ParseQueues reads them from text).
	Queues map[string]QueueConfig
	// RescueAfter is how long a job may sit "running" before it is presumed lost (its
	// process died) and put back to the queue. Default: the longest timeout + 5 minutes.
	RescueAfter time.Duration
	// PollInterval is how often an idle queue looks for new jobs, a fallback to
	// LISTEN/NOTIFY on PostgreSQL and to the in-process wake and River's notification
	// outbox on SQLite. Default 250ms.
	PollInterval time.Duration
	// FetchCooldown is the least time between two fetches of a queue (when zero, the
	// dialect's default: River's 100ms on PostgreSQL, 10ms on SQLite); with
	// Concurrency it bounds a queue's throughput.
	FetchCooldown time.Duration
	// SoftStop is how long a stopping process lets running jobs finish before it
	// cancels them (they then return to the queue). Default 30s.
	SoftStop time.Duration
	// ID names this process in River's leader election and attempts (default: River's).
	ID string
}

// Normalized returns the configuration with every default applied.
func (c Config) Normalized() Config {
	c.defaults()
	return c
}

func (c *Config) defaults() {
	q := map[string]QueueConfig{}
	for _, k := range c.Kinds {
		q[k.Name] = k.Queue
	}
	for k, v := range c.Queues {
		q[k] = v
	}
	c.Queues = q
	if c.RescueAfter <= 0 {
		longest := time.Duration(0)
		for _, v := range c.Queues {
			longest = max(longest, v.Timeout)
		}
		c.RescueAfter = longest + 5*time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.SoftStop <= 0 {
		c.SoftStop = 30 * time.Second
	}
}

// backoff is kind k's delay before retry n (1-based), with jitter.
func (c *Config) backoff(kind string, attempt int) time.Duration {
	base := c.Queues[kind].Backoff
	if base <= 0 {
		base = 10 * time.Second
	}
	d := base << min(attempt-1, 16)
	d = min(d, time.Hour)
	return d/2 + rand.N(d/2+1)
}

// Policy is the per-kind behaviour a worker embeds: its kind's timeout and retry
// backoff (River calls these methods on the worker).
type Policy[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	timeout time.Duration
	backoff func(attempt int) time.Duration
}

// PolicyFor returns kind's policy under cfg.
func PolicyFor[T river.JobArgs](cfg Config, kind string) Policy[T] {
	cfg.defaults()
	return Policy[T]{timeout: cfg.Queues[kind].Timeout, backoff: func(n int) time.Duration { return cfg.backoff(kind, n) }}
}

// Timeout implements river.Worker.
func (p Policy[T]) Timeout(*river.Job[T]) time.Duration {
	if p.timeout <= 0 {
		return -1
	}
	return p.timeout
}

// NextRetry implements river.Worker.
func (p Policy[T]) NextRetry(j *river.Job[T]) time.Time {
	return time.Now().Add(p.backoff(max(j.Attempt, 1)))
}

// list returns the rows of the jobs ids.
func (q *Queue) list(ctx context.Context, ids []int64) ([]*rivertype.JobRow, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	res, err := q.c.JobList(ctx, river.NewJobListParams().IDs(ids...).First(len(ids)))
	if err != nil {
		return nil, err
	}
	return res.Jobs, nil
}

// Unfinished lists up to limit jobs of kind that are waiting or running, newest first.
func (q *Queue) Unfinished(ctx context.Context, kind string, limit int) ([]*rivertype.JobRow, error) {
	res, err := q.c.JobList(ctx, river.NewJobListParams().Kinds(kind).
		States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit))
	if err != nil {
		return nil, err
	}
	return res.Jobs, nil
}

// Queue is the job system of one process.
type Queue struct {
	st      store.Store
	c       store.JobClient
	log     *slog.Logger
	cfg     Config
	working bool
}

// New builds the job system: NewQueue, then Connect with workers. With workers nil it
// can insert and manage jobs but does not work them (an API-only process).
func New(st store.Store, workers *river.Workers, log *slog.Logger, cfg Config) (*Queue, error) {
	q := NewQueue(st, log, cfg)
	if err := q.Connect(workers); err != nil {
		return nil, err
	}
	return q, nil
}

// NewQueue returns the job system, not yet connected to River: workers that insert
// jobs (the pipeline's steps enqueue their successors) are built with it, registered,
// and then Connect makes the River client that works them.
func NewQueue(st store.Store, log *slog.Logger, cfg Config) *Queue {
	cfg.defaults()
	return &Queue{st: st, log: log, cfg: cfg}
}

// Connect makes the River client. With workers nil the queue can insert and manage
// jobs but does not work them; otherwise it works the kinds registered in workers, one
// queue each, and never fetches a kind it does not know — such jobs wait for a process
// that does instead of failing here.
func (q *Queue) Connect(workers *river.Workers) error {
	rc := &river.Config{
		Logger:               q.log.With(slog.String("component", "river")),
		FetchPollInterval:    q.cfg.PollInterval,
		FetchCooldown:        q.cfg.FetchCooldown,
		RescueStuckJobsAfter: q.cfg.RescueAfter,
		SoftStopTimeout:      q.cfg.SoftStop,
		FetchOnlyKnownKinds:  true,
		// A process may enqueue kinds that only other processes work.
		SkipUnknownJobCheck: true,
		ID:                  q.cfg.ID,
		JobTimeout:          -1, // each worker sets its kind's timeout
	}
	if workers != nil {
		rc.Workers = workers
		rc.Queues = map[string]river.QueueConfig{}
		for k, qc := range q.cfg.Queues {
			rc.Queues[k] = river.QueueConfig{MaxWorkers: max(qc.Concurrency, 1)}
		}
	}
	c, err := q.st.Queue().NewClient(rc)
	if err != nil {
		return err
	}
	q.c, q.working = c, workers != nil
	return nil
}

// Store is the store the queue's jobs and their refs live in.
func (q *Queue) Store() store.Store { return q.st }

// Kinds names the kinds this queue knows.
func (q *Queue) Kinds() []string {
	var out []string
	for _, k := range q.cfg.Kinds {
		out = append(out, k.Name)
	}
	return out
}

// Start starts working jobs (a no-op for an insert-only queue).
func (q *Queue) Start(ctx context.Context) error {
	if !q.working {
		return nil
	}
	return q.c.Start(ctx)
}

// Stop stops fetching, lets running jobs finish within the soft-stop timeout, then
// cancels the rest, which return to the queue to be retried.
func (q *Queue) Stop(ctx context.Context) error {
	if !q.working {
		return nil
	}
	err := q.c.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return q.c.StopAndCancel(context.WithoutCancel(ctx))
	}
	return err
}

// Working reports whether this process works jobs.
func (q *Queue) Working() bool { return q.working }

// Config returns the effective configuration.
func (q *Queue) Config() Config { return q.cfg }

// ParseQueues turns per-kind settings (concurrency, timeout, attempts, backoff) into
// queue configurations over the kinds' defaults, rejecting unknown kinds, keys and
// values.
func ParseQueues(kinds []Kind, in map[string]map[string]string) (map[string]QueueConfig, error) {
	out := map[string]QueueConfig{}
	var names []string
	for _, k := range kinds {
		out[k.Name] = k.Queue
		names = append(names, k.Name)
	}
	for kind, kv := range in {
		qc, ok := out[kind]
		if !ok {
			return nil, fmt.Errorf("unknown job kind %q (kinds: %v)", kind, names)
		}
		for k, v := range kv {
			var err error
			switch k {
			case "concurrency":
				qc.Concurrency, err = strconv.Atoi(v)
				if err == nil && (qc.Concurrency < 1 || qc.Concurrency > 1000) {
					err = errors.New("must be 1-1000")
				}
			case "attempts":
				qc.MaxAttempts, err = strconv.Atoi(v)
				if err == nil && (qc.MaxAttempts < 1 || qc.MaxAttempts > 100) {
					err = errors.New("must be 1-100")
				}
			case "timeout":
				qc.Timeout, err = time.ParseDuration(v)
				if err == nil && qc.Timeout <= 0 {
					err = errors.New("must be positive")
				}
			case "backoff":
				qc.Backoff, err = time.ParseDuration(v)
				if err == nil && qc.Backoff <= 0 {
					err = errors.New("must be positive")
				}
			default:
				err = errors.New("unknown setting (concurrency, timeout, attempts, backoff)")
			}
			if err != nil {
				return nil, fmt.Errorf("%s %s=%q: %v", kind, k, v, err)
			}
		}
		out[kind] = qc
	}
	return out, nil
}
