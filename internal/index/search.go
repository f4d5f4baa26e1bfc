package index

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
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

// Search returns the project's chunks that best match q: the keyword ranking (BM25F over
// the chunks' fields, see rank.go) and, with an embedding model, the vector ranking,
// fused by reciprocal rank fusion. A project that is not the user's is
// store.ErrNotFound.
func (ix *Indexer) Search(ctx context.Context, userID, projectID uuid.UUID, q string, limit int) ([]Result, error) {
	if _, err := ix.st.GetProject(ctx, userID, projectID); err != nil {
		return nil, err
	}
	limit = max(1, min(limit, 100))
	depth := max(50, 3*limit) // how deep each leg's ranking goes into the fusion
	kw, vec, err := ix.legs(ctx, userID, projectID, q, depth)
	if err != nil {
		return nil, err
	}
	fused := map[uuid.UUID]*Result{}
	chunks := map[uuid.UUID]*store.Chunk{}
	add := func(c *store.Chunk, rank int, vector bool) {
		r := fused[c.ID]
		if r == nil {
			r = newResult(c)
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
	for i := range kw[:min(depth, len(kw))] {
		add(&kw[i].chunk, i+1, false)
	}
	for i := range vec {
		add(&vec[i], i+1, true)
	}
	out := make([]Result, 0, len(fused))
	for _, r := range fused {
		out = append(out, *r)
	}
	sortResults(out)
	out = out[:min(limit, len(out))]
	terms := QueryTerms(q)
	for i := range out {
		c := chunks[out[i].ChunkID]
		out[i].Snippet, out[i].SnippetLine = snippet(c.Content, c.StartLine, terms)
	}
	return out, nil
}

func newResult(c *store.Chunk) *Result {
	return &Result{ChunkID: c.ID, Path: c.Path, StartLine: c.StartLine, EndLine: c.EndLine, Symbol: c.Symbol, Language: c.Language}
}

// sortResults orders results best first, then by path and line for a stable order.
func sortResults(out []Result) {
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].StartLine < out[j].StartLine
	})
}

// legs runs the keyword leg and, with an embedding model, the vector leg (depth chunks).
func (ix *Indexer) legs(ctx context.Context, userID, projectID uuid.UUID, q string, depth int) ([]keywordHit, []store.Chunk, error) {
	kw, err := ix.keywordLeg(ctx, userID, projectID, parseQuery(q))
	if err != nil {
		return nil, nil, err
	}
	if ix.embed == nil || strings.TrimSpace(q) == "" {
		return kw, nil, nil
	}
	vec, err := ix.vectorLeg(ctx, userID, projectID, q, depth)
	if err != nil {
		return nil, nil, err
	}
	return kw, vec, nil
}

// keywordHit is a chunk found by the keyword leg, with its score (BM25F times the
// prior of its kind of file).
type keywordHit struct {
	chunk store.Chunk
	score float64
	words []float64 // the score's part for each word of the query
}

// candidateDepth is how many chunks each of the keyword leg's database queries returns
// to be ranked; the query holding every word of the question, the most specific,
// returns allWordsDepth. A query that the statistics show cannot match more is read
// unranked (store.KeywordAll); beyond them the database's own text rank chooses (FTS5's
// bm25; PostgreSQL's ts_rank, which has no IDF): reading the all-words matches twice as deep
// made both dialects rank one more question of the benchmark alike and changed
// nothing else (docs/BENCHMARKS.md).
const (
	candidateDepth = 150
	allWordsDepth  = 2 * candidateDepth
)

// keywordLeg finds candidates in the database — the chunks holding every word of the
// query in some form, then, while they are fewer than candidateDepth, every word but
// one (each query ranked by the database's own text rank, its best candidateDepth
// kept, allWordsDepth for the first), then, when there are next to none, any of its
// rarer words (ranked here alike for every dialect: anyWordCandidates), and the chunks
// of the files whose paths match it — and ranks them with BM25F, best first.
func (ix *Indexer) keywordLeg(ctx context.Context, userID, projectID uuid.UUID, q query) ([]keywordHit, error) {
	if len(q.words) == 0 {
		return nil, nil
	}
	stats, err := ix.st.KeywordStats(ctx, userID, projectID, q.keys())
	if err != nil {
		return nil, err
	}
	var hits []keywordHit
	seen := map[uuid.UUID]bool{}
	collect := func(groups [][]string, depth int) error {
		found, err := ix.keywordQuery(ctx, userID, projectID, groups, depth, stats)
		for i := range found {
			if !seen[found[i].ID] {
				seen[found[i].ID] = true
				hits = append(hits, keywordHit{chunk: found[i]})
			}
		}
		return err
	}
	groups := q.groups()
	if len(groups) > 1 {
		if err := collect(groups, allWordsDepth); err != nil {
			return nil, err
		}
	}
	// Every word but one: a question often has a word the code does not use. Not when
	// the others are all common: the database would rank too many chunks.
	for drop := 0; len(groups) > 2 && drop < len(groups) && len(hits) < candidateDepth; drop++ {
		rest := slices.Delete(slices.Clone(groups), drop, drop+1)
		if matchesAtMost(rest, stats) > leaveOneOutBudget {
			continue
		}
		if err := collect(rest, candidateDepth); err != nil {
			return nil, err
		}
	}
	sc := newScorer(q, stats)
	ps, err := ix.pathSet(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	var anyWord []store.Chunk
	if len(hits) < anyWordBelow {
		if anyWord, err = ix.anyWordCandidates(ctx, userID, projectID, sc, ps, rarest(q.keys(), stats)); err != nil {
			return nil, err
		}
	}
	// The files whose path names the question's words are candidates too, whatever
	// their text: "multipart form data" is mime/multipart/formdata.go; and so are the
	// main files of the packages whose docs best match it.
	files := ps.candidates(sc)
	pkg, fileDoc, docFiles := ps.docs.scores(sc)
	for _, f := range docFiles {
		files = append(files, f)
		if pf, ok := ps.packageFile[path.Dir(f)]; ok && pf != f {
			files = append(files, pf)
		}
	}
	fileChunks, err := ix.st.ChunksOfFiles(ctx, userID, projectID, files)
	if err != nil {
		return nil, err
	}
	for _, c := range append(anyWord, fileChunks...) {
		if !seen[c.ID] {
			seen[c.ID] = true
			hits = append(hits, keywordHit{chunk: c})
		}
	}
	for i := range hits {
		h := &hits[i]
		prior := pathPrior(h.chunk.Path, q.aboutTests, ps.kinds[h.chunk.Path])
		h.words = sc.wordScores(h.chunk.SearchText)
		doc, fdoc := pkg[path.Dir(h.chunk.Path)], fileDoc[h.chunk.Path]
		for j := range h.words {
			if doc != nil {
				h.words[j] += doc[j]
			}
			if fdoc != nil {
				h.words[j] += fdoc[j]
			}
			h.words[j] *= prior
			h.score += h.words[j]
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		a, b := &hits[i], &hits[j]
		if a.score != b.score {
			return a.score > b.score
		}
		if a.chunk.Path != b.chunk.Path {
			return a.chunk.Path < b.chunk.Path
		}
		return a.chunk.StartLine < b.chunk.StartLine
	})
	return hits, nil
}

// anyWordCandidates returns the candidateDepth chunks holding any of keys that rank
// best by a rank computed here, so that both dialects find the same ones (each
// database's own text rank would keep a different set: FTS5's bm25 has IDF, PostgreSQL's
// ts_rank none): the sum over the query's words of the best weighted IDF among the
// word's keys a chunk holds, doubled for a key its symbol contains (the store finds no
// term frequencies, and a function named after a word says it most), then longer
// chunks first (they say a word more often), then by path and line.
func (ix *Indexer) anyWordCandidates(ctx context.Context, userID, projectID uuid.UUID, sc *scorer, ps *pathSet, keys []string) ([]store.Chunk, error) {
	matches, err := ix.st.KeywordMatches(ctx, userID, projectID, keys)
	if err != nil {
		return nil, err
	}
	type candidate struct {
		id    uuid.UUID
		o     *chunkOutline
		words []float64
		score float64
	}
	byID := map[uuid.UUID]*candidate{}
	for i, k := range keys {
		word, weight := sc.q.wordOf(k)
		for _, id := range matches[i] {
			o := ps.outlines[id]
			if o == nil { // written after the outlines were read
				continue
			}
			c := byID[id]
			if c == nil {
				c = &candidate{id: id, o: o, words: make([]float64, len(sc.q.words))}
				byID[id] = c
			}
			x := weight * sc.idf(k)
			if strings.Contains(o.symbol, k) {
				x *= 2
			}
			c.words[word] = max(c.words[word], x)
		}
	}
	cands := make([]*candidate, 0, len(byID))
	for _, c := range byID {
		for _, x := range c.words {
			c.score += x
		}
		cands = append(cands, c)
	}
	slices.SortFunc(cands, func(a, b *candidate) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(b.o.end-b.o.start, a.o.end-a.o.start),
			strings.Compare(a.o.path, b.o.path), cmp.Compare(a.o.start, b.o.start))
	})
	ids := make([]uuid.UUID, 0, candidateDepth)
	for _, c := range cands[:min(candidateDepth, len(cands))] {
		ids = append(ids, c.id)
	}
	return ix.st.GetChunks(ctx, userID, projectID, ids)
}

// keywordQuery returns the best depth chunks holding every group by the database's own
// text rank, or, when the statistics show that no more than depth can match, all of
// them unranked, which costs the database far less.
func (ix *Indexer) keywordQuery(ctx context.Context, userID, projectID uuid.UUID, groups [][]string, depth int, stats store.KeywordStats) ([]store.Chunk, error) {
	if matchesAtMost(groups, stats) <= int64(depth) {
		return ix.st.KeywordAll(ctx, userID, projectID, groups, depth)
	}
	ranked, err := ix.st.KeywordSearch(ctx, userID, projectID, groups, depth)
	found := make([]store.Chunk, len(ranked))
	for i := range ranked {
		found[i] = ranked[i].Chunk
	}
	return found, err
}

// pathSet is a project's indexed paths with their search text (path field only) and
// their layout facts, and its chunks' outlines, valid while the project's index
// generation is unchanged.
type pathSet struct {
	generation int64
	paths      []string
	texts      []string
	// withToken lists, for each token of the paths' texts, the paths holding it (their
	// indexes into paths, ascending); a query's candidates are the paths holding one of
	// its keys or a compound of them, found here rather than by scoring every path.
	withToken map[string][]int32
	// longByHead lists the tokens long enough to be a compound of keys by their first
	// minCompound bytes (scorer.heads).
	longByHead map[uint32][]string
	kinds      map[string]pathKind
	// packageFile is each directory's file named after it (kindPackageFile).
	packageFile map[string]string
	docs        *packageDocs
	outlines    map[uuid.UUID]*chunkOutline
}

// chunkOutline is where a chunk is and its symbol in lower case.
type chunkOutline struct {
	path       string
	start, end int
	symbol     string
}

// pathFiles is how many files pathCandidates returns.
const pathFiles = 12

// candidates returns the files whose paths best match the query (BM25F on the path
// alone, times the path's prior), at most pathFiles.
func (ps *pathSet) candidates(sc *scorer) []string {
	type scoredPath struct {
		i     int
		score float64
	}
	var best []scoredPath
	for _, i := range ps.matching(sc) {
		x := sc.score(ps.texts[i])
		if x == 0 {
			continue
		}
		x *= pathPrior(ps.paths[i], sc.q.aboutTests, ps.kinds[ps.paths[i]])
		best = append(best, scoredPath{int(i), x})
	}
	sort.Slice(best, func(a, b int) bool {
		if best[a].score != best[b].score {
			return best[a].score > best[b].score
		}
		return ps.paths[best[a].i] < ps.paths[best[b].i]
	})
	out := make([]string, 0, pathFiles)
	for _, b := range best[:min(pathFiles, len(best))] {
		out = append(out, ps.paths[b.i])
	}
	return out
}

// matching returns the indexes of the paths whose text holds a key of sc's query or a
// token made of its keys (scorer.compoundSlots), ascending: every path that can score.
func (ps *pathSet) matching(sc *scorer) []int32 {
	var out []int32
	for _, k := range sc.keys {
		out = append(out, ps.withToken[k]...)
	}
	for _, h := range sc.heads {
		for _, t := range ps.longByHead[h] {
			if sc.compoundSlots(t) != nil {
				out = append(out, ps.withToken[t]...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// indexTokens builds withToken and longByHead from texts.
func (ps *pathSet) indexTokens() {
	ps.withToken = map[string][]int32{}
	ps.longByHead = map[uint32][]string{}
	for i, text := range ps.texts {
		for t := range strings.FieldsSeq(text) {
			if t == store.SearchFieldSep {
				continue
			}
			in := ps.withToken[t]
			if len(in) == 0 && len(t) >= 2*minCompound {
				ps.longByHead[head(t)] = append(ps.longByHead[head(t)], t)
			}
			if len(in) == 0 || in[len(in)-1] != int32(i) {
				ps.withToken[t] = append(in, int32(i))
			}
		}
	}
}

func (ix *Indexer) pathSet(ctx context.Context, userID, projectID uuid.UUID) (*pathSet, error) {
	state, err := ix.st.IndexState(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	ix.pathMu.Lock()
	ps := ix.paths[projectID]
	ix.pathMu.Unlock()
	if ps != nil && ps.generation == state.Generation {
		return ps, nil
	}
	hashes, err := ix.st.FileHashes(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	ps = &pathSet{generation: state.Generation, paths: make([]string, 0, len(hashes))}
	for p := range hashes {
		ps.paths = append(ps.paths, p)
	}
	sort.Strings(ps.paths)
	ps.texts = make([]string, len(ps.paths))
	for i, p := range ps.paths {
		ps.texts[i] = SearchText("", p, "")
	}
	ps.indexTokens()
	ps.kinds = layoutKinds(ps.paths)
	ps.packageFile = map[string]string{}
	for _, p := range ps.paths { // sorted: the first of a directory's (png.go before png.s)
		dir := path.Dir(p)
		if _, ok := ps.packageFile[dir]; !ok && ps.kinds[p]&kindPackageFile != 0 && !isTestPath(p) {
			ps.packageFile[dir] = p
		}
	}
	docChunks, err := ix.st.PackageDocChunks(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	ps.docs = newPackageDocs(docChunks)
	outlines, err := ix.st.ChunkOutlines(ctx, userID, projectID)
	if err != nil {
		return nil, err
	}
	interned := make(map[string]string, len(ps.paths))
	for _, p := range ps.paths {
		interned[p] = p
	}
	ps.outlines = make(map[uuid.UUID]*chunkOutline, len(outlines))
	for _, o := range outlines {
		p, ok := interned[o.Path]
		if !ok {
			p = o.Path
		}
		ps.outlines[o.ID] = &chunkOutline{path: p, start: o.StartLine, end: o.EndLine, symbol: strings.ToLower(o.Symbol)}
	}
	ix.pathMu.Lock()
	if len(ix.paths) >= maxCachedProjects {
		for k := range ix.paths { // evict one at random
			delete(ix.paths, k)
			break
		}
	}
	ix.paths[projectID] = ps
	ix.pathMu.Unlock()
	return ps, nil
}

// matchBudget and leaveOneOutBudget bound the chunks a query beyond the first may make
// the database rank (PostgreSQL reads each match's tsvector to rank it). The any-word
// query asks for the rarest keys whose document frequencies sum to at most matchBudget
// (the rarest one at least): common words weigh little in BM25. A query leaving one
// word out runs only when its rarest word is held by at most leaveOneOutBudget chunks:
// when few chunks hold every word, those holding all but one are the next evidence,
// and the words left are often all common ("an in-memory file system for tests": 16
// chunks hold the four, and the rarest of file, system and test is in 4 157, so at
// 2000 the other chunks of testing/fstest/mapfs.go never counted; docs/BENCHMARKS.md).
const (
	matchBudget       = 2000
	leaveOneOutBudget = 3 * matchBudget
)

// anyWordBelow is how few candidates the other queries must have found for the
// any-word query to run: on the relevance benchmark it added nothing otherwise.
const anyWordBelow = 10

// matchesAtMost bounds the chunks that hold every group (some key of each): no more
// than hold the rarest group.
func matchesAtMost(groups [][]string, st store.KeywordStats) int64 {
	bound := int64(math.MaxInt64)
	for _, g := range groups {
		var n int64
		for _, k := range g {
			n += st.DocFreq[k]
		}
		bound = min(bound, n)
	}
	return bound
}

// rarest returns the rarest of keys within matchBudget, by document frequency.
func rarest(keys []string, st store.KeywordStats) []string {
	keys = slices.Clone(keys)
	slices.SortStableFunc(keys, func(a, b string) int { return cmp.Compare(st.DocFreq[a], st.DocFreq[b]) })
	var out []string
	var sum int64
	for _, k := range keys {
		sum += st.DocFreq[k]
		if len(out) > 0 && sum > matchBudget {
			break
		}
		out = append(out, k)
	}
	return out
}

// FileResult is a file found by SearchFiles.
type FileResult struct {
	Path     string  `json:"path"`
	Language string  `json:"language"`
	Score    float64 `json:"score"` // higher is better; comparable within one result list
	// Chunks are the file's best matching chunks, best first (at most filesChunks).
	Chunks []Result `json:"chunks"`
}

// filesChunks is how many of a file's chunks SearchFiles returns and counts in its score.
const filesChunks = 3

// A file's keyword score is made of its best chunks' scores, weighted by
// fileChunkWeights (the best decides, the next ones tell a file about the question from
// one that mentions it once), and, coverWeight of it, of the best score of each query
// word among all its chunks; then it is multiplied by the share of the query's words
// the file holds, to the power coordExponent (a file answering every word of the
// question beats one that repeats a single word). Set on the relevance benchmark
// (docs/BENCHMARKS.md).
var fileChunkWeights = [filesChunks]float64{1, 0.3, 0.1}

const (
	coverWeight   = 0.3
	coordExponent = 0.7
)

// SearchFiles returns the project's files that best answer q, best first, for questions
// whose answer is a file. A file's keyword score is its best chunks' BM25F scores,
// weighted (fileChunkWeights); with an embedding model, that ranking and the files'
// order in the vector ranking are fused by reciprocal rank fusion. A project that is
// not the user's is store.ErrNotFound.
func (ix *Indexer) SearchFiles(ctx context.Context, userID, projectID uuid.UUID, q string, limit int) ([]FileResult, error) {
	if _, err := ix.st.GetProject(ctx, userID, projectID); err != nil {
		return nil, err
	}
	limit = max(1, min(limit, 100))
	kw, vec, err := ix.legs(ctx, userID, projectID, q, max(100, 10*limit))
	if err != nil {
		return nil, err
	}
	files := map[string]*FileResult{}
	contents := map[uuid.UUID]*store.Chunk{}
	cover := map[string][]float64{}
	var order []*FileResult
	terms := QueryTerms(q)
	for i := range kw {
		c := &kw[i].chunk
		f := files[c.Path]
		if f == nil {
			f = &FileResult{Path: c.Path, Language: c.Language}
			files[c.Path] = f
			order = append(order, f)
			cover[c.Path] = make([]float64, len(kw[i].words))
		}
		for j, x := range kw[i].words {
			cover[c.Path][j] = max(cover[c.Path][j], x)
		}
		if n := len(f.Chunks); n < filesChunks {
			r := newResult(c)
			r.KeywordRank, r.Score = i+1, kw[i].score
			f.Chunks = append(f.Chunks, *r)
			contents[c.ID] = c
			f.Score += fileChunkWeights[n] * kw[i].score
		}
	}
	for _, f := range order {
		cov, words := 0.0, 0
		for _, x := range cover[f.Path] {
			cov += x
			if x > 0 {
				words++
			}
		}
		f.Score = (1-coverWeight)*f.Score + coverWeight*cov
		f.Score *= math.Pow(float64(words)/float64(len(cover[f.Path])), coordExponent)
	}
	if len(vec) > 0 {
		order = fuseFiles(order, files, vec, contents)
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].Score != order[j].Score {
			return order[i].Score > order[j].Score
		}
		return order[i].Path < order[j].Path
	})
	out := make([]FileResult, 0, min(limit, len(order)))
	for _, f := range order[:min(limit, len(order))] {
		for i := range f.Chunks {
			c := contents[f.Chunks[i].ChunkID]
			f.Chunks[i].Snippet, f.Chunks[i].SnippetLine = snippet(c.Content, c.StartLine, terms)
		}
		out = append(out, *f)
	}
	return out, nil
}

// fuseFiles replaces the files' keyword scores by the reciprocal rank fusion of their
// keyword rank and their rank in the vector ranking (by their first chunk there),
// adding the files only the vector leg found.
func fuseFiles(order []*FileResult, files map[string]*FileResult, vec []store.Chunk, contents map[uuid.UUID]*store.Chunk) []*FileResult {
	sort.SliceStable(order, func(i, j int) bool { return order[i].Score > order[j].Score })
	for i, f := range order {
		f.Score = 1 / float64(rrfK+i+1)
	}
	rank := 0
	ranked := map[string]bool{}
	for i := range vec {
		c := &vec[i]
		f := files[c.Path]
		if f == nil {
			f = &FileResult{Path: c.Path, Language: c.Language}
			files[c.Path] = f
			order = append(order, f)
		}
		if len(f.Chunks) < filesChunks && !slices.ContainsFunc(f.Chunks, func(r Result) bool { return r.ChunkID == c.ID }) {
			r := newResult(c)
			r.VectorRank = i + 1
			f.Chunks = append(f.Chunks, *r)
			contents[c.ID] = c
		}
		if !ranked[c.Path] {
			ranked[c.Path] = true
			rank++
			f.Score += 1 / float64(rrfK+rank)
		}
	}
	return order
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
