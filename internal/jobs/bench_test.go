package jobs

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Job-system benchmarks (run with: go test -run '^$' -bench Jobs -benchtime 1x ./internal/jobs/).
// They report no-op jobs completed per second and the time from insert to start.

type noopArgs struct{}

func (noopArgs) Kind() string { return "bench_noop" }

type noopWorker struct {
	Policy[noopArgs]
	mu      sync.Mutex
	started []time.Duration // insert → start
	done    chan struct{}
	want    int
	n       int
}

func (w *noopWorker) Work(ctx context.Context, j *river.Job[noopArgs]) error {
	lag := time.Since(j.CreatedAt)
	w.mu.Lock()
	w.started = append(w.started, lag)
	w.n++
	if w.n == w.want {
		close(w.done)
	}
	w.mu.Unlock()
	return nil
}

func benchQueue(b *testing.B, dialect string, w *noopWorker, concurrency int) *Queue {
	st := openStore(b, dialect)
	cfg := Config{Queues: map[string]QueueConfig{"bench_noop": {Concurrency: concurrency, Timeout: time.Minute, MaxAttempts: 1, Backoff: time.Second}},
		PollInterval: 250 * time.Millisecond, FetchCooldown: 10 * time.Millisecond, SoftStop: time.Second}
	w.Policy = PolicyFor[noopArgs](cfg, "bench_noop")
	workers := river.NewWorkers()
	river.AddWorker(workers, w)
	q, err := New(st, workers, slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return q
}

// insertMany inserts n no-op jobs in batches, outside any tenant transaction.
func insertMany(ctx context.Context, q *Queue, n int) error {
	params := make([]river.InsertManyParams, 0, 1000)
	flush := func() error {
		if len(params) == 0 {
			return nil
		}
		_, err := q.c.(interface {
			InsertManyFast(context.Context, []river.InsertManyParams) (int, error)
		}).InsertManyFast(ctx, params)
		params = params[:0]
		return err
	}
	for i := 0; i < n; i++ {
		params = append(params, river.InsertManyParams{Args: noopArgs{}, InsertOpts: &river.InsertOpts{Queue: "bench_noop", MaxAttempts: 1}})
		if len(params) == cap(params) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// BenchmarkJobsThroughput: N queued no-op jobs, then a worker pool drains them.
func BenchmarkJobsThroughput(b *testing.B) {
	for _, d := range []string{"sqlite", "postgres"} {
		b.Run(d, func(b *testing.B) {
			const n = 5000
			for range b.N {
				w := &noopWorker{done: make(chan struct{}), want: n}
				q := benchQueue(b, d, w, 500)
				ctx := context.Background()
				if err := insertMany(ctx, q, n); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := q.Start(ctx); err != nil {
					b.Fatal(err)
				}
				<-w.done
				took := time.Since(start)
				b.ReportMetric(float64(n)/took.Seconds(), "jobs/s")
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_ = q.Stop(sctx)
				cancel()
			}
		})
	}
}

// BenchmarkJobsInsertToStart: jobs inserted one by one into a running, idle queue;
// the time from insert to the worker starting it.
func BenchmarkJobsInsertToStart(b *testing.B) {
	for _, d := range []string{"sqlite", "postgres"} {
		b.Run(d, func(b *testing.B) {
			const n = 100
			w := &noopWorker{done: make(chan struct{}), want: n * b.N}
			q := benchQueue(b, d, w, 10)
			ctx := context.Background()
			if err := q.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer func() {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				_ = q.Stop(sctx)
			}()
			for range b.N * n {
				opts := &river.InsertOpts{Queue: "bench_noop", MaxAttempts: 1}
				_, err := q.c.(interface {
					Insert(context.Context, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error)
				}).Insert(ctx, noopArgs{}, opts)
				if err != nil {
					b.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond) // an idle queue between jobs
			}
			<-w.done
			w.mu.Lock()
			lags := slices.Clone(w.started)
			w.mu.Unlock()
			slices.Sort(lags)
			b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lags[len(lags)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}

// Step hand-off: a chain of steps alternating between two kinds, each in its own
// queue (as a pipeline's codegen → testrun → review → pr), each working a while and
// then ending with Advance, which inserts the next step's job in the transaction that
// completes its own. The figure is the time from that insert to the next step's start,
// under the server's settings (poll 250 ms, River's fetch cooldown).

type stepAArgs struct{ Left int }

func (stepAArgs) Kind() string { return "bench_step_a" }
func (a stepAArgs) left() int  { return a.Left }

type stepBArgs struct{ Left int }

func (stepBArgs) Kind() string { return "bench_step_b" }
func (a stepBArgs) left() int  { return a.Left }

type handOffBench struct {
	q             *Queue
	user, project uuid.UUID
	n             int // hand-offs
	mu            sync.Mutex
	lags          []time.Duration
	done          chan struct{}
}

type stepWorker[T interface {
	river.JobArgs
	left() int
}] struct {
	Policy[T]
	b    *handOffBench
	next func(left int) river.JobArgs
	work time.Duration
}

func (w *stepWorker[T]) Work(ctx context.Context, j *river.Job[T]) error {
	lag := time.Since(j.CreatedAt)
	if j.Args.left() < w.b.n { // inserted by a step, not by the benchmark
		w.b.mu.Lock()
		w.b.lags = append(w.b.lags, lag)
		w.b.mu.Unlock()
	}
	// The step's work: longer than the fetch cooldown, as real steps are, and of varied
	// length, as theirs is, so the chain does not fall into step with the polls.
	if w.work > 0 {
		time.Sleep(w.work + rand.N(w.work))
	}
	left := j.Args.left()
	var next river.JobArgs
	if left > 0 {
		next = w.next(left - 1)
	}
	err := Advance(ctx, w.b.q, j, w.b.user, w.b.project, nil, next, nil)
	if left == 0 {
		close(w.b.done)
	}
	return err
}

// BenchmarkJobsHandOff: a chain of 30 hand-offs, each step working 150-300 ms.
func BenchmarkJobsHandOff(b *testing.B) {
	for _, d := range []string{"sqlite", "postgres"} {
		b.Run(d, func(b *testing.B) {
			const n, work = 30, 150 * time.Millisecond
			var all []time.Duration
			for range b.N {
				all = append(all, runHandOffs(b, d, n, work, 0)...)
			}
			slices.Sort(all)
			b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(all[len(all)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}

// runHandOffs runs a chain of n hand-offs, each step working between work and twice
// that, with queues polling every poll (0: the default), and returns each step's
// insert → start time; it fails if the chain has not ended a minute after it should.
func runHandOffs(b testing.TB, dialect string, n int, work, poll time.Duration) []time.Duration {
	st := openStore(b, dialect)
	u := &store.User{Email: "handoff@example.com", PasswordHash: "x"}
	if err := st.CreateUser(b.Context(), u); err != nil {
		b.Fatal(err)
	}
	p := &store.Project{UserID: u.ID, Name: "p", RepoURL: "/srv/p", DefaultBranch: "main"}
	if err := st.CreateProject(b.Context(), p); err != nil {
		b.Fatal(err)
	}
	step := QueueConfig{Concurrency: 1, Timeout: time.Minute, MaxAttempts: 1, Backoff: time.Second}
	cfg := Config{Queues: map[string]QueueConfig{"bench_step_a": step, "bench_step_b": step}, PollInterval: poll, SoftStop: time.Second}
	hb := &handOffBench{user: u.ID, project: p.ID, n: n, done: make(chan struct{})}
	workers := river.NewWorkers()
	river.AddWorker(workers, &stepWorker[stepAArgs]{Policy: PolicyFor[stepAArgs](cfg, "bench_step_a"), b: hb, work: work,
		next: func(left int) river.JobArgs { return stepBArgs{Left: left} }})
	river.AddWorker(workers, &stepWorker[stepBArgs]{Policy: PolicyFor[stepBArgs](cfg, "bench_step_b"), b: hb, work: work,
		next: func(left int) river.JobArgs { return stepAArgs{Left: left} }})
	q, err := New(st, workers, slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		b.Fatal(err)
	}
	hb.q = q
	ctx := context.Background()
	if err := q.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = q.Stop(sctx)
	}()
	if _, err := q.Enqueue(ctx, u.ID, p.ID, nil, stepAArgs{Left: n}, nil); err != nil {
		b.Fatal(err)
	}
	select {
	case <-hb.done:
	case <-time.After(time.Duration(n)*2*work + time.Minute):
		hb.mu.Lock()
		defer hb.mu.Unlock()
		b.Fatalf("the chain stopped after %d of %d hand-offs", len(hb.lags), n)
	}
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if len(hb.lags) != n {
		b.Fatalf("%d hand-offs, want %d", len(hb.lags), n)
	}
	return slices.Clone(hb.lags)
}
