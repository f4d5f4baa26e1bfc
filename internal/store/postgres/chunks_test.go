package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/postgres"
	"github.com/vibecoder/vibecoder/internal/store/storetest"
	"github.com/vibecoder/vibecoder/internal/testutil"
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

// TestKeywordSearchUsesGINUnderRLS: as the application's role (no superuser, no
// BYPASSRLS), the keyword search's match is served by the GIN index of chunk_search.
// On code_chunks itself the policy keeps the planner from it (@@ is not LEAKPROOF), and
// a search read every chunk of the project: 844 ms for Go's src/ against 15 ms.
func TestKeywordSearchUsesGINUnderRLS(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	a := seedTenant(t, s, "gin@example.com")
	var files []store.FileChunks
	for i := range 40 {
		f := store.FileChunks{Path: fmt.Sprintf("f%02d.go", i), Hash: fmt.Sprint(i)}
		for j := range 25 {
			f.Chunks = append(f.Chunks, store.Chunk{Content: "x", ContentHash: fmt.Sprint(i, j), StartLine: j + 1, EndLine: j + 1,
				SearchText: fmt.Sprintf("common words here word%d_%d", i, j)})
		}
		files = append(files, f)
	}
	must(t, s.ReplaceFiles(t.Context(), a.user.ID, a.project.ID, files))
	must(t, s.OptimizeChunks(t.Context()))
	plan := func(tx pgx.Tx) string {
		// Off, so that a plan that can use the index does on this small table; a plan that
		// cannot (the policy's) still scans.
		_, err := tx.Exec(t.Context(), "SET LOCAL enable_seqscan = off")
		must(t, err)
		rows, err := tx.Query(t.Context(), "EXPLAIN "+postgres.KeywordSearchSQL, a.user.ID, a.project.ID, "'word7_3'", 10)
		must(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		must(t, err)
		return strings.Join(lines, "\n")
	}
	must(t, asTenant(t.Context(), s, a.user.ID, func(tx pgx.Tx) error {
		if p := plan(tx); !strings.Contains(p, "chunk_search_tsv_idx") {
			t.Errorf("the keyword search does not use chunk_search's GIN index as a tenant:\n%s", p)
		}
		return nil
	}))
	hits, err := s.KeywordSearch(t.Context(), a.user.ID, a.project.ID, [][]string{{"word7_3"}}, 10)
	must(t, err)
	if len(hits) != 1 || hits[0].Path != "f07.go" || hits[0].StartLine != 4 {
		t.Fatalf("hits = %+v, want f07.go line 4", hits)
	}
}

// TestChunkSearchFollowsChunks: chunk_search, outside row-level security, holds a row
// for each chunk and nothing else: replacing, deleting files and deleting the project
// take its rows with them, and another tenant's search through it finds nothing.
func TestChunkSearchFollowsChunks(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	a := seedTenant(t, s, "follow-a@example.com")
	b := seedTenant(t, s, "follow-b@example.com")
	chunk := func(text string) store.Chunk {
		return store.Chunk{Content: "x", ContentHash: text, SearchText: text, StartLine: 1, EndLine: 1}
	}
	must(t, s.ReplaceFiles(t.Context(), a.user.ID, a.project.ID, []store.FileChunks{
		{Path: "a.go", Hash: "1", Chunks: []store.Chunk{chunk("alpha secret"), chunk("beta")}},
		{Path: "b.go", Hash: "2", Chunks: []store.Chunk{chunk("gamma")}}}))
	count := func() int {
		var n int
		must(t, s.Pool().QueryRow(t.Context(), "SELECT count(*) FROM chunk_search WHERE project_id = $1", a.project.ID).Scan(&n))
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("chunk_search holds %d rows for 3 chunks", n)
	}
	// Tenant B, naming A's project, finds nothing; nor does A in B's project.
	for _, q := range []struct{ user, project uuid.UUID }{{b.user.ID, a.project.ID}, {a.user.ID, b.project.ID}} {
		hits, err := s.KeywordSearch(t.Context(), q.user, q.project, [][]string{{"secret"}}, 10)
		must(t, err)
		if len(hits) != 0 {
			t.Fatalf("user %s searching project %s found %+v", q.user, q.project, hits)
		}
	}
	must(t, s.ReplaceFiles(t.Context(), a.user.ID, a.project.ID, []store.FileChunks{{Path: "a.go", Hash: "3", Chunks: []store.Chunk{chunk("delta")}}}))
	if n := count(); n != 2 {
		t.Fatalf("after replacing a.go: %d rows, want 2", n)
	}
	hits, err := s.KeywordSearch(t.Context(), a.user.ID, a.project.ID, [][]string{{"alpha"}}, 10)
	must(t, err)
	if len(hits) != 0 {
		t.Fatalf("a replaced chunk is still found: %+v", hits)
	}
	must(t, s.DeleteFiles(t.Context(), a.user.ID, a.project.ID, []string{"b.go"}))
	if n := count(); n != 1 {
		t.Fatalf("after deleting b.go: %d rows, want 1", n)
	}
	must(t, s.DeleteProject(t.Context(), a.user.ID, a.project.ID))
	if n := count(); n != 0 {
		t.Fatalf("after deleting the project: %d rows, want 0", n)
	}
}

// TestMigrateBulkChunkSearch upgrades a database holding chunks in the older formats
// through migration 0010 (which drops code_chunks.search_tsv and the row trigger that
// copied each chunk into chunk_search): a chunk written before search texts had fields
// (0008) and one written while the trigger kept chunk_search (0009) are still found,
// replacing and updating them keeps chunk_search in step, and deleting the project
// empties it.
func TestMigrateBulkChunkSearch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, testutil.PostgresDSN(t))
	must(t, s.MigrateThrough(ctx, 7))
	u := store.User{Email: "old@example.com", Name: "n", PasswordHash: "$argon2id$x"}
	must(t, s.CreateUser(ctx, &u))
	p := store.Project{UserID: u.ID, Name: "p", RepoURL: "https://example.com/r.git", DefaultBranch: "main"}
	must(t, s.CreateProject(ctx, &p))
	insert := func(path, text string) uuid.UUID {
		id := store.NewID()
		must(t, asTenant(ctx, s, u.ID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO code_chunks (id, user_id, project_id, path, start_line, end_line, content,
				content_hash, search_text, created_at) VALUES ($1, $2, $3, $4, 1, 1, 'x', $5, $5, now())`, id, u.ID, p.ID, path, text)
			return err
		}))
		return id
	}
	insert("old.go", "legacy parser words")
	must(t, s.MigrateThrough(ctx, 9))
	mid := insert("mid.go", "mid mid | | | fielded body")
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}

	find := func(word string) []string {
		t.Helper()
		hits, err := s.KeywordSearch(ctx, u.ID, p.ID, [][]string{{word}}, 10)
		must(t, err)
		var paths []string
		for _, h := range hits {
			paths = append(paths, h.Path)
		}
		return paths
	}
	rows := func() int {
		var n int
		must(t, s.Pool().QueryRow(ctx, "SELECT count(*) FROM chunk_search WHERE project_id = $1", p.ID).Scan(&n))
		return n
	}
	if got := find("legacy"); len(got) != 1 || got[0] != "old.go" {
		t.Fatalf("a chunk from before 0008 after the upgrade: found in %v, want old.go", got)
	}
	if got := find("fielded"); len(got) != 1 || got[0] != "mid.go" {
		t.Fatalf("a chunk from 0009 after the upgrade: found in %v, want mid.go", got)
	}
	must(t, s.ReplaceFiles(ctx, u.ID, p.ID, []store.FileChunks{{Path: "old.go", Hash: "2", Chunks: []store.Chunk{
		{Content: "y", ContentHash: "y", SearchText: "old old | | | renewed body", StartLine: 1, EndLine: 1}}}}))
	if got := find("legacy"); len(got) != 0 {
		t.Fatalf("a replaced chunk is still found in %v", got)
	}
	if got := find("renewed"); len(got) != 1 || got[0] != "old.go" {
		t.Fatalf("the new chunk of old.go: found in %v", got)
	}
	if n := rows(); n != 2 {
		t.Fatalf("chunk_search holds %d rows for 2 chunks", n)
	}
	must(t, asTenant(ctx, s, u.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "UPDATE code_chunks SET search_text = 'mid | | | rewritten' WHERE id = $1", mid)
		return err
	}))
	if got, gone := find("rewritten"), find("fielded"); len(got) != 1 || len(gone) != 0 {
		t.Fatalf("after updating a chunk's search text: new word in %v, old word in %v", got, gone)
	}
	must(t, s.DeleteProject(ctx, u.ID, p.ID))
	if n := rows(); n != 0 {
		t.Fatalf("after deleting the project chunk_search holds %d rows", n)
	}
}
