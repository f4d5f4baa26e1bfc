package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibecoder/vibecoder/internal/observe"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/postgres"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

type echoArgs struct{ Msg string }

func (echoArgs) Kind() string { return "test_echo" }

type echoWorker struct {
	Policy[echoArgs]
	st    store.Store
	ran   atomic.Int64
	reqID atomic.Value // the request id the job carried
}

func (w *echoWorker) Work(ctx context.Context, j *river.Job[echoArgs]) error {
	w.reqID.Store(observe.RequestID(WithJobContext(ctx, j.Metadata)))
	w.ran.Add(1)
	return nil
}

type failArgs struct{}

func (failArgs) Kind() string { return "test_fail" }

type failWorker struct{ Policy[failArgs] }

func (w *failWorker) Work(ctx context.Context, j *river.Job[failArgs]) error {
	return fmt.Errorf("attempt %d failed on purpose", j.Attempt)
}

type blockArgs struct{}

func (blockArgs) Kind() string { return "test_block" }

type blockWorker struct {
	Policy[blockArgs]
	started   chan int64
	cancelled atomic.Int64
	finish    chan struct{} // closed: jobs return nil at once
}

func (w *blockWorker) Work(ctx context.Context, j *river.Job[blockArgs]) error {
	w.started <- j.ID
	select {
	case <-ctx.Done():
		w.cancelled.Add(1)
		return ctx.Err()
	case <-w.finish:
		return nil
	}
}

type futureArgs struct{}

func (futureArgs) Kind() string { return "from_a_later_version" }

type harness struct {
	st      store.Store
	q       *Queue
	user    uuid.UUID
	project uuid.UUID
	echo    *echoWorker
	block   *blockWorker
}

func testConfig() Config {
	fast := QueueConfig{Concurrency: 2, Timeout: time.Minute, MaxAttempts: 3, Backoff: time.Millisecond}
	return Config{
		Queues:       map[string]QueueConfig{"test_echo": fast, "test_fail": fast, "test_block": fast},
		PollInterval: 100 * time.Millisecond,
		SoftStop:     2 * time.Second,
	}
}

func openStore(t testing.TB, dialect string) store.Store {
	t.Helper()
	var st store.Store
	switch dialect {
	case "sqlite":
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "jobs.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		st = s
	default:
		s, err := postgres.Open(t.Context(), testutil.PostgresDSN(t), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		st = s
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

func newHarness(t *testing.T, dialect string, cfg Config) *harness {
	t.Helper()
	return newHarnessWith(t, dialect, cfg)
}

// newHarnessWith also registers extra workers: a *chainWorker, or a func that adds its own.
func newHarnessWith(t *testing.T, dialect string, cfg Config, extra ...any) *harness {
	t.Helper()
	st := openStore(t, dialect)
	u := &store.User{Email: "jobs@example.com", PasswordHash: "x"}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	p := &store.Project{UserID: u.ID, Name: "p", RepoURL: "/srv/p", DefaultBranch: "main"}
	if err := st.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	h := &harness{st: st, user: u.ID, project: p.ID}
	workers := river.NewWorkers()
	h.echo = &echoWorker{Policy: PolicyFor[echoArgs](cfg, "test_echo"), st: st}
	h.block = &blockWorker{Policy: PolicyFor[blockArgs](cfg, "test_block"), started: make(chan int64, 10), finish: make(chan struct{})}
	river.AddWorker(workers, h.echo)
	river.AddWorker(workers, &failWorker{Policy: PolicyFor[failArgs](cfg, "test_fail")})
	river.AddWorker(workers, h.block)
	for _, w := range extra {
		switch w := w.(type) {
		case *chainWorker:
			river.AddWorker(workers, w)
		case func(store.Store, *river.Workers):
			w(st, workers)
		}
	}
	q, err := New(st, workers, slog.New(slog.DiscardHandler), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.q = q
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
	return h
}

func dialects(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// waitState polls the job until it reaches state, failing after a generous deadline.
func (h *harness) waitState(t *testing.T, id int64, want rivertype.JobState) *Job {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := h.q.Get(t.Context(), h.user, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == string(want) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %s after 60s, want %s (errors %v)", id, j.State, want, j.Errors)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestJobCommitsWithItsRows(t *testing.T) {
	dialects(t, func(t *testing.T, d string) {
		h := newHarness(t, d, testConfig())
		boom := errors.New("boom")
		var taskID uuid.UUID
		_, err := h.q.Enqueue(t.Context(), h.user, h.project, nil, echoArgs{Msg: "never"}, func(ctx context.Context) error {
			tk := &store.Task{UserID: h.user, ProjectID: h.project, Title: "rolled back with its job"}
			if err := h.st.CreateTask(ctx, tk); err != nil {
				return err
			}
			taskID = tk.ID
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Enqueue: %v", err)
		}
		if jobs, _ := h.q.List(t.Context(), h.user, h.project, 0, 10); len(jobs) != 0 {
			t.Fatalf("a job survived its rolled-back transaction: %+v", jobs)
		}
		if _, err := h.st.GetTask(t.Context(), h.user, taskID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("task survived: %v", err)
		}

		j, err := h.q.Enqueue(observe.WithRequestID(t.Context(), "req-42"), h.user, h.project, nil, echoArgs{Msg: "hi"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		done := h.waitState(t, j.ID, rivertype.JobStateCompleted)
		if got, _ := h.echo.reqID.Load().(string); got != "req-42" {
			t.Fatalf("the job ran with request id %q, want the enqueuing request's", got)
		}
		if done.Attempt != 1 || done.Kind != "test_echo" || done.Queue != "test_echo" || done.FinalizedAt == nil || h.echo.ran.Load() != 1 {
			t.Fatalf("completed job %+v, ran %d", done, h.echo.ran.Load())
		}
		list, err := h.q.List(t.Context(), h.user, h.project, 0, 10)
		if err != nil || len(list) != 1 || list[0].ID != j.ID || list[0].State != "completed" {
			t.Fatalf("List = %+v, %v", list, err)
		}
	})
}

func TestFailingJobEndsDiscardedWithErrors(t *testing.T) {
	dialects(t, func(t *testing.T, d string) {
		h := newHarness(t, d, testConfig())
		j, err := h.q.Enqueue(t.Context(), h.user, h.project, nil, failArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := h.waitState(t, j.ID, rivertype.JobStateDiscarded)
		if got.Attempt != 3 || got.MaxAttempts != 3 || len(got.Errors) != 3 || got.Errors[2].Error != "attempt 3 failed on purpose" {
			t.Fatalf("discarded job %+v", got)
		}
		// A discarded job can be retried.
		r, err := h.q.Retry(t.Context(), h.user, j.ID)
		if err != nil || r.State != string(rivertype.JobStateAvailable) {
			t.Fatalf("retry: %+v %v", r, err)
		}
	})
}

func TestUnknownKindIsNeverDiscarded(t *testing.T) {
	dialects(t, func(t *testing.T, d string) {
		h := newHarness(t, d, testConfig())
		// Another process (a newer version, insert-only here) enqueues a kind this one
		// does not know, into a queue this process works.
		newer, err := New(h.st, nil, slog.New(slog.DiscardHandler), testConfig())
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		err = h.st.InTx(t.Context(), h.user, func(ctx context.Context) error {
			row, err := newer.c.InsertTx(ctx, futureArgs{}, &river.InsertOpts{Queue: "test_echo", MaxAttempts: 1})
			if err != nil {
				return err
			}
			id = row.ID
			return h.st.CreateJobRef(ctx, &store.JobRef{JobID: id, UserID: h.user, ProjectID: h.project, Kind: futureArgs{}.Kind()})
		})
		if err != nil {
			t.Fatal(err)
		}
		// Prove the queue is being worked meanwhile: a known job completes after it.
		known, err := h.q.Enqueue(t.Context(), h.user, h.project, nil, echoArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.waitState(t, known.ID, rivertype.JobStateCompleted)
		time.Sleep(500 * time.Millisecond) // several more fetch rounds
		j, err := h.q.Get(t.Context(), h.user, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != string(rivertype.JobStateAvailable) || j.Attempt != 0 {
			t.Fatalf("job of an unknown kind was touched: %+v", j)
		}
	})
}

func TestCancelReachesTheWorker(t *testing.T) {
	dialects(t, func(t *testing.T, d string) {
		h := newHarness(t, d, testConfig())
		j, err := h.q.Enqueue(t.Context(), h.user, h.project, nil, blockArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := <-h.block.started; got != j.ID {
			t.Fatalf("started job %d, want %d", got, j.ID)
		}
		if _, err := h.q.Cancel(t.Context(), h.user, j.ID); err != nil {
			t.Fatal(err)
		}
		h.waitState(t, j.ID, rivertype.JobStateCancelled)
		if h.block.cancelled.Load() != 1 {
			t.Fatal("the running worker's context was not cancelled")
		}
		// Another user cannot see, cancel or retry it.
		other := &store.User{Email: "other@example.com", PasswordHash: "x"}
		if err := h.st.CreateUser(t.Context(), other); err != nil {
			t.Fatal(err)
		}
		for name, op := range map[string]func() error{
			"get":    func() error { _, err := h.q.Get(t.Context(), other.ID, j.ID); return err },
			"cancel": func() error { _, err := h.q.Cancel(t.Context(), other.ID, j.ID); return err },
			"retry":  func() error { _, err := h.q.Retry(t.Context(), other.ID, j.ID); return err },
		} {
			if err := op(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s as another user: %v", name, err)
			}
		}
	})
}

// TestGracefulStop: a stopping process lets a job that finishes in time complete, and
// cancels one that does not, which goes back to the queue to be retried.
func TestGracefulStop(t *testing.T) {
	dialects(t, func(t *testing.T, d string) {
		cfg := testConfig()
		cfg.SoftStop = 300 * time.Millisecond
		h := newHarness(t, d, cfg)
		j, err := h.q.Enqueue(t.Context(), h.user, h.project, nil, blockArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-h.block.started
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.q.Stop(ctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if h.block.cancelled.Load() != 1 {
			t.Fatal("a job still running after the soft-stop timeout was not cancelled")
		}
		got, err := h.q.Get(t.Context(), h.user, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != string(rivertype.JobStateRetryable) && got.State != string(rivertype.JobStateAvailable) {
			t.Fatalf("cancelled-by-shutdown job is %s, want back in the queue", got.State)
		}
	})
}
