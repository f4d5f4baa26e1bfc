package storetest

import (
	"errors"
	"math"
	"testing"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

func chunk(symbol, content, search string) store.Chunk {
	return store.Chunk{Language: "go", StartLine: 1, EndLine: 3, Symbol: symbol, Content: content,
		ContentHash: "h-" + content, SearchText: search}
}

func hitPaths(hits []store.ChunkHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Path + "#" + h.Symbol
	}
	return out
}

// seedChunks creates a user and project with two indexed files and an empty one.
func seedChunks(t *testing.T, s store.Store) (*store.User, *store.Project, []store.FileChunks) {
	t.Helper()
	u := newUser(t, s)
	p := newProject(t, s, u)
	st, err := s.IndexState(ctx(t), u.ID, p.ID)
	must(t, err)
	if st != (store.IndexState{}) {
		t.Fatalf("IndexState of a new project = %+v, want zero", st)
	}
	files := []store.FileChunks{
		{Path: "auth/password.go", Hash: "f1", Chunks: []store.Chunk{
			chunk("HashPassword", "func HashPassword(pw string) string", "hashpassword hash password pw string"),
			chunk("VerifyPassword", "func VerifyPassword(pw, h string) bool", "verifypassword verify password pw bool"),
		}},
		{Path: "http/router.go", Hash: "f2", Chunks: []store.Chunk{
			chunk("NewRouter", "func NewRouter() *Router", "newrouter new router http route"),
		}},
		{Path: "empty.go", Hash: "f3"},
	}
	must(t, s.ReplaceFiles(ctx(t), u.ID, p.ID, files))
	return u, p, files
}

func testChunksReplaceAndSearch(t *testing.T, s store.Store) {
	u, p, files := seedChunks(t, s)
	for _, c := range files[0].Chunks {
		if c.ID == uuid.Nil || c.UserID != u.ID || c.ProjectID != p.ID || c.Path != "auth/password.go" {
			t.Fatalf("ReplaceFiles did not fill the chunk: %+v", c)
		}
	}
	hashes, err := s.FileHashes(ctx(t), u.ID, p.ID)
	must(t, err)
	if len(hashes) != 3 || hashes["auth/password.go"] != "f1" || hashes["http/router.go"] != "f2" || hashes["empty.go"] != "f3" {
		t.Fatalf("FileHashes = %v", hashes)
	}

	hits, err := s.KeywordSearch(ctx(t), u.ID, p.ID, [][]string{{"password", "hash"}}, 10)
	must(t, err)
	if len(hits) != 2 || hits[0].Symbol != "HashPassword" || hits[1].Symbol != "VerifyPassword" {
		t.Fatalf("search password|hash = %v, want HashPassword then VerifyPassword", hitPaths(hits))
	}
	if !(hits[0].Score > hits[1].Score) {
		t.Errorf("scores not descending: %v, %v", hits[0].Score, hits[1].Score)
	}
	got := hits[0].Chunk
	want := files[0].Chunks[0]
	if got.ID != want.ID || got.Content != want.Content || got.ContentHash != want.ContentHash || got.SearchText != want.SearchText ||
		got.Language != "go" || got.StartLine != 1 || got.EndLine != 3 || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("hit = %+v, want %+v", got, want)
	}
	// Query syntax in terms is inert, and limits apply.
	hits, err = s.KeywordSearch(ctx(t), u.ID, p.ID, [][]string{{`router" OR "x`, "NEAR(", "'", "*"}}, 10)
	must(t, err)
	if len(hits) != 0 {
		t.Errorf("terms with query syntax matched %v", hitPaths(hits))
	}
	hits, err = s.KeywordSearch(ctx(t), u.ID, p.ID, [][]string{{"ROUTER"}}, 10)
	must(t, err)
	if len(hits) != 1 || hits[0].Symbol != "NewRouter" {
		t.Errorf("upper-case term: %v", hitPaths(hits))
	}
	// Groups: every group must match, any term of a group will do.
	hits, err = s.KeywordSearch(ctx(t), u.ID, p.ID, [][]string{{"verify", "xyz"}, {"password"}}, 10)
	must(t, err)
	if len(hits) != 1 || hits[0].Symbol != "VerifyPassword" {
		t.Errorf("groups (verify|xyz) & password: %v, want VerifyPassword", hitPaths(hits))
	}
	hits, err = s.KeywordSearch(ctx(t), u.ID, p.ID, [][]string{{"router"}, {"password"}}, 10)
	must(t, err)
	if len(hits) != 0 {
		t.Errorf("groups router & password: %v, want none", hitPaths(hits))
	}
	hits, err = s.KeywordSearch(ctx(t), u.ID, p.ID, [][]string{{"pw"}}, 1)
	must(t, err)
	if len(hits) != 1 {
		t.Errorf("limit 1 gave %d hits", len(hits))
	}
	hits, err = s.KeywordSearch(ctx(t), u.ID, p.ID, nil, 10)
	must(t, err)
	if len(hits) != 0 {
		t.Errorf("no terms gave %d hits", len(hits))
	}

	got2, err := s.GetChunks(ctx(t), u.ID, p.ID, []uuid.UUID{files[1].Chunks[0].ID, store.NewID()})
	must(t, err)
	if len(got2) != 1 || got2[0].Symbol != "NewRouter" {
		t.Fatalf("GetChunks = %+v", got2)
	}
}

func testChunksReplaceAndDelete(t *testing.T, s store.Store) {
	u, p, _ := seedChunks(t, s)

	// Replacing a file swaps its chunks: the old ones are gone from the keyword index.
	must(t, s.ReplaceFiles(ctx(t), u.ID, p.ID, []store.FileChunks{{Path: "auth/password.go", Hash: "f1b", Chunks: []store.Chunk{
		chunk("CheckToken", "func CheckToken(tok string) bool", "checktoken check token tok"),
	}}}))
	hits, err := s.KeywordSearch(ctx(t), u.ID, p.ID, [][]string{{"password"}}, 10)
	must(t, err)
	if len(hits) != 0 {
		t.Fatalf("old chunks still found after replace: %v", hitPaths(hits))
	}
	hits, err = s.KeywordSearch(ctx(t), u.ID, p.ID, [][]string{{"token"}}, 10)
	must(t, err)
	if len(hits) != 1 || hits[0].Path != "auth/password.go" {
		t.Fatalf("new chunk not found: %v", hitPaths(hits))
	}

	must(t, s.DeleteFiles(ctx(t), u.ID, p.ID, []string{"auth/password.go", "empty.go", "never-indexed.go"}))
	hashes, err := s.FileHashes(ctx(t), u.ID, p.ID)
	must(t, err)
	if len(hashes) != 1 || hashes["http/router.go"] != "f2" {
		t.Fatalf("FileHashes after delete = %v", hashes)
	}
	hits, err = s.KeywordSearch(ctx(t), u.ID, p.ID, [][]string{{"token", "router"}}, 10)
	must(t, err)
	if len(hits) != 1 || hits[0].Symbol != "NewRouter" {
		t.Fatalf("after delete: %v", hitPaths(hits))
	}
	st2, err := s.IndexState(ctx(t), u.ID, p.ID)
	must(t, err)
	if st2.Generation < 3 {
		t.Errorf("generation after three changes = %d, want >= 3", st2.Generation)
	}

	// Deleting the project takes its index with it.
	must(t, s.DeleteProject(ctx(t), u.ID, p.ID))
	hashes, err = s.FileHashes(ctx(t), u.ID, p.ID)
	must(t, err)
	hits, err2 := s.KeywordSearch(ctx(t), u.ID, p.ID, [][]string{{"router"}}, 10)
	must(t, err2)
	if len(hashes) != 0 || len(hits) != 0 {
		t.Fatalf("deleted project still has files %v, hits %v", hashes, hitPaths(hits))
	}
	// The keyword index stays consistent after the cascade: a new project finds only its own.
	p2 := newProject(t, s, u)
	must(t, s.ReplaceFiles(ctx(t), u.ID, p2.ID, []store.FileChunks{{Path: "r.go", Hash: "x", Chunks: []store.Chunk{
		chunk("Route", "func Route()", "route router")}}}))
	hits, err = s.KeywordSearch(ctx(t), u.ID, p2.ID, [][]string{{"router"}}, 10)
	must(t, err)
	if len(hits) != 1 || hits[0].Path != "r.go" {
		t.Fatalf("search after cascade: %v", hitPaths(hits))
	}
}

func testChunksEmbeddings(t *testing.T, s store.Store) {
	u := newUser(t, s)
	p := newProject(t, s, u)
	files := []store.FileChunks{{Path: "a.go", Hash: "a", Chunks: []store.Chunk{
		chunk("A", "func A()", "a"), chunk("B", "func B()", "b"), chunk("C", "func C()", "c"),
	}}}
	must(t, s.ReplaceFiles(ctx(t), u.ID, p.ID, files))
	todo, err := s.ChunksToEmbed(ctx(t), u.ID, p.ID, 2)
	must(t, err)
	if len(todo) != 2 {
		t.Fatalf("ChunksToEmbed(limit 2) = %d chunks", len(todo))
	}
	vecs := map[string][]float32{"A": {1, 0, 0}, "B": {0, 1, 0}, "C": {0.6, 0.8, 0}}
	var all []store.ChunkVector
	for _, c := range files[0].Chunks {
		all = append(all, store.ChunkVector{ChunkID: c.ID, Vector: vecs[c.Symbol]})
	}
	const model = "local/embed"
	must(t, s.SetEmbeddings(ctx(t), u.ID, p.ID, model, all[:2]))
	todo, err = s.ChunksToEmbed(ctx(t), u.ID, p.ID, 10)
	must(t, err)
	if len(todo) != 1 || todo[0].Symbol != "C" {
		t.Fatalf("ChunksToEmbed after two = %+v", todo)
	}
	must(t, s.SetEmbeddings(ctx(t), u.ID, p.ID, model, all[2:]))
	st, err := s.IndexState(ctx(t), u.ID, p.ID)
	must(t, err)
	if st.EmbeddingModel != model || st.EmbeddingDims != 3 {
		t.Fatalf("IndexState = %+v", st)
	}

	err = s.SetEmbeddings(ctx(t), u.ID, p.ID, model, []store.ChunkVector{{ChunkID: all[0].ChunkID, Vector: []float32{1, 2}}})
	wantErr(t, err, store.ErrDimensionMismatch, "a 2-dimensional vector in a 3-dimensional project")
	err = s.SetEmbeddings(ctx(t), u.ID, p.ID, "other/model", all[:1])
	wantErr(t, err, store.ErrDimensionMismatch, "another model")

	got, err := s.ChunkVectors(ctx(t), u.ID, p.ID)
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("ChunkVectors = %d", len(got))
	}
	byID := map[uuid.UUID][]float32{}
	for _, cv := range got {
		byID[cv.ChunkID] = cv.Vector
	}
	for _, cv := range all {
		g := byID[cv.ChunkID]
		if len(g) != 3 || g[0] != cv.Vector[0] || g[1] != cv.Vector[1] || g[2] != cv.Vector[2] {
			t.Fatalf("vector of %s = %v, want %v", cv.ChunkID, g, cv.Vector)
		}
	}

	hits, err := s.NearestChunks(ctx(t), u.ID, p.ID, []float32{0.9, 0.1, 0}, 2)
	if s.VectorIndex() {
		must(t, err)
		if len(hits) != 2 || hits[0].Symbol != "A" || hits[1].Symbol != "C" {
			t.Fatalf("NearestChunks = %v, want A then C", hitPaths(hits))
		}
		if math.Abs(hits[0].Score-0.9939) > 0.001 {
			t.Errorf("cosine similarity of A = %v, want ~0.9939", hits[0].Score)
		}
	} else if !errors.Is(err, store.ErrNoVectorIndex) {
		t.Fatalf("NearestChunks without a vector index: %v, want ErrNoVectorIndex", err)
	}

	// A replaced file keeps the embeddings of chunks whose content did not change.
	keep := chunk("A", "func A()", "a")
	changed := chunk("B", "func B() { changed }", "b")
	must(t, s.ReplaceFiles(ctx(t), u.ID, p.ID, []store.FileChunks{{Path: "a.go", Hash: "a2", Chunks: []store.Chunk{keep, changed}}}))
	todo, err = s.ChunksToEmbed(ctx(t), u.ID, p.ID, 10)
	must(t, err)
	if len(todo) != 1 || todo[0].Content != "func B() { changed }" {
		t.Fatalf("after replace, to embed: %+v; want only the changed chunk", todo)
	}
	if s.VectorIndex() {
		hits, err := s.NearestChunks(ctx(t), u.ID, p.ID, []float32{1, 0, 0}, 5)
		must(t, err)
		if len(hits) != 1 || hits[0].Symbol != "A" {
			t.Fatalf("NearestChunks after replace = %v, want the carried-over A", hitPaths(hits))
		}
	}

	must(t, s.ResetEmbeddings(ctx(t), u.ID, p.ID))
	got, err = s.ChunkVectors(ctx(t), u.ID, p.ID)
	must(t, err)
	st, err = s.IndexState(ctx(t), u.ID, p.ID)
	must(t, err)
	if len(got) != 0 || st.EmbeddingModel != "" || st.EmbeddingDims != 0 {
		t.Fatalf("after reset: %d vectors, state %+v", len(got), st)
	}
	must(t, s.SetEmbeddings(ctx(t), u.ID, p.ID, "other/model", []store.ChunkVector{{ChunkID: keep.ID, Vector: []float32{0, 0, 1}}}))
}

func testChunksTenantIsolation(t *testing.T, s store.Store) {
	a, b := newUser(t, s), newUser(t, s)
	pa := newProject(t, s, a)
	pb := newProject(t, s, b)
	must(t, s.ReplaceFiles(ctx(t), a.ID, pa.ID, []store.FileChunks{{Path: "secret.go", Hash: "s", Chunks: []store.Chunk{
		chunk("Secret", "func Secret()", "secret")}}}))
	must(t, s.ReplaceFiles(ctx(t), b.ID, pb.ID, []store.FileChunks{{Path: "b.go", Hash: "b", Chunks: []store.Chunk{
		chunk("Secret", "func Secret() // b", "secret")}}}))
	ids := []uuid.UUID{}
	hits, err := s.KeywordSearch(ctx(t), a.ID, pa.ID, [][]string{{"secret"}}, 10)
	must(t, err)
	if len(hits) != 1 || hits[0].Path != "secret.go" {
		t.Fatalf("A's own search: %v", hitPaths(hits))
	}
	ids = append(ids, hits[0].ID)
	must(t, s.SetEmbeddings(ctx(t), a.ID, pa.ID, "m", []store.ChunkVector{{ChunkID: hits[0].ID, Vector: []float32{1, 0}}}))

	// B, naming A's project (or its own user with A's project id), sees nothing of A's.
	for _, uid := range []uuid.UUID{b.ID} {
		hits, err := s.KeywordSearch(ctx(t), uid, pa.ID, [][]string{{"secret"}}, 10)
		must(t, err)
		hashes, err2 := s.FileHashes(ctx(t), uid, pa.ID)
		must(t, err2)
		chunks, err3 := s.GetChunks(ctx(t), uid, pa.ID, ids)
		must(t, err3)
		vecs, err4 := s.ChunkVectors(ctx(t), uid, pa.ID)
		must(t, err4)
		todo, err5 := s.ChunksToEmbed(ctx(t), uid, pa.ID, 10)
		must(t, err5)
		st, err6 := s.IndexState(ctx(t), uid, pa.ID)
		must(t, err6)
		if len(hits)+len(hashes)+len(chunks)+len(vecs)+len(todo) != 0 || st != (store.IndexState{}) {
			t.Fatalf("B sees A's index: hits %v, hashes %v, chunks %d, vectors %d, to embed %d, state %+v",
				hitPaths(hits), hashes, len(chunks), len(vecs), len(todo), st)
		}
		if s.VectorIndex() {
			near, err := s.NearestChunks(ctx(t), uid, pa.ID, []float32{1, 0}, 10)
			must(t, err)
			if len(near) != 0 {
				t.Fatalf("B's vector search finds A's chunks: %v", hitPaths(near))
			}
		}
	}
	wantErr(t, s.ReplaceFiles(ctx(t), b.ID, pa.ID, []store.FileChunks{{Path: "x.go", Hash: "x", Chunks: []store.Chunk{chunk("X", "x", "x")}}}),
		store.ErrNotFound, "B writes chunks into A's project")
	wantErr(t, s.ReplaceFiles(ctx(t), b.ID, pa.ID, []store.FileChunks{{Path: "secret.go", Hash: "x"}}),
		store.ErrNotFound, "B replaces A's file with nothing")
	wantErr(t, s.DeleteFiles(ctx(t), b.ID, pa.ID, []string{"secret.go"}), store.ErrNotFound, "B deletes A's file")
	must(t, s.SetEmbeddings(ctx(t), b.ID, pb.ID, "m", []store.ChunkVector{{ChunkID: ids[0], Vector: []float32{0, 1}}}))
	must(t, s.ResetEmbeddings(ctx(t), b.ID, pa.ID))

	// A's index is untouched by all of that.
	hits, err = s.KeywordSearch(ctx(t), a.ID, pa.ID, [][]string{{"secret"}}, 10)
	must(t, err)
	vecs, err := s.ChunkVectors(ctx(t), a.ID, pa.ID)
	must(t, err)
	hashes, err := s.FileHashes(ctx(t), a.ID, pa.ID)
	must(t, err)
	if len(hits) != 1 || hits[0].Content != "func Secret()" || len(vecs) != 1 || vecs[0].Vector[0] != 1 || hashes["secret.go"] != "s" || len(hashes) != 1 {
		t.Fatalf("A's index changed: hits %v, vectors %+v, hashes %v", hitPaths(hits), vecs, hashes)
	}
}

// RunChunks runs only the code-index part of the suite: for databases that are there to
// test one feature (PostgreSQL with pgvector on PGlite).
func RunChunks(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ChunksReplaceAndSearch", testChunksReplaceAndSearch},
		{"ChunksEmbeddings", testChunksEmbeddings},
		{"ChunksTenantIsolation", testChunksTenantIsolation},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}
