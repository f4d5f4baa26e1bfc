package index_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/llm"
	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/store"
)

// embedServer is a local OpenAI-compatible embeddings server (deterministic vectors of
// dims dimensions per text) and a registry that reaches it as provider "local".
func embedServer(t *testing.T, dims *atomic.Int64) (*llmtest.Server, *llm.Registry) {
	t.Helper()
	srv := llmtest.NewOpenAI(t, func(req llmtest.RecordedRequest) llmtest.Reply {
		if req.Kind != "embeddings" {
			return llmtest.Reply{Status: 400}
		}
		out := make([][]float32, len(req.Inputs))
		for i, in := range req.Inputs {
			out[i] = llmtest.Vector(in, int(dims.Load()))
		}
		return llmtest.Reply{Embeddings: out}
	})
	p, err := llm.NewOpenAICompatible(llm.ProviderConfig{Name: "local", BaseURL: srv.URL})
	must(t, err)
	reg, err := llm.NewRegistry(llm.RegistryConfig{Providers: []llm.Provider{p}})
	must(t, err)
	return srv, reg
}

func TestEmbeddingsAndHybridSearch(t *testing.T) {
	for _, d := range append(dialects, "pgvector") {
		t.Run(d, func(t *testing.T) { testHybrid(t, openStore(t, d)) })
	}
}

func testHybrid(t *testing.T, st store.Store) {
	var dims atomic.Int64
	dims.Store(16)
	srv, reg := embedServer(t, &dims)
	repo := gitFixture(t)
	p := newProject(t, st, repo)
	ix, err := index.New(st, reg, nil, index.Config{DataDir: t.TempDir(), EmbeddingModel: "local/embed-small", EmbedBatch: 4})
	must(t, err)
	if !ix.Semantic() {
		t.Fatal("Semantic() = false with a model")
	}
	stats, err := ix.Index(t.Context(), p, nil)
	must(t, err)
	if stats.ChunksEmbedded != stats.ChunksWritten || stats.ChunksEmbedded == 0 {
		t.Fatalf("embedded %d of %d chunks", stats.ChunksEmbedded, stats.ChunksWritten)
	}
	calls := 0
	for _, r := range srv.Requests() {
		if r.Kind != "embeddings" {
			continue
		}
		calls++
		if r.Model != "embed-small" || len(r.Inputs) == 0 || len(r.Inputs) > 4 {
			t.Fatalf("embeddings request: model %q, %d inputs", r.Model, len(r.Inputs))
		}
	}
	if want := (stats.ChunksWritten + 3) / 4; calls != want {
		t.Errorf("%d embeddings requests, want %d (batches of 4)", calls, want)
	}
	state, err := st.IndexState(t.Context(), p.UserID, p.ID)
	must(t, err)
	if state.EmbeddingModel != "local/embed-small" || state.EmbeddingDims != 16 {
		t.Errorf("index state = %+v", state)
	}

	// The vector leg: a query whose embedding equals a chunk's (the fake server's vectors
	// are a function of the text) finds that chunk first by vector, even with no keyword
	// in common.
	// (The fake vectors carry no meaning, so only the mechanics are checked: both legs
	// contribute to the fused ranking.)
	res, err := ix.Search(t.Context(), p.UserID, p.ID, "where are passwords hashed", 5)
	must(t, err)
	kwTop, vec := false, false
	for _, r := range res {
		kwTop = kwTop || (r.KeywordRank == 1 && r.Path == "auth/password.go")
		vec = vec || r.VectorRank > 0
	}
	if !kwTop || !vec {
		t.Fatalf("hybrid search lacks the keyword leg's best hit or any vector hit: %+v", res)
	}
	var target store.ChunkHit
	hits, err := st.KeywordSearch(t.Context(), p.UserID, p.ID, [][]string{{"validate"}}, 1)
	must(t, err)
	target = hits[0]
	query := target.Path + " " + target.Symbol + "\n" + target.Content
	res, err = ix.Search(t.Context(), p.UserID, p.ID, query, 10)
	must(t, err)
	found := false
	for _, r := range res {
		if r.ChunkID == target.ID {
			found = true
			if r.VectorRank != 1 {
				t.Errorf("the chunk with the query's own embedding has vector rank %d, want 1", r.VectorRank)
			}
		}
	}
	if !found {
		t.Fatalf("vector leg did not find %s#%s", target.Path, target.Symbol)
	}
	if res[0].Score < 1.0/61 {
		t.Errorf("top fused score %v < 1/61", res[0].Score)
	}

	// Unchanged re-index embeds nothing; a changed file only its new chunks.
	s2, err := ix.Index(t.Context(), p, nil)
	must(t, err)
	if s2.ChunksEmbedded != 0 {
		t.Errorf("unchanged re-index embedded %d chunks", s2.ChunksEmbedded)
	}
	write(t, repo, "auth/session.go", strings.Replace(mustRead(t, repo, "auth/session.go"), "lasts ttl", "lasts for ttl", 1))
	s3, err := ix.Index(t.Context(), p, nil)
	must(t, err)
	if s3.ChunksEmbedded != 1 || s3.ChunksWritten < 3 {
		t.Errorf("one changed function: wrote %d chunks, embedded %d; want only the changed one embedded", s3.ChunksWritten, s3.ChunksEmbedded)
	}

	// Another model re-embeds the whole project (with SQLite / exact search any
	// dimension goes; pgvector's column keeps its dimension, so the same one is used).
	if !st.VectorIndex() {
		dims.Store(8)
	}
	ix2, err := index.New(st, reg, nil, index.Config{DataDir: t.TempDir(), EmbeddingModel: "local/embed-other", EmbedBatch: 64})
	must(t, err)
	s4, err := ix2.Index(t.Context(), p, nil)
	must(t, err)
	if s4.ChunksEmbedded != stats.ChunksWritten {
		t.Errorf("model change re-embedded %d chunks, want %d", s4.ChunksEmbedded, stats.ChunksWritten)
	}
	res, err = ix2.Search(t.Context(), p.UserID, p.ID, query, 3)
	must(t, err)
	if len(res) == 0 || res[0].ChunkID != target.ID || res[0].VectorRank != 1 {
		t.Errorf("search after re-embedding: %+v", res)
	}

	// An embeddings server failing fails the run with the reason.
	broken := llmtest.NewOpenAI(t, func(llmtest.RecordedRequest) llmtest.Reply { return llmtest.Reply{Status: 500, Error: "boom"} })
	bp, err := llm.NewOpenAICompatible(llm.ProviderConfig{Name: "broken", BaseURL: broken.URL})
	must(t, err)
	breg, err := llm.NewRegistry(llm.RegistryConfig{Providers: []llm.Provider{bp}})
	must(t, err)
	ix3, err := index.New(st, breg, nil, index.Config{DataDir: t.TempDir(), EmbeddingModel: "broken/x"})
	must(t, err)
	p2 := newProject(t, st, repo)
	if _, err := ix3.Index(t.Context(), p2, nil); err == nil || !strings.Contains(err.Error(), "embed") {
		t.Errorf("failing embeddings server: %v", err)
	}
}

func TestNewRejectsUnknownModel(t *testing.T) {
	st := openStore(t, "sqlite")
	var dims atomic.Int64
	dims.Store(8)
	_, reg := embedServer(t, &dims)
	if _, err := index.New(st, reg, nil, index.Config{DataDir: t.TempDir(), EmbeddingModel: "nope/x"}); err == nil {
		t.Error("unknown provider accepted")
	}
	if _, err := index.New(st, nil, nil, index.Config{DataDir: t.TempDir(), EmbeddingModel: "local/x"}); err == nil {
		t.Error("a model without a registry accepted")
	}
	if _, err := index.New(st, nil, nil, index.Config{}); err == nil {
		t.Error("no data dir accepted")
	}
}
