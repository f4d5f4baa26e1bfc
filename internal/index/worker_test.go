package index_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/jobs"
	"github.com/vibecoder/vibecoder/internal/store"
)

// workerHarness is a job queue working index jobs with a stand-in indexer, on a store
// with one user and project.
type workerHarness struct {
	st            store.Store
	q             *jobs.Queue
	cfg           jobs.Config
	user, project uuid.UUID
}

func newWorkerHarness(t *testing.T, dialect string, qc jobs.QueueConfig, ix index.Runner) *workerHarness {
	t.Helper()
	st := openStore(t, dialect)
	u := &store.User{Email: "index-worker@example.com", PasswordHash: "x"}
	must(t, st.CreateUser(t.Context(), u))
	p := &store.Project{UserID: u.ID, Name: "p", RepoURL: "/srv/p", DefaultBranch: "main"}
	must(t, st.CreateProject(t.Context(), p))
	cfg := jobs.Config{Kinds: []jobs.Kind{index.JobKind}, Queues: map[string]jobs.QueueConfig{index.KindIndex: qc},
		PollInterval: 100 * time.Millisecond, SoftStop: 2 * time.Second}
	workers := river.NewWorkers()
	river.AddWorker(workers, index.NewWorker(cfg, st, ix, jobs.NewEvents(st, jobs.NewHub()), slog.New(slog.DiscardHandler)))
	q, err := jobs.New(st, workers, slog.New(slog.DiscardHandler), cfg)
	must(t, err)
	must(t, q.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
	return &workerHarness{st: st, q: q, cfg: cfg, user: u.ID, project: p.ID}
}

func (h *workerHarness) status(t *testing.T) string {
	t.Helper()
	p, err := h.st.GetProject(t.Context(), h.user, h.project)
	must(t, err)
	return p.IndexStatus
}

func (h *workerHarness) waitStatus(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); h.status(t) != want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("index_status = %q, want %q", h.status(t), want)
		}
	}
}

func (h *workerHarness) waitState(t *testing.T, id int64, want rivertype.JobState) *jobs.Job {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		j, err := h.q.Get(t.Context(), h.user, id)
		must(t, err)
		if j.State == string(want) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %s after 60s, want %s (errors %v)", id, j.State, want, j.Errors)
		}
	}
}

func bothDialects(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// blockRunner blocks until its context ends.
type blockRunner struct{ started chan struct{} }

func (b *blockRunner) Index(ctx context.Context, _ *store.Project, _ func(index.Event)) (index.Stats, error) {
	b.started <- struct{}{}
	<-ctx.Done()
	return index.Stats{}, ctx.Err()
}

// TestCancelledIndexJob: cancelling a project's index job leaves the project's
// index_status truthful, whether the job was waiting (no worker will ever see it) or
// running (its worker sees the cancellation).
func TestCancelledIndexJob(t *testing.T) {
	bothDialects(t, func(t *testing.T, d string) {
		qc := jobs.QueueConfig{Concurrency: 1, Timeout: time.Minute, MaxAttempts: 3, Backoff: time.Millisecond}
		ix := &blockRunner{started: make(chan struct{}, 10)}
		h := newWorkerHarness(t, d, qc, ix)
		p, err := h.st.GetProject(t.Context(), h.user, h.project)
		must(t, err)

		// Running: the worker records the cancellation.
		running, err := index.Enqueue(t.Context(), h.q, p)
		must(t, err)
		<-ix.started
		h.waitStatus(t, store.IndexRunning)
		// Waiting behind it (concurrency 1): cancelling this one leaves the running one's status.
		waiting, err := index.Enqueue(t.Context(), h.q, p)
		must(t, err)
		if got := h.status(t); got != store.IndexQueued {
			t.Fatalf("after the second enqueue index_status = %q", got)
		}
		if j, err := h.q.Cancel(t.Context(), h.user, waiting.ID); err != nil || j.State != string(rivertype.JobStateCancelled) {
			t.Fatalf("cancel the waiting job: %+v, %v", j, err)
		}
		if got := h.status(t); got != store.IndexRunning {
			t.Fatalf("a waiting index job cancelled while another runs: index_status = %q, want %q", got, store.IndexRunning)
		}
		_, err = h.q.Cancel(t.Context(), h.user, running.ID)
		must(t, err)
		h.waitState(t, running.ID, rivertype.JobStateCancelled)
		h.waitStatus(t, store.IndexCancelled)

		// Waiting with nothing running: an insert-only queue (an API process) queues a job no
		// process here works, and cancels it.
		api, err := jobs.New(h.st, nil, slog.New(slog.DiscardHandler), h.cfg)
		must(t, err)
		must(t, h.q.Stop(t.Context()))
		queued, err := index.Enqueue(t.Context(), api, p)
		must(t, err)
		if got := h.status(t); got != store.IndexQueued {
			t.Fatalf("after enqueue index_status = %q", got)
		}
		if j, err := api.Cancel(t.Context(), h.user, queued.ID); err != nil || j.State != string(rivertype.JobStateCancelled) {
			t.Fatalf("cancel the queued job: %+v, %v", j, err)
		}
		if got := h.status(t); got != store.IndexCancelled {
			t.Fatalf("a queued index job was cancelled: index_status = %q, want %q", got, store.IndexCancelled)
		}
	})
}

// slowOnceRunner outlasts its job's timeout on the first attempt and finishes at once
// on the next.
type slowOnceRunner struct{ calls atomic.Int64 }

func (s *slowOnceRunner) Index(ctx context.Context, _ *store.Project, _ func(index.Event)) (index.Stats, error) {
	if s.calls.Add(1) == 1 {
		<-ctx.Done()
		return index.Stats{}, ctx.Err()
	}
	return index.Stats{FilesIndexed: 1}, nil
}

// TestIndexTimeoutTellsTheRetry: an attempt stopped by its timeout is retried by River,
// so its event says will_retry true (with the reason) and the project shows "queued",
// not "failed"; the retry then finishes it.
func TestIndexTimeoutTellsTheRetry(t *testing.T) {
	bothDialects(t, func(t *testing.T, d string) {
		qc := jobs.QueueConfig{Concurrency: 1, Timeout: 5 * time.Second, MaxAttempts: 3, Backoff: time.Millisecond}
		h := newWorkerHarness(t, d, qc, &slowOnceRunner{})
		p, err := h.st.GetProject(t.Context(), h.user, h.project)
		must(t, err)
		j, err := index.Enqueue(t.Context(), h.q, p)
		must(t, err)
		if done := h.waitState(t, j.ID, rivertype.JobStateCompleted); done.Attempt != 2 {
			t.Fatalf("finished at attempt %d, want 2", done.Attempt)
		}
		evs, err := h.st.ListEvents(t.Context(), h.user, store.EventFilter{ProjectID: h.project, Limit: 100})
		must(t, err)
		var failed []map[string]any
		var types []string
		for _, ev := range evs {
			types = append(types, ev.Type)
			if ev.Type == "index.failed" {
				var m map[string]any
				must(t, json.Unmarshal(ev.Data, &m))
				failed = append(failed, m)
			}
		}
		if len(failed) != 1 || failed[0]["will_retry"] != true || failed[0]["reason"] != "timeout" {
			t.Fatalf("index.failed events %v (all: %v), want one with will_retry true and reason timeout", failed, types)
		}
		if types[len(types)-1] != "index.finished" {
			t.Fatalf("events %v: the retry's finish is not last", types)
		}
		if got := h.status(t); got != store.IndexReady {
			t.Fatalf("index_status %q, want ready", got)
		}
	})
}
