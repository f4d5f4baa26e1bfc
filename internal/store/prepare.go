package store

import (
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

