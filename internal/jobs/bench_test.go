package jobs

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
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
