package index_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/store"
)

// overlapStore holds its first ReplaceFiles until a second one has started, and can
// fail a call.
type overlapStore struct {
	store.Store
	second  chan struct{}
	mu      sync.Mutex
	calls   int
	failOn  int
	overlap bool
}

func (s *overlapStore) ReplaceFiles(ctx context.Context, userID, projectID uuid.UUID, files []store.FileChunks) error {
	s.mu.Lock()
	s.calls++
	n := s.calls
	s.mu.Unlock()
	switch {
	case n == s.failOn:
		return errors.New("disk full")
	case n == 1:
		select {
		case <-s.second:
			s.mu.Lock()
			s.overlap = true
			s.mu.Unlock()
		case <-ctx.Done():
			return ctx.Err()
		}
	case n == 2:
		close(s.second)
	}
	return s.Store.ReplaceFiles(ctx, userID, projectID, files)
}

// TestWritesOverlap: the next batch goes to the store while the previous one is still
// being written (so the database's work overlaps the reading, chunking and preparing
// of the next), and every batch is counted once.
func TestWritesOverlap(t *testing.T) {
	st := &overlapStore{Store: openStore(t, "sqlite"), second: make(chan struct{})}
	p := newProject(t, st, gitFixture(t))
	ix := newIndexer(t, st, index.Config{WriteBatch: 1, Workers: 1})
	// Serial writes would hold the first batch until this deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := ix.Index(ctx, p, nil)
	must(t, err)
	if !st.overlap {
		t.Fatal("the second batch was not written while the first was in the store")
	}
	hashes, err := st.FileHashes(t.Context(), p.UserID, p.ID)
	must(t, err)
	if s.FilesIndexed != 9 || len(hashes) != 9 {
		t.Errorf("indexed %d files, %d stored; want 9", s.FilesIndexed, len(hashes))
	}
}

// TestWriteErrorStopsIndex: a batch the store refuses ends the run with its error,
// after the batches still in the store are done.
func TestWriteErrorStopsIndex(t *testing.T) {
	st := &overlapStore{Store: openStore(t, "sqlite"), second: make(chan struct{}), failOn: 3}
	p := newProject(t, st, gitFixture(t))
	ix := newIndexer(t, st, index.Config{WriteBatch: 1, Workers: 1})
	_, err := ix.Index(t.Context(), p, nil)
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Index: %v, want the store's error", err)
	}
}
