package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/jobs"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
)

// stateFixture is a pipeline on a real (SQLite) store with one queued execution, for
// driving a step worker's state machine directly: what a step's outcome does to the
// execution, its task and its events, whatever the step did.
type stateFixture struct {
	p    *Pipeline
	st   store.Store
	e    *store.Execution
	task *store.Task
}

func newStateFixture(t *testing.T) *stateFixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	u := &store.User{Email: "state@example.com", PasswordHash: "x"}
	mustState(t, st.CreateUser(t.Context(), u))
	proj := &store.Project{UserID: u.ID, Name: "p", RepoURL: "https://github.com/acme/p.git", DefaultBranch: "main"}
	mustState(t, st.CreateProject(t.Context(), proj))
	task := &store.Task{UserID: u.ID, ProjectID: proj.ID, Title: "t"}
	mustState(t, st.CreateTask(t.Context(), task))
	d, _ := json.Marshal(&Details{Steps: []Step{}, Tests: []TestRun{}, Edits: []EditRound{}})
	e := &store.Execution{UserID: u.ID, TaskID: task.ID, Status: store.ExecQueued, Step: KindCodegen, Details: d}
	mustState(t, st.CreateExecution(t.Context(), e))
	git, err := gitops.NewWorkspaces(slog.New(slog.DiscardHandler), gitops.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Deps{Store: st, Events: jobs.NewEvents(st, jobs.NewHub()), Log: slog.New(slog.DiscardHandler), Git: git},
		Config{DataDir: t.TempDir()})
	return &stateFixture{p: p, st: st, e: e, task: task}
}

// work runs a codegen worker whose step is fn, as attempt attempt of max.
func (f *stateFixture) work(ctx context.Context, attempt, max int, fn func(ctx context.Context, job *river.Job[CodegenArgs]) error) error {
	w := &stepWorker[CodegenArgs]{p: f.p, run: fn}
	return w.Work(ctx, &river.Job[CodegenArgs]{
		JobRow: &rivertype.JobRow{ID: 1, Kind: KindCodegen, Attempt: attempt, MaxAttempts: max},
		Args:   CodegenArgs{UserID: f.e.UserID, ExecutionID: f.e.ID},
	})
}

// step is a codegen step that records work (a coder answer, tokens) and then ends
// with err.
func (f *stateFixture) step(err error) func(ctx context.Context, job *river.Job[CodegenArgs]) error {
	return func(ctx context.Context, job *river.Job[CodegenArgs]) error {
		st, oerr := f.p.open(ctx, job.Args.UserID, job.Args.ExecutionID)
		if oerr != nil || st == nil {
			return oerr
		}
		if berr := f.p.begin(ctx, st.e, st.d, KindCodegen, job.Attempt); berr != nil {
			return berr
		}
		st.d.CoderOutput = "an answer"
		st.e.TokensIn += 100
		return err
	}
}

func (f *stateFixture) load(t *testing.T) (*store.Execution, *Details, *store.Task, []string) {
	t.Helper()
	e, d, err := f.p.load(t.Context(), f.e.UserID, f.e.ID)
	mustState(t, err)
	task, err := f.st.GetTask(t.Context(), f.e.UserID, f.task.ID)
	mustState(t, err)
	evs, err := f.st.ListEvents(t.Context(), f.e.UserID, store.EventFilter{ProjectID: e.ProjectID, ExecutionID: e.ID, Limit: 100})
	mustState(t, err)
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type)
	}
	return e, d, task, types
}

func lastStep(d *Details) Step {
	if len(d.Steps) == 0 {
		return Step{}
	}
	return d.Steps[len(d.Steps)-1]
}

// TestStepStateMachine: how a step's outcome moves its execution.
func TestStepStateMachine(t *testing.T) {
	t.Run("permanent failure fails the execution at once, keeping the step's record", func(t *testing.T) {
		f := newStateFixture(t)
		err := f.work(t.Context(), 1, 3, f.step(fail("the coder proposed nothing")))
		var cancel *river.JobCancelError
		if !errors.As(err, &cancel) {
			t.Fatalf("Work returned %v, want a River cancel (no retry)", err)
		}
		e, d, task, events := f.load(t)
		if e.Status != store.ExecFailed || e.Error != "the coder proposed nothing" || e.FinishedAt == nil {
			t.Fatalf("execution %s %q", e.Status, e.Error)
		}
		if d.CoderOutput != "an answer" || e.TokensIn != 100 || lastStep(d).Status != "failed" {
			t.Fatalf("the step's record was lost: output %q, tokens %d, step %+v", d.CoderOutput, e.TokensIn, lastStep(d))
		}
		if task.Status != store.TaskFailed || events[len(events)-1] != "execution.finished" {
			t.Fatalf("task %s, events %v", task.Status, events)
		}
	})
	t.Run("an error with attempts left goes back to the queue", func(t *testing.T) {
		f := newStateFixture(t)
		boom := errors.New("provider hiccup")
		if err := f.work(t.Context(), 1, 3, f.step(boom)); !errors.Is(err, boom) {
			t.Fatalf("Work returned %v, want the step's error (River retries it)", err)
		}
		e, d, task, events := f.load(t)
		if e.Status != store.ExecRunning || e.FinishedAt != nil || task.Status == store.TaskFailed {
			t.Fatalf("execution %s, task %s: want still running", e.Status, task.Status)
		}
		if s := lastStep(d); s.Status != "failed" || s.Error != "provider hiccup" || e.TokensIn != 100 {
			t.Fatalf("the try's timeline entry %+v, tokens %d", s, e.TokensIn)
		}
		if events[len(events)-1] != "step.retry" {
			t.Fatalf("events %v, want step.retry last", events)
		}
	})
	t.Run("the last attempt's error fails the execution", func(t *testing.T) {
		f := newStateFixture(t)
		if err := f.work(t.Context(), 3, 3, f.step(errors.New("still down"))); err == nil {
			t.Fatal("Work returned nil")
		}
		e, _, task, _ := f.load(t)
		if e.Status != store.ExecFailed || !strings.Contains(e.Error, "codegen failed after 3 attempts: still down") || task.Status != store.TaskFailed {
			t.Fatalf("execution %s %q, task %s", e.Status, e.Error, task.Status)
		}
	})
	t.Run("a cancel by the user cancels the execution", func(t *testing.T) {
		f := newStateFixture(t)
		ctx, cancel := context.WithCancelCause(t.Context())
		err := f.work(ctx, 1, 3, func(ctx context.Context, job *river.Job[CodegenArgs]) error {
			if err := f.step(nil)(ctx, job); err != nil {
				return err
			}
			cancel(river.ErrJobCancelledRemotely)
			return context.Cause(ctx)
		})
		if err == nil {
			t.Fatal("Work returned nil")
		}
		e, d, task, _ := f.load(t)
		if e.Status != store.ExecCancelled || task.Status != store.TaskCancelled || d.CoderOutput != "an answer" {
			t.Fatalf("execution %s, task %s, output %q", e.Status, task.Status, d.CoderOutput)
		}
	})
	t.Run("a step of a finished execution does nothing", func(t *testing.T) {
		f := newStateFixture(t)
		mustState(t, f.work(t.Context(), 1, 3, f.step(fail("done for"))))
		before, _, _, events := f.load(t)
		ran := false
		if err := f.work(t.Context(), 1, 3, func(ctx context.Context, job *river.Job[CodegenArgs]) error {
			ran = true
			return f.step(errors.New("late"))(ctx, job)
		}); err != nil {
			t.Fatalf("a step of a finished execution: %v", err)
		}
		after, _, _, eventsAfter := f.load(t)
		if !ran || after.Status != before.Status || after.Error != before.Error || len(eventsAfter) != len(events) {
			t.Fatalf("the finished execution changed: %s %q → %s %q, events %d → %d", before.Status, before.Error, after.Status, after.Error, len(events), len(eventsAfter))
		}
	})
}

func mustState(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		var c *river.JobCancelError
		if errors.As(err, &c) {
			return // a permanent failure's River cancel, expected where used
		}
		t.Fatal(err)
	}
}
