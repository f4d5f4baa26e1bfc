package postgres_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/storetest"
	"github.com/vibecoder/vibecoder/test/pglite"
)

// The index tables are under row-level security like every tenant table: without
// app.user_id nothing is visible, and as a tenant only its own rows are.
func TestIndexTablesRLS(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	a := seedTenant(t, s, "a@example.com")
	b := seedTenant(t, s, "b@example.com")
	for _, tn := range []*tenant{a, b} {
		must(t, s.ReplaceFiles(t.Context(), tn.user.ID, tn.project.ID, []store.FileChunks{{Path: "x.go", Hash: "h",
			Chunks: []store.Chunk{{Content: "x", ContentHash: "c", SearchText: "x", StartLine: 1, EndLine: 1}}}}))
	}
	for _, table := range []string{"index_files", "index_state", "code_chunks"} {
		var n int
		must(t, s.Pool().QueryRow(t.Context(), "SELECT count(*) FROM "+table).Scan(&n))
		if n != 0 {
			t.Errorf("%s: %d rows visible without app.user_id", table, n)
		}
		must(t, asTenant(t.Context(), s, a.user.ID, func(tx pgx.Tx) error {
			rows, err := tx.Query(t.Context(), "SELECT user_id FROM "+table)
			if err != nil {
				return err
			}
			owners, err := pgx.CollectRows(rows, pgx.RowTo[[16]byte])
			if err != nil {
				return err
			}
			if len(owners) == 0 {
				t.Errorf("%s: tenant A sees none of its rows", table)
			}
			for _, o := range owners {
				if o != a.user.ID {
					t.Errorf("%s: tenant A sees a row of another tenant", table)
				}
			}
			return nil
		}))
	}
}

// TestChunksPGvector runs the code-index conformance tests on PostgreSQL with pgvector
// (PGlite, see test/pglite), where NearestChunks goes through the HNSW index.
func TestChunksPGvector(t *testing.T) {
	storetest.RunChunks(t, func(t *testing.T) store.Store {
		s := open(t, pglite.DSN(t))
		if !s.VectorIndex() {
			t.Fatal("PGlite has no pgvector: VectorIndex() = false")
		}
		if _, err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate on PGlite: %v", err)
		}
		return s
	})
}

// TestPGvectorIndexUsed checks that the vector column and its HNSW index exist after the
// first embeddings, with the dimension they fixed.
func TestPGvectorIndexUsed(t *testing.T) {
	s := open(t, pglite.DSN(t))
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	u := &store.User{Email: "v@example.com", PasswordHash: "h"}
	must(t, s.CreateUser(t.Context(), u))
	p := &store.Project{UserID: u.ID, Name: "p", RepoURL: "/r"}
	must(t, s.CreateProject(t.Context(), p))
	c := store.Chunk{Content: "x", ContentHash: "c", SearchText: "x", StartLine: 1, EndLine: 1}
	files := []store.FileChunks{{Path: "x.go", Hash: "h", Chunks: []store.Chunk{c}}}
	must(t, s.ReplaceFiles(t.Context(), u.ID, p.ID, files))
	must(t, s.SetEmbeddings(t.Context(), u.ID, p.ID, "m", []store.ChunkVector{{ChunkID: files[0].Chunks[0].ID, Vector: []float32{0.1, 0.2, 0.3, 0.4}}}))
	var typ, idx string
	must(t, s.Pool().QueryRow(t.Context(), `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
		WHERE attrelid = 'code_chunks'::regclass AND attname = 'embedding_vec'`).Scan(&typ))
	must(t, s.Pool().QueryRow(t.Context(), `SELECT indexdef FROM pg_indexes WHERE indexname = 'code_chunks_embedding_hnsw'
		AND schemaname = current_schema()`).Scan(&idx))
	if typ != "vector(4)" && typ != "public.vector(4)" {
		t.Errorf("embedding_vec type = %q, want vector(4)", typ)
	}
	if want := "USING hnsw (embedding_vec public.vector_cosine_ops)"; !strings.Contains(idx, want) {
		t.Errorf("index = %q, want %q", idx, want)
	}
	// The column's dimension is fixed now: another one is refused.
	err := s.SetEmbeddings(t.Context(), u.ID, p.ID, "other", []store.ChunkVector{{ChunkID: files[0].Chunks[0].ID, Vector: []float32{1, 2}}})
	if !errors.Is(err, store.ErrDimensionMismatch) {
		t.Fatalf("another dimension: got %v, want ErrDimensionMismatch", err)
	}
}
