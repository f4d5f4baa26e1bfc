package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/vibecoder/vibecoder/internal/store"
)

// testInTx: writes made with InTx's context commit together, or not at all.
func testInTx(t *testing.T, s store.Store) {
	u := newUser(t, s)
	p := newProject(t, s, u)
	boom := errors.New("boom")
	var tk store.Task
	err := s.InTx(ctx(t), u.ID, func(ctx context.Context) error {
		tk = store.Task{UserID: u.ID, ProjectID: p.ID, Title: "rolled back"}
		if err := s.CreateTask(ctx, &tk); err != nil {
			return err
		}
		// Reads inside the transaction see its writes.
		if _, err := s.GetTask(ctx, u.ID, tk.ID); err != nil {
			t.Fatalf("read own write inside InTx: %v", err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx returned %v, want fn's error", err)
	}
	_, err = s.GetTask(ctx(t), u.ID, tk.ID)
	wantErr(t, err, store.ErrNotFound, "task of a rolled-back transaction")

	var e store.Execution
	must(t, s.InTx(ctx(t), u.ID, func(ctx context.Context) error {
		tk = store.Task{UserID: u.ID, ProjectID: p.ID, Title: "kept"}
		if err := s.CreateTask(ctx, &tk); err != nil {
			return err
		}
		e = store.Execution{UserID: u.ID, TaskID: tk.ID}
		if err := s.CreateExecution(ctx, &e); err != nil {
			return err
		}
		return s.CreateJobRef(ctx, &store.JobRef{JobID: 4242, UserID: u.ID, ProjectID: p.ID, ExecutionID: &e.ID, Kind: "codegen"})
	}))
	if _, err := s.GetExecution(ctx(t), u.ID, e.ID); err != nil {
		t.Fatalf("committed execution: %v", err)
	}
	if _, err := s.GetJobRef(ctx(t), u.ID, 4242); err != nil {
		t.Fatalf("committed job ref: %v", err)
	}
}

func testJobRefsAndEvents(t *testing.T, s store.Store) {
	a, b := newUser(t, s), newUser(t, s)
	p := newProject(t, s, a)
	e := newExecution(t, s, newTask(t, s, p))
	for _, id := range []int64{10, 11, 12} {
		must(t, s.CreateJobRef(ctx(t), &store.JobRef{JobID: id, UserID: a.ID, ProjectID: p.ID, Kind: "index"}))
	}
	wantErr(t, s.CreateJobRef(ctx(t), &store.JobRef{JobID: 13, UserID: b.ID, ProjectID: p.ID, Kind: "index"}), store.ErrNotFound, "b's job ref on a's project")
	refs, err := s.ListJobRefs(ctx(t), a.ID, p.ID, 0, 2)
	must(t, err)
	if len(refs) != 2 || refs[0].JobID != 12 || refs[1].JobID != 11 || refs[0].Kind != "index" {
		t.Fatalf("ListJobRefs page 1 = %+v", refs)
	}
	refs, err = s.ListJobRefs(ctx(t), a.ID, p.ID, 11, 2)
	must(t, err)
	if len(refs) != 1 || refs[0].JobID != 10 {
		t.Fatalf("ListJobRefs page 2 = %+v", refs)
	}
	if refs, _ := s.ListJobRefs(ctx(t), b.ID, p.ID, 0, 10); len(refs) != 0 {
		t.Fatalf("b lists a's jobs: %+v", refs)
	}
	_, err = s.GetJobRef(ctx(t), b.ID, 10)
	wantErr(t, err, store.ErrNotFound, "b gets a's job")

	var ids []int64
	for i, typ := range []string{"step.started", "step.output", "step.finished"} {
		ev := &store.Event{UserID: a.ID, ProjectID: p.ID, ExecutionID: &e.ID, Type: typ, Data: json.RawMessage(`{"n":` + string(rune('0'+i)) + `}`)}
		must(t, s.AppendEvent(ctx(t), ev))
		if ev.ID == 0 || ev.CreatedAt.IsZero() {
			t.Fatalf("AppendEvent did not set id/time: %+v", ev)
		}
		ids = append(ids, ev.ID)
	}
	must(t, s.AppendEvent(ctx(t), &store.Event{UserID: a.ID, ProjectID: p.ID, Type: "index.progress"}))
	if !(ids[0] < ids[1] && ids[1] < ids[2]) {
		t.Fatalf("event ids not increasing: %v", ids)
	}
	evs, err := s.ListEvents(ctx(t), a.ID, store.EventFilter{ProjectID: p.ID, ExecutionID: e.ID, AfterID: ids[0]})
	must(t, err)
	if len(evs) != 2 || evs[0].Type != "step.output" || evs[1].ID != ids[2] || *evs[0].ExecutionID != e.ID {
		t.Fatalf("ListEvents after first = %+v", evs)
	}
	var data map[string]int
	if err := json.Unmarshal(evs[0].Data, &data); err != nil || data["n"] != 1 {
		t.Fatalf("event data %s: %v", evs[0].Data, err)
	}
	proj, err := s.ListEvents(ctx(t), a.ID, store.EventFilter{ProjectID: p.ID})
	must(t, err)
	if len(proj) != 1 || proj[0].Type != "index.progress" || string(proj[0].Data) != "{}" {
		t.Fatalf("project events = %+v", proj)
	}
	if evs, _ := s.ListEvents(ctx(t), b.ID, store.EventFilter{ProjectID: p.ID, ExecutionID: e.ID}); len(evs) != 0 {
		t.Fatalf("b reads a's events: %+v", evs)
	}
	wantErr(t, s.AppendEvent(ctx(t), &store.Event{UserID: b.ID, ProjectID: p.ID, Type: "x"}), store.ErrNotFound, "b appends to a's project")
}

func testHeartbeats(t *testing.T, s store.Store) {
	now := store.Now()
	n, err := s.LiveWorkers(ctx(t), now.Add(-time.Minute))
	must(t, err)
	if n != 0 {
		t.Fatalf("live workers before any heartbeat: %d", n)
	}
	must(t, s.Heartbeat(ctx(t), "a", now.Add(-time.Hour), now.Add(-2*time.Minute)))
	must(t, s.Heartbeat(ctx(t), "b", now, now))
	must(t, s.Heartbeat(ctx(t), "b", now, now.Add(time.Second))) // again: an update, not a second row
	n, err = s.LiveWorkers(ctx(t), now.Add(-time.Minute))
	must(t, err)
	if n != 1 {
		t.Fatalf("live workers = %d, want 1 (a is stale)", n)
	}
	must(t, s.Heartbeat(ctx(t), "a", now.Add(-time.Hour), now))
	if n, _ = s.LiveWorkers(ctx(t), now.Add(-time.Minute)); n != 2 {
		t.Fatalf("live workers = %d, want 2", n)
	}
}

func testUsageByDay(t *testing.T, s store.Store) {
	a, b := newUser(t, s), newUser(t, s)
	day1 := time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC)
	day2 := day1.Add(2 * time.Hour) // the next UTC day
	rows := []store.LLMUsage{
		{UserID: a.ID, Provider: "openai", Model: "m", PromptTokens: 10, CompletionTokens: 5, CostUSD: 0.5, CreatedAt: day1},
		{UserID: a.ID, Provider: "openai", Model: "m", PromptTokens: 10, CompletionTokens: 5, CacheHit: true, CostSavedUSD: 0.5, CreatedAt: day1},
		{UserID: a.ID, Provider: "openai", Model: "m", PromptTokens: 1, CompletionTokens: 1, CostUSD: 0.25, CreatedAt: day2},
		{UserID: b.ID, Provider: "openai", Model: "m", PromptTokens: 99, CostUSD: 9, CreatedAt: day2},
	}
	must(t, s.InsertUsage(ctx(t), rows))
	days, err := s.UsageByDay(ctx(t), a.ID, day1.Add(-time.Hour))
	must(t, err)
	if len(days) != 2 || days[0].Day != "2026-03-01" || days[1].Day != "2026-03-02" {
		t.Fatalf("days = %+v", days)
	}
	if d := days[0]; d.Calls != 2 || d.Hits != 1 || d.Tokens != 30 || d.CostUSD != 0.5 || d.CostSavedUSD != 0.5 {
		t.Fatalf("day 1 = %+v", d)
	}
	if d := days[1]; d.Calls != 1 || d.Tokens != 2 || d.CostUSD != 0.25 {
		t.Fatalf("day 2 = %+v (another user's usage must not count)", d)
	}
	if later, _ := s.UsageByDay(ctx(t), a.ID, day2.Add(time.Hour)); len(later) != 0 {
		t.Fatalf("since filter: %+v", later)
	}
}

// queueArgs is a job kind no worker knows, for inserting only.
type queueArgs struct {
	N int `json:"n"`
}

func (queueArgs) Kind() string { return "storetest_queue" }

// testQueue: the dialect's job queue inserts jobs in the store transaction of the
// context — rolled back with it, committed with it — refuses an insert outside one, and
// counts what is waiting.
func testQueue(t *testing.T, s store.Store) {
	u := newUser(t, s)
	c, err := s.Queue().NewClient(&river.Config{SkipUnknownJobCheck: true})
	must(t, err)
	opts := &river.InsertOpts{Queue: "storetest_queue"}
	if _, err := c.InsertTx(ctx(t), queueArgs{N: 0}, opts); err == nil {
		t.Fatal("a job was inserted outside a store transaction")
	}
	boom := errors.New("boom")
	var rolled int64
	err = s.InTx(ctx(t), u.ID, func(ctx context.Context) error {
		row, err := c.InsertTx(ctx, queueArgs{N: 1}, opts)
		if err != nil {
			return err
		}
		rolled = row.ID
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v", err)
	}
	if _, err := c.JobGet(ctx(t), rolled); err == nil {
		t.Fatal("a job inserted in a rolled-back transaction exists")
	}
	var kept int64
	must(t, s.InTx(ctx(t), u.ID, func(ctx context.Context) error {
		row, err := c.InsertTx(ctx, queueArgs{N: 2}, opts)
		if err == nil {
			kept = row.ID
		}
		return err
	}))
	if j, err := c.JobGet(ctx(t), kept); err != nil || j.Kind != "storetest_queue" {
		t.Fatalf("the committed job: %+v, %v", j, err)
	}
	counts, err := s.Queue().CountActive(ctx(t))
	must(t, err)
	if counts["storetest_queue"]["available"] != 1 {
		t.Fatalf("CountActive = %v, want one available storetest_queue job", counts)
	}
	if len(s.Pools()) == 0 || s.Pools()[0].Stats().MaxOpen <= 0 {
		t.Errorf("pools %+v: want at least one with a connection limit", s.Pools())
	}
}
