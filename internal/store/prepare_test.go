package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestPrepareUsage(t *testing.T) {
	before := Now()
	chosen, at := NewID(), time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	nilID, project := uuid.Nil, NewID()
	rows := []LLMUsage{
		{Model: "m\x00"},
		{ID: chosen, CreatedAt: at, Status: "rate_limited", ProjectID: &project, ExecutionID: &nilID},
	}
	PrepareUsage(rows)
	r := rows[0]
	if r.ID == uuid.Nil || r.CreatedAt.Before(before) || r.Status != "ok" || r.Model != "m"+NULReplacement ||
		r.ProjectID != nil || r.ExecutionID != nil {
		t.Errorf("defaults: got %+v", r)
	}
	r = rows[1]
	if r.ID != chosen || !r.CreatedAt.Equal(at) || r.Status != "rate_limited" || r.ProjectID != &project || r.ExecutionID != nil {
		t.Errorf("kept: got %+v", r)
	}
	PrepareUsage(nil) // nothing to do, no panic
}

func TestCheckVectors(t *testing.T) {
	vec := func(n int) ChunkVector { return ChunkVector{ChunkID: NewID(), Vector: make([]float32, n)} }
	for _, c := range []struct {
		name     string
		curModel string
		dims     int
		model    string
		vecs     []ChunkVector
		want     string // "" for no error
	}{
		{"first embeddings", "", 0, "m", []ChunkVector{vec(3), vec(3)}, ""},
		{"same model and dimension", "m", 3, "m", []ChunkVector{vec(3)}, ""},
		{"another model", "m", 3, "n", []ChunkVector{vec(3)}, `made with "m", not "n"`},
		{"another dimension", "m", 3, "m", []ChunkVector{vec(4)}, "got 4 dimensions, want 3"},
		{"mixed dimensions in the first batch", "", 0, "m", []ChunkVector{vec(3), vec(2)}, "got 2 dimensions, want 3"},
		{"empty vector", "", 0, "m", []ChunkVector{vec(0)}, "empty vector"},
		{"no vectors", "", 0, "m", nil, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckVectors(c.curModel, c.dims, c.model, c.vecs)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.want != "" && (!errors.Is(err, ErrDimensionMismatch) || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want ErrDimensionMismatch containing %q", err, c.want)
			}
		})
	}
}

func TestPrepareFiles(t *testing.T) {
	user, project, chosen, now := NewID(), NewID(), NewID(), Now()
	files := []FileChunks{
		{Path: "a.go", Chunks: []Chunk{{ID: chosen}, {Path: "elsewhere.go"}}},
		{Path: "b.go", Chunks: []Chunk{{}}},
	}
	PrepareFiles(user, project, files, now)
	for _, f := range files {
		for _, c := range f.Chunks {
			if c.ID == uuid.Nil || c.UserID != user || c.ProjectID != project || c.Path != f.Path || !c.CreatedAt.Equal(now) {
				t.Errorf("chunk of %s: got %+v", f.Path, c)
			}
		}
	}
	if files[0].Chunks[0].ID != chosen {
		t.Errorf("a chosen id was replaced")
	}
}

// TestPrepare checks the defaults every dialect's Create methods fill through the
// Prepare methods.
func TestPrepare(t *testing.T) {
	before := Now()
	fresh := func(name string, id uuid.UUID, created time.Time) {
		t.Helper()
		if id == uuid.Nil || created.Before(before) || created.Location() != time.UTC {
			t.Errorf("%s: id %s, created %s", name, id, created)
		}
	}
	chosen := NewID()

	u := &User{ID: chosen}
	u.Prepare()
	if u.ID != chosen || u.CreatedAt.IsZero() || !u.UpdatedAt.Equal(u.CreatedAt) {
		t.Errorf("user: %+v", u)
	}
	k := &APIKey{}
	k.Prepare()
	fresh("api key", k.ID, k.CreatedAt)
	s := &Session{}
	s.Prepare()
	if s.CreatedAt.Before(before) || !s.LastSeenAt.Equal(s.CreatedAt) {
		t.Errorf("session: %+v", s)
	}

	p := &Project{}
	p.Prepare()
	fresh("project", p.ID, p.CreatedAt)
	if p.IndexStatus != IndexNever || !p.UpdatedAt.Equal(p.CreatedAt) {
		t.Errorf("project: %+v", p)
	}
	p = &Project{IndexStatus: IndexReady}
	if p.Prepare(); p.IndexStatus != IndexReady {
		t.Errorf("project status replaced: %q", p.IndexStatus)
	}

	task := &Task{Title: "a\x00b"}
	task.Prepare()
	fresh("task", task.ID, task.CreatedAt)
	if task.Status != TaskOpen || task.Title != "a"+NULReplacement+"b" || !task.UpdatedAt.Equal(task.CreatedAt) {
		t.Errorf("task: %+v", task)
	}
	task = &Task{Status: TaskDone}
	if task.Prepare(); task.Status != TaskDone {
		t.Errorf("task status replaced: %q", task.Status)
	}

	a := &Agent{}
	a.Prepare()
	fresh("agent", a.ID, a.CreatedAt)

	e := &Execution{Error: "\x00"}
	e.Prepare()
	fresh("execution", e.ID, e.CreatedAt)
	if e.Status != ExecQueued || string(e.Details) != "{}" || e.Error != NULReplacement || !e.UpdatedAt.Equal(e.CreatedAt) {
		t.Errorf("execution: %+v", e)
	}
	e = &Execution{Status: ExecRunning, Details: []byte(`{"a":"\u0000"}`)}
	if e.Prepare(); e.Status != ExecRunning || string(e.Details) != `{"a":"\ufffd"}` {
		t.Errorf("execution kept: %+v", e)
	}

	c := &Commit{}
	c.Prepare()
	fresh("commit", c.ID, c.CreatedAt)
	if c.FilesChanged == nil {
		t.Errorf("commit: nil FilesChanged")
	}

	nilAgent, agent := uuid.Nil, NewID()
	r := &Review{AgentID: &nilAgent}
	r.Prepare()
	fresh("review", r.ID, r.CreatedAt)
	if r.AgentID != nil || r.Comments == nil {
		t.Errorf("review: %+v", r)
	}
	r = &Review{AgentID: &agent}
	if r.Prepare(); r.AgentID == nil || *r.AgentID != agent {
		t.Errorf("review agent dropped")
	}

	j := &JobRef{}
	if j.Prepare(); j.CreatedAt.Before(before) {
		t.Errorf("job ref: %+v", j)
	}
	ev := &Event{Type: "x\x00"}
	ev.Prepare()
	if ev.CreatedAt.Before(before) || string(ev.Data) != "{}" || ev.Type != "x"+NULReplacement || ev.ID != 0 {
		t.Errorf("event: %+v", ev)
	}
}
