package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibecoder/vibecoder/internal/store"
)

type chainArgs struct{ Fail bool }

func (chainArgs) Kind() string { return "test_chain" }

type chainWorker struct {
	Policy[chainArgs]
	h *harness
}

// Work writes a task, enqueues an echo job and completes itself, all in one
// transaction; with Fail, before fails and none of it happens.
func (w *chainWorker) Work(ctx context.Context, j *river.Job[chainArgs]) error {
	return Advance(ctx, w.h.q, j, w.h.user, w.h.project, nil, echoArgs{Msg: "next"}, func(ctx context.Context) error {
		if err := w.h.st.CreateTask(ctx, &store.Task{UserID: w.h.user, ProjectID: w.h.project, Title: "step output"}); err != nil {
			return err
		}
		if j.Args.Fail {
			return river.JobCancel(context.Canceled)
		}
		return nil
	})
}

func TestAdvanceIsAtomic(t *testing.T) {
	dialects(t, func(t *testing.T, d string) {
		cfg := testConfig()
		cfg.Queues["test_chain"] = cfg.Queues["test_echo"]
		// The chain worker needs the harness, which registers workers: build it in two steps.
		h := &harness{}
		cw := &chainWorker{Policy: PolicyFor[chainArgs](cfg, "test_chain"), h: h}
		*h = *newHarnessWith(t, d, cfg, cw)
		j, err := h.q.Enqueue(t.Context(), h.user, h.project, nil, chainArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.waitState(t, j.ID, rivertype.JobStateCompleted)
		list, err := h.q.List(t.Context(), h.user, h.project, 0, 10)
		if err != nil || len(list) != 2 || list[0].Kind != "test_echo" {
			t.Fatalf("after Advance: %+v %v", list, err)
		}
		h.waitState(t, list[0].ID, rivertype.JobStateCompleted)
		tasks, _ := h.st.ListTasks(t.Context(), h.user, h.project, store.Page{})
		if len(tasks) != 1 {
			t.Fatalf("step output tasks: %d", len(tasks))
		}

		failing, err := h.q.Enqueue(t.Context(), h.user, h.project, nil, chainArgs{Fail: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.waitState(t, failing.ID, rivertype.JobStateCancelled)
		list, _ = h.q.List(t.Context(), h.user, h.project, 0, 10)
		tasks, _ = h.st.ListTasks(t.Context(), h.user, h.project, store.Page{})
		if len(list) != 3 || len(tasks) != 1 {
			t.Fatalf("a failed Advance left %d jobs (want 3) and %d tasks (want 1)", len(list), len(tasks))
		}
	})
}

// TestHandOffWakesTheNextQueue: with polling as good as off (once an hour), a chain of
// steps still runs to its end on SQLite: each Advance's commit wakes the next step's
// queue (store/sqlite delivers the insert notification in process; its own test checks
// that path alone). Steps follow one another within milliseconds, inside River's fetch
// cooldown. Until the wake, the chain stopped at its first job. PostgreSQL is left out:
// there River's NOTIFY wakes a queue at most once per fetch cooldown, and a job handed
// to a queue sooner than that after another waits for the poll.
func TestHandOffWakesTheNextQueue(t *testing.T) {
	runHandOffs(t, "sqlite", 12, 0, time.Hour)
}
