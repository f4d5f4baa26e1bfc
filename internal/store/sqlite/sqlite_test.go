package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
	"github.com/vibecoder/vibecoder/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := open(t, filepath.Join(t.TempDir(), "vibecoder.db"))
		t.Cleanup(func() { s.Close() })
		return s
	}, func(ctx context.Context, s store.Store, _ uuid.UUID, q string) error {
		_, err := s.(*sqlite.Store).Writer().ExecContext(ctx, q)
		return err
	})
}

func TestRestartKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vibecoder.db")
	s := open(t, path)
	u := &store.User{Email: "r@example.com", PasswordHash: "h"}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	p := &store.Project{UserID: u.ID, Name: "kept", RepoURL: "/r"}
	if err := s.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	got, err := s.GetProject(t.Context(), u.ID, p.ID)
	if err != nil {
		t.Fatalf("project lost across restart: %v", err)
	}
	if got.Name != "kept" {
		t.Fatalf("got %+v", got)
	}
}

func TestWALAndForeignKeys(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "vibecoder.db"))
	defer s.Close()
	var mode string
	if err := s.Writer().QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode = %q, want wal", mode)
	}
	var fk int
	if err := s.Writer().QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if fk != 1 {
		t.Fatal("foreign keys are off")
	}
	// The writer's statement journals stay in memory (no temporary file written per
	// page of a multi-row INSERT): temp_store 2 is MEMORY.
	var temp int
	if err := s.Writer().QueryRowContext(t.Context(), "PRAGMA temp_store").Scan(&temp); err != nil {
		t.Fatal(err)
	}
	if temp != 2 {
		t.Fatalf("writer temp_store = %d, want 2 (MEMORY)", temp)
	}
	if got := s.Writer().Stats().MaxOpenConnections; got != 1 {
		t.Fatalf("writer pool allows %d connections, want 1", got)
	}
}

// TestMigrateConcurrent opens one fresh file from several stores at once, as processes
// started together would, and migrates from each: all succeed, each migration (the
// job queue's included) is applied once.
func TestMigrateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vibecoder.db")
	const procs = 5
	counts := make([]int, procs)
	errs := make([]error, procs)
	stores := make([]*sqlite.Store, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			s, err := sqlite.Open(t.Context(), path, nil)
			if err != nil {
				errs[i] = err
				return
			}
			stores[i] = s
			counts[i], errs[i] = s.Migrate(t.Context())
		})
	}
	wg.Wait()
	total := 0
	for i, s := range stores {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
		if errs[i] != nil {
			t.Fatalf("store %d: %v", i, errs[i])
		}
		total += counts[i]
	}
	var versions, distinct, river int
	db := stores[0].Writer()
	if err := db.QueryRowContext(t.Context(), "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&versions, &distinct); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM river_migration").Scan(&river); err != nil {
		t.Fatal(err)
	}
	if total != versions || versions != distinct || versions < 1 || river < 1 {
		t.Errorf("applied %d in total (%v); schema_migrations has %d rows, %d distinct; river_migration %d rows",
			total, counts, versions, distinct, river)
	}
}
