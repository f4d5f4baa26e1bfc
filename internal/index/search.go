package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

// rrfK is the reciprocal rank fusion constant (Cormack et al.): a document's fused score
// is the sum over the rankings it appears in of 1 / (rrfK + rank).
const rrfK = 60

// maxEmbedChars bounds the text sent to the embedding model per chunk.
const maxEmbedChars = 8000

// Result is one search hit.
type Result struct {
	ChunkID   uuid.UUID `json:"chunk_id"`
	Path      string    `json:"path"`
	StartLine int       `json:"start_line"`
	EndLine   int       `json:"end_line"`
	Symbol    string    `json:"symbol"`
	Language  string    `json:"language"`
	// Snippet is a few lines of the chunk around its best match, starting at SnippetLine.
	Snippet     string  `json:"snippet"`
	SnippetLine int     `json:"snippet_line"`
	Score       float64 `json:"score"`
	// Keyword and Vector are the hit's 1-based ranks in each leg (0: not found there).
	KeywordRank int `json:"keyword_rank,omitempty"`
	VectorRank  int `json:"vector_rank,omitempty"`
}

// embedText is what the model embeds for a chunk: where it is, what it is, and the code.
func embedText(c *store.Chunk) string {
	t := c.Path
	if c.Symbol != "" {
		t += " " + c.Symbol
	}
	t += "\n" + c.Content
	if len(t) > maxEmbedChars {
		t = strings.ToValidUTF8(t[:maxEmbedChars], "")
	}
	return t
}

// embedPending embeds the project's chunks that have no embedding yet, in batches.
func (ix *Indexer) embedPending(ctx context.Context, p *store.Project, stats *Stats, report func(string)) error {
	state, err := ix.st.IndexState(ctx, p.UserID, p.ID)
	if err != nil {
		return err
	}
	if state.EmbeddingModel != "" && state.EmbeddingModel != ix.cfg.EmbeddingModel {
		ix.log.Info("embedding model changed: re-embedding the project")
		if err := ix.st.ResetEmbeddings(ctx, p.UserID, p.ID); err != nil {
			return err
		}
	}
	var last uuid.UUID
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunks, err := ix.st.ChunksToEmbed(ctx, p.UserID, p.ID, ix.cfg.EmbedBatch)
		if err != nil {
			return err
		}
		if len(chunks) == 0 {
			return nil
		}
		if chunks[0].ID == last {
			return errors.New("embeddings were not stored (the same chunks came back)")
		}
		last = chunks[0].ID
		inputs := make([]string, len(chunks))
		for i := range chunks {
			inputs[i] = embedText(&chunks[i])
		}
		vecs, _, err := ix.embed.Embed(ctx, ix.model, inputs)
		if err != nil {
			return fmt.Errorf("embed %d chunks with %s: %w", len(chunks), ix.cfg.EmbeddingModel, err)
		}
		if len(vecs) != len(chunks) {
			return fmt.Errorf("embed with %s: %d vectors for %d inputs", ix.cfg.EmbeddingModel, len(vecs), len(chunks))
		}
		cvs := make([]store.ChunkVector, len(chunks))
		for i := range chunks {
			cvs[i] = store.ChunkVector{ChunkID: chunks[i].ID, Vector: vecs[i]}
		}
		if err := ix.st.SetEmbeddings(ctx, p.UserID, p.ID, ix.cfg.EmbeddingModel, cvs); err != nil {
			return err
		}
		stats.ChunksEmbedded += len(chunks)
		report("embed")
	}
}

// vectorSet is a project's embeddings held in memory for exact search, valid while the
// project's index generation is unchanged.
type vectorSet struct {
	generation int64
	ids        []uuid.UUID
	vecs       [][]float32 // unit length
}

// maxCachedProjects bounds the exact-search cache.
const maxCachedProjects = 16

func (ix *Indexer) vectors(ctx context.Context, userID, projectID uuid.UUID) (*vectorSet, error) {
	state, err := ix.st.IndexState(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	ix.vecMu.Lock()
	vs := ix.vecCache[projectID]
	ix.vecMu.Unlock()
	if vs != nil && vs.generation == state.Generation {
		return vs, nil
	}
	cvs, err := ix.st.ChunkVectors(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	vs = &vectorSet{generation: state.Generation, ids: make([]uuid.UUID, len(cvs)), vecs: make([][]float32, len(cvs))}
	for i, cv := range cvs {
		vs.ids[i], vs.vecs[i] = cv.ChunkID, normalize(cv.Vector)
	}
	ix.vecMu.Lock()
	if len(ix.vecCache) >= maxCachedProjects {
		for k := range ix.vecCache { // evict one at random
			delete(ix.vecCache, k)
			break
		}
	}
	ix.vecCache[projectID] = vs
	ix.vecMu.Unlock()
	return vs, nil
}

func normalize(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return v
	}
	inv := float32(1 / math.Sqrt(n))
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * inv
	}
	return out
}

type scored struct {
	id    uuid.UUID
	score float64
}

// nearest is exact cosine search over the set.
func (vs *vectorSet) nearest(q []float32, k int) []scored {
	q = normalize(q)
	out := make([]scored, 0, len(vs.ids))
	for i, v := range vs.vecs {
		if len(v) != len(q) {
			continue
		}
		var dot float32
		for j := range v {
			dot += v[j] * q[j]
		}
		out = append(out, scored{vs.ids[i], float64(dot)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].score > out[j].score })
	return out[:min(k, len(out))]
}

// Search returns the project's chunks that best match q: keyword and (with an embedding
// model) vector rankings fused by reciprocal rank fusion. A project that is not the
// user's is store.ErrNotFound.
func (ix *Indexer) Search(ctx context.Context, userID, projectID uuid.UUID, q string, limit int) ([]Result, error) {
	if _, err := ix.st.GetProject(ctx, userID, projectID); err != nil {
		return nil, err
	}
	limit = max(1, min(limit, 100))
	depth := max(50, 3*limit) // how deep each leg's ranking goes into the fusion
	terms := QueryTerms(q)
	// Chunks holding every word of the query (in some form) rank first; only when they
	// are too few does the any-word search fill in. Besides precision this keeps common
	// words cheap: an AND of posting lists ranks far fewer rows than an OR.
	kw, order, err := ix.keywordLeg(ctx, userID, projectID, q, terms, limit, depth)
	if err != nil {
		return nil, err
	}
	fused := map[uuid.UUID]*Result{}
	chunks := map[uuid.UUID]*store.Chunk{}
	add := func(c *store.Chunk, rank int, vector bool) {
		r := fused[c.ID]
		if r == nil {
			r = &Result{ChunkID: c.ID, Path: c.Path, StartLine: c.StartLine, EndLine: c.EndLine, Symbol: c.Symbol, Language: c.Language}
			fused[c.ID] = r
			chunks[c.ID] = c
		}
		r.Score += 1 / float64(rrfK+rank)
		if vector {
			r.VectorRank = rank
		} else {
			r.KeywordRank = rank
		}
	}
	for rank, i := range order {
		add(&kw[i].Chunk, rank+1, false)
	}
	if ix.embed != nil && strings.TrimSpace(q) != "" {
		hits, err := ix.vectorLeg(ctx, userID, projectID, q, depth)
		if err != nil {
			return nil, err
		}
		for i := range hits {
			add(&hits[i], i+1, true)
		}
	}
	out := make([]Result, 0, len(fused))
	for _, r := range fused {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].StartLine < out[j].StartLine
	})
	out = out[:min(limit, len(out))]
	for i := range out {
		c := chunks[out[i].ChunkID]
		out[i].Snippet, out[i].SnippetLine = snippet(c.Content, c.StartLine, terms)
	}
	return out, nil
}

// keywordLeg runs the keyword search — chunks holding every word of the query first, the
// any-word search filling in when they are too few — and returns its hits with the
// order to rank them in: tier first, then how many of the query's terms a chunk's symbol
// or path names.
func (ix *Indexer) keywordLeg(ctx context.Context, userID, projectID uuid.UUID, q string, terms []string, limit, depth int) ([]store.ChunkHit, []int, error) {
	groups := QueryGroups(q)
	var kw []store.ChunkHit
	tier := map[uuid.UUID]int{}
	if len(groups) > 1 {
		all, err := ix.st.KeywordSearch(ctx, userID, projectID, groups, depth)
		if err != nil {
			return nil, nil, err
		}
		kw = all
	}
	if len(kw) < limit {
		for _, h := range kw {
			tier[h.ID] = -1
		}
		anyWord, err := ix.st.KeywordSearch(ctx, userID, projectID, [][]string{terms}, depth)
		if err != nil {
			return nil, nil, err
		}
		for _, h := range anyWord {
			if _, dup := tier[h.ID]; !dup {
				tier[h.ID] = 1
				kw = append(kw, h)
			}
		}
	}
	// Within the keyword leg, a chunk whose symbol or path names more of the query's
	// terms goes first: in code, "RateLimiter" in a name says more than the same words
	// in a body (and the two dialects' text ranks then agree on what matters most).
	want := map[string]bool{}
	for _, t := range terms {
		want[t] = true
	}
	named := make([]int, len(kw))
	for i := range kw {
		seen := map[string]bool{}
		for _, t := range Tokens(kw[i].Symbol + " " + kw[i].Path) {
			if want[t] && !seen[t] {
				seen[t] = true
				named[i]++
			}
		}
	}
	order := make([]int, len(kw))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ta, tb := tier[kw[order[a]].ID], tier[kw[order[b]].ID]
		if ta != tb {
			return ta < tb
		}
		return named[order[a]] > named[order[b]]
	})
	return kw, order, nil
}

// vectorLeg embeds the query and returns the nearest chunks, through the database's
// vector index or exactly in Go.
func (ix *Indexer) vectorLeg(ctx context.Context, userID, projectID uuid.UUID, q string, k int) ([]store.Chunk, error) {
	vecs, _, err := ix.embed.Embed(ctx, ix.model, []string{q})
	if err != nil {
		return nil, fmt.Errorf("embed the query: %w", err)
	}
	if len(vecs) != 1 {
		return nil, fmt.Errorf("embed the query: %d vectors for one input", len(vecs))
	}
	if ix.st.VectorIndex() {
		hits, err := ix.st.NearestChunks(ctx, userID, projectID, vecs[0], k)
		if errors.Is(err, store.ErrDimensionMismatch) {
			return nil, nil // the index was made with another model; keyword results stand
		}
		if err != nil {
			return nil, err
		}
		out := make([]store.Chunk, len(hits))
		for i := range hits {
			out[i] = hits[i].Chunk
		}
		return out, nil
	}
	vs, err := ix.vectors(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	near := vs.nearest(vecs[0], k)
	if len(near) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, len(near))
	for i, n := range near {
		ids[i] = n.id
	}
	got, err := ix.st.GetChunks(ctx, userID, projectID, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[uuid.UUID]store.Chunk, len(got))
	for _, c := range got {
		byID[c.ID] = c
	}
	out := make([]store.Chunk, 0, len(near))
	for _, n := range near {
		if c, ok := byID[n.id]; ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// snippetLines is how many lines a snippet shows.
const snippetLines = 5

// snippet returns the lines of content around the line that matches the most query
// terms (the chunk's first lines when none does), and the file line it starts at.
func snippet(content string, startLine int, terms []string) (string, int) {
	lines := strings.Split(content, "\n")
	want := map[string]bool{}
	for _, t := range terms {
		want[t] = true
	}
	best, bestScore := 0, 0
	for i, l := range lines {
		score := 0
		seen := map[string]bool{}
		for _, t := range Tokens(l) {
			if want[t] && !seen[t] {
				seen[t] = true
				score++
			}
		}
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	from := max(0, best-snippetLines/2)
	if bestScore == 0 {
		from = 0
	}
	to := min(len(lines), from+snippetLines)
	from = max(0, min(from, to-snippetLines))
	return strings.Join(lines[from:to], "\n"), startLine + from
}
