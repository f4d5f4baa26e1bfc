package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// What a dialect does to a row before writing it, whatever its SQL: the defaults the
// Store interface documents, ids, timestamps and the NUL rule (Sanitize). The dialects
// call these so that both fill a row the same way.

// ensureID gives a new row its time-ordered id unless the caller chose one.
func ensureID(id *uuid.UUID) {
	if *id == uuid.Nil {
		*id = NewID()
	}
}

// nilIfZero turns a pointer to uuid.Nil into nil: a zero reference counts as none.
func nilIfZero(id *uuid.UUID) *uuid.UUID {
	if id != nil && *id == uuid.Nil {
		return nil
	}
	return id
}

// PrepareUsage fills, in place, the defaults InsertUsage documents: an id and a
// creation time for rows that have none, status "ok" when it is empty, and no project
// or execution for a nil-UUID one. It applies the NUL rule too.
func PrepareUsage(rows []LLMUsage) {
	Sanitize(rows)
	now := Now()
	for i := range rows {
		r := &rows[i]
		ensureID(&r.ID)
		if r.CreatedAt.IsZero() {
			r.CreatedAt = now
		}
		if r.Status == "" {
			r.Status = "ok"
		}
		r.ProjectID, r.ExecutionID = nilIfZero(r.ProjectID), nilIfZero(r.ExecutionID)
	}
}

// CheckVectors enforces SetEmbeddings' rule of one model and one dimension per
// project: curModel and dims are the project's (empty and 0 before its first
// embedding), model and vecs what is about to be stored. It returns an error wrapping
// ErrDimensionMismatch for another model, an empty vector or a vector whose length
// differs from the project's (or, for a new project, from the first vector's).
func CheckVectors(curModel string, dims int, model string, vecs []ChunkVector) error {
	if curModel != "" && curModel != model {
		return fmt.Errorf("%w: the project's embeddings were made with %q, not %q", ErrDimensionMismatch, curModel, model)
	}
	if len(vecs) == 0 {
		return nil
	}
	want := dims
	if want == 0 {
		want = len(vecs[0].Vector)
	}
	if want == 0 {
		return fmt.Errorf("%w: empty vector", ErrDimensionMismatch)
	}
	for _, v := range vecs {
		if len(v.Vector) != want {
			return fmt.Errorf("%w: got %d dimensions, want %d", ErrDimensionMismatch, len(v.Vector), want)
		}
	}
	return nil
}

// PrepareFiles fills, in place, what ReplaceFiles leaves to the store on every chunk
// of files: an id unless the caller chose one, the owner, project and path of its
// file, and the creation time now.
func PrepareFiles(userID, projectID uuid.UUID, files []FileChunks, now time.Time) {
	for _, f := range files {
		for i := range f.Chunks {
			c := &f.Chunks[i]
			ensureID(&c.ID)
			c.UserID, c.ProjectID, c.Path, c.CreatedAt = userID, projectID, f.Path, now
		}
	}
}

// The Prepare methods fill, in place, what a dialect's Create method (AppendEvent for
// an Event) leaves to the store, before its INSERT: an id unless the caller chose one,
// the creation time (and update time, for rows that have one) now, the documented
// defaults, and the NUL rule for rows with free text.

// Prepare readies a new user for CreateUser.
func (u *User) Prepare() {
	ensureID(&u.ID)
	u.CreatedAt = Now()
	u.UpdatedAt = u.CreatedAt
}

// Prepare readies a new key for CreateAPIKey.
func (k *APIKey) Prepare() {
	ensureID(&k.ID)
	k.CreatedAt = Now()
}

// Prepare readies a new session for CreateSession: it was created and last seen now.
func (s *Session) Prepare() {
	s.CreatedAt = Now()
	s.LastSeenAt = s.CreatedAt
}

// Prepare readies a new project for CreateProject; an empty IndexStatus becomes
// IndexNever.
func (p *Project) Prepare() {
	ensureID(&p.ID)
	p.CreatedAt = Now()
	p.UpdatedAt = p.CreatedAt
	if p.IndexStatus == "" {
		p.IndexStatus = IndexNever
	}
}

// Prepare readies a new task for CreateTask; an empty Status becomes TaskOpen.
func (t *Task) Prepare() {
	Sanitize(t)
	ensureID(&t.ID)
	t.CreatedAt = Now()
	t.UpdatedAt = t.CreatedAt
	if t.Status == "" {
		t.Status = TaskOpen
	}
}

// Prepare readies a new agent for CreateAgent.
func (a *Agent) Prepare() {
	ensureID(&a.ID)
	a.CreatedAt = Now()
	a.UpdatedAt = a.CreatedAt
}

// Prepare readies a new execution for CreateExecution; an empty Status becomes
// ExecQueued and empty Details the empty object.
func (e *Execution) Prepare() {
	Sanitize(e)
	ensureID(&e.ID)
	e.CreatedAt = Now()
	e.UpdatedAt = e.CreatedAt
	if e.Status == "" {
		e.Status = ExecQueued
	}
	if len(e.Details) == 0 {
		e.Details = json.RawMessage(`{}`)
	}
}

// Prepare readies a new commit for CreateCommit; nil FilesChanged becomes empty.
func (c *Commit) Prepare() {
	Sanitize(c)
	ensureID(&c.ID)
	c.CreatedAt = Now()
	if c.FilesChanged == nil {
		c.FilesChanged = []string{}
	}
}

// Prepare readies a new review for CreateReview; a nil-UUID agent counts as none and
// nil Comments become empty.
func (r *Review) Prepare() {
	Sanitize(r)
	ensureID(&r.ID)
	r.CreatedAt = Now()
	r.AgentID = nilIfZero(r.AgentID)
	if r.Comments == nil {
		r.Comments = []ReviewComment{}
	}
}

// Prepare readies a new job ref for CreateJobRef.
func (j *JobRef) Prepare() {
	j.CreatedAt = Now()
}

// Prepare readies an event for AppendEvent (the database assigns its ID); empty Data
// becomes the empty object.
func (ev *Event) Prepare() {
	Sanitize(ev)
	ev.CreatedAt = Now()
	if len(ev.Data) == 0 {
		ev.Data = json.RawMessage(`{}`)
	}
}
