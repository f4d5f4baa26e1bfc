package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/llm/pricing"
	"github.com/vibecoder/vibecoder/internal/safefs"
	"github.com/vibecoder/vibecoder/internal/store"
)

// The coder's context. Every file of the workspace is a candidate for the prompt's
// full-text section; each is scored by what points at it — its chunks' fused search
// scores, being named in the task, the review or the failing test output, declaring
// (or using) the identifiers those name, its path naming the task's words, and its rank
// in the repository's reference graph personalised toward all of these — and the
// section is filled best first, each file whole or not at all, up to a budget sized in
// tokens from the model's context window. The files left out appear in the repository
// map with their top-level declarations, best first, up to the map's own budget.

// SearchFunc searches the project's index (nil: no index).
type SearchFunc func(ctx context.Context, query string, limit int) ([]index.Result, error)

// PromptInput is what the coder's prompt is made from: the codegen step fills it from
// the execution, the context benchmark from a commit of a repository's history.
type PromptInput struct {
	Title, Description string
	// Dir is the workspace, read through safefs (it is untrusted).
	Dir    string
	Search SearchFunc
	// Review is the last review that asked for changes, Diff the change so far.
	Review, Diff string
	// Failed is the last test run, when it failed.
	Failed *TestRun
	// Window is the coder model's context window in tokens (0: pricing.DefaultContextWindow).
	Window int
	// MaxTokens caps the context (full texts and map) in tokens whatever the window
	// (0: DefaultContextTokens).
	MaxTokens int
	Log       *slog.Logger
}

// PromptReport says what a prompt carries.
type PromptReport struct {
	Bytes      int      `json:"bytes"`
	FileBudget int      `json:"file_budget"` // bytes for full texts
	MapBudget  int      `json:"map_budget"`  // bytes for the repository map
	Full       []string `json:"full"`        // files carried in full, best first
	Mapped     int      `json:"mapped"`      // files in the repository map
	Candidates int      `json:"candidates"`
	Hits       int      `json:"hits"` // search hits used
}

// Prompt budgets. A token is taken as 4 bytes (English prose and code average 3.5 to
// 4.5 bytes per token with the BPE tokenizers of the catalogued models; the estimate
// only has to keep the prompt well inside the window). The window first keeps
// reserveTokens for the answer (up to 8192 tokens), the review, the failing test output
// and the diff (up to 44 KB together) and the edit rounds' follow-ups; the context —
// full texts and repository map — gets half of what is left, at most the operator's
// cap (DefaultContextTokens unless VIBECODER_CODER_CONTEXT_TOKENS says otherwise, so a
// million-token window does not make every call cost a million tokens) and at least
// minContextTokens; an eighth of it is the map's.
const (
	bytesPerToken    = 4
	reserveTokens    = 16384
	minContextTokens = 4096
	searchHits       = 50 // hits asked of the index for ranking
	shownHits        = 8  // snippets shown for files not carried in full
	maxCandidates    = 5000
	maxSourceBytes   = 256 << 10 // a larger file is neither parsed nor carried
	maxParsedBytes   = 32 << 20  // the map reads at most this much in all
)

// DefaultContextTokens is the coder context's cap in tokens by default: on the context
// benchmark (docs/BENCHMARKS.md) it carries 86 % of the files a commit changed, where
// 32k carried 80 % and 40k 84 %.
const DefaultContextTokens = 48000

// contextBudget splits the context budget, in bytes, for a model's window and a cap in
// tokens (0: DefaultContextTokens).
func contextBudget(window, limit int) (files, repoMap int) {
	if window <= 0 {
		window = pricing.DefaultContextWindow
	}
	if limit <= 0 {
		limit = DefaultContextTokens
	}
	total := min(max((window-reserveTokens)/2, minContextTokens), max(limit, minContextTokens)) * bytesPerToken
	return total - total/8, total / 8
}

// BuildCoderPrompt writes the coder's prompt: the task, search snippets of files not
// carried in full, the repository map, the full texts, the review and the failing test.
func BuildCoderPrompt(ctx context.Context, in PromptInput) (string, PromptReport) {
	var rep PromptReport
	rep.FileBudget, rep.MapBudget = contextBudget(in.Window, in.MaxTokens)
	log := in.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Task\n%s\n\n%s\n\n", in.Title, in.Description)
	tree, err := safefs.Open(in.Dir)
	if err != nil {
		log.Warn("open the workspace for the prompt", slog.Any("error", err))
		tail(&b, in)
		rep.Bytes = b.Len()
		return b.String(), rep
	}
	defer tree.Close()
	var hits []index.Result
	if in.Search != nil {
		if hits, err = in.Search(ctx, in.Title+" "+in.Description, searchHits); err != nil {
			log.Warn("search the index for the prompt", slog.Any("error", err))
			hits = nil
		}
	}
	rep.Hits = len(hits)
	cands := loadCandidates(tree, hits, mentionText(in))
	rep.Candidates = len(cands.files)
	order := cands.rank(in, hits)
	full := map[int]bool{}
	var texts strings.Builder
	left := rep.FileBudget
	for _, i := range order {
		f := cands.files[i]
		if f.size > left {
			continue
		}
		body, err := tree.ReadFile(f.path, int64(left))
		if err != nil || len(body) > left {
			continue
		}
		left -= len(body)
		full[i] = true
		rep.Full = append(rep.Full, f.path)
		fmt.Fprintf(&texts, "%s\n```\n%s", f.path, body)
		if len(body) > 0 && body[len(body)-1] != '\n' {
			texts.WriteByte('\n')
		}
		texts.WriteString("```\n\n")
	}
	writeHits(&b, hits, cands, full)
	rep.Mapped = writeMap(&b, cands, order, full, rep.MapBudget)
	b.WriteString("# Files you will likely edit (full text)\n")
	b.WriteString(texts.String())
	tail(&b, in)
	rep.Bytes = b.Len()
	return b.String(), rep
}

// tail writes the review to address and the failing test run.
func tail(b *strings.Builder, in PromptInput) {
	if in.Review != "" {
		fmt.Fprintf(b, "# The reviewer asked for changes\n%s\nThe current diff against the base is:\n```diff\n%s```\nChange the code to address the review.\n\n",
			truncate(in.Review, 12000), truncate(in.Diff, 20000))
	}
	if last := in.Failed; last != nil {
		fmt.Fprintf(b, "# The tests failed after your previous change\nCommand: %s (exit %d)\n```\n%s\n```\nThe current diff against the base is:\n```diff\n%s```\nFix the code so that the tests pass.\n",
			last.Command, last.ExitCode, truncate(last.Output, 12000), truncate(in.Diff, 20000))
	}
}

// mentionText is where the task names files and identifiers: the task, the review and
// the failing test output.
func mentionText(in PromptInput) string {
	s := in.Title + "\n" + in.Description + "\n" + truncate(in.Review, 12000)
	if in.Failed != nil {
		s += "\n" + truncate(in.Failed.Output, 12000)
	}
	return s
}

// writeHits shows the best search hits of files not carried in full.
func writeHits(b *strings.Builder, hits []index.Result, c *candidates, full map[int]bool) {
	n := 0
	for _, h := range hits {
		if i, ok := c.byPath[h.Path]; ok && full[i] {
			continue
		}
		if n == 0 {
			b.WriteString("# Relevant code (from the index)\n")
		}
		fmt.Fprintf(b, "%s:%d-%d %s\n```\n%s\n```\n", h.Path, h.StartLine, h.EndLine, h.Symbol, h.Snippet)
		if n++; n == shownHits {
			break
		}
	}
	if n > 0 {
		b.WriteString("\n")
	}
}

// writeMap writes the repository map of the files not carried in full, in rank order:
// each with its declarations while three quarters of the budget are left, by name
// after that, until the budget is spent. It returns the number of files shown.
func writeMap(b *strings.Builder, c *candidates, order []int, full map[int]bool, budget int) int {
	b.WriteString("# Repository map (files not shown in full, most relevant first, with their top-level declarations)\n")
	used, shown, rest := 0, 0, 0
	for _, i := range order {
		if full[i] {
			continue
		}
		if used >= budget {
			rest++
			continue
		}
		f := c.files[i]
		entry := f.path + "\n"
		if used < budget/4*3 {
			for k, d := range f.decls {
				if k == 40 {
					entry += fmt.Sprintf("  … %d more\n", len(f.decls)-k)
					break
				}
				entry += "  " + d.line + "\n"
			}
		}
		if used+len(entry) > budget {
			entry = f.path + "\n"
			if used+len(entry) > budget {
				used, rest = budget, rest+1
				continue
			}
		}
		b.WriteString(entry)
		used += len(entry)
		shown++
	}
	if rest > 0 {
		fmt.Fprintf(b, "(%d more files)\n", rest)
	}
	b.WriteString("\n")
	return shown
}

// candidates are the workspace's files that may go into the prompt.
type candidates struct {
	files  []*srcFile
	byPath map[string]int
	graph  *refGraph
	score  []float64 // after rank
	text   string    // where files and names are mentioned
}

// loadCandidates reads the workspace's source files (and the other files the search
// hit or the text names) and parses their declarations. Past the read bounds (files
// listed, bytes parsed), only the files the search hit or the text names are added, so
// a large repository's relevant files are never lost to the alphabet.
func loadCandidates(tree *safefs.Tree, hits []index.Result, text string) *candidates {
	c := &candidates{byPath: map[string]int{}, text: text}
	wanted := map[string]bool{}
	for _, h := range hits {
		wanted[h.Path] = true
	}
	read := 0
	add := func(name string) {
		if _, dup := c.byPath[name]; dup {
			return
		}
		pointed := wanted[name] || strings.Contains(text, name)
		if !isSource(name) && !pointed || read >= maxParsedBytes && !pointed {
			return
		}
		body, err := tree.ReadFile(name, maxSourceBytes)
		if err != nil {
			return
		}
		read += len(body)
		c.byPath[name] = len(c.files)
		f := &srcFile{path: name, size: len(body), test: isTestFile(name)}
		if isSource(name) {
			f = parseSource(name, body)
		}
		c.files = append(c.files, f)
	}
	for _, name := range repoFiles(tree, maxCandidates) {
		add(name)
	}
	for _, h := range hits {
		add(h.Path) // beyond the listing's bound
	}
	c.graph = buildGraph(c.files)
	return c
}

// Weights of the signals in a file's score; each signal is scaled to [0, 1] first.
const (
	wSearch  = 1.0
	wBM25    = 1.0
	wNamed   = 1.5
	wDefines = 1.0
	wUses    = 0.25
	wPath    = 0.5
	wGraph   = 0.5
	// A test file, or a file that is not source (documentation, configuration), counts
	// for less unless the text names it: it is rarely the one to change.
	testFactor  = 0.5
	otherFactor = 0.3
)

// rank scores every candidate and returns their indexes best first.
func (c *candidates) rank(in PromptInput, hits []index.Result) []int {
	n := len(c.files)
	search := c.searchSignal(hits)
	named := c.namedSignal()
	defines, uses := c.symbolSignals()
	paths := c.pathSignal(in.Title + " " + in.Description)
	words := c.bm25Signal(in.Title + " " + in.Description)
	personal := make([]float64, n)
	for i := range personal {
		personal[i] = wSearch*search[i] + wBM25*words[i] + wNamed*named[i] + wDefines*defines[i] + wPath*paths[i]
	}
	graph := scaled(c.graph.pageRank(personal))
	c.score = make([]float64, n)
	for i, f := range c.files {
		s := personal[i] + wUses*uses[i] + wGraph*graph[i]
		switch {
		case named[i] >= 1:
		case !isSource(f.path):
			s *= otherFactor
		case f.test:
			s *= testFactor
		}
		c.score[i] = s
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return c.score[order[a]] > c.score[order[b]] })
	return order
}

// searchSignal is each file's best hit score plus a quarter of its other hits', scaled.
func (c *candidates) searchSignal(hits []index.Result) []float64 {
	best := make([]float64, len(c.files))
	sum := make([]float64, len(c.files))
	for _, h := range hits {
		i, ok := c.byPath[h.Path]
		if !ok || h.Score <= 0 {
			continue
		}
		best[i] = max(best[i], h.Score)
		sum[i] += h.Score
	}
	for i := range best {
		best[i] += (sum[i] - best[i]) / 4
	}
	return scaled(best)
}

// bm25Signal is a plain BM25 (k1 1.2, b 0.75) of the task's words over whole files,
// each file's words being its identifiers and comment words split as the index splits
// them ("HashPassword" → hashpassword hash password). The search ranks chunks; this
// ranks files, and needs no index.
func (c *candidates) bm25Signal(task string) []float64 {
	want := map[string]bool{}
	for _, t := range index.QueryTerms(task) {
		want[t] = true
	}
	n := len(c.files)
	tfs := make([]map[string]int, n)
	lens := make([]float64, n)
	df := map[string]int{}
	split := map[string][]string{}
	avg := 0.0
	for i, f := range c.files {
		tf := map[string]int{}
		for id, k := range f.uses {
			toks, ok := split[id]
			if !ok {
				toks = index.Tokens(id)
				split[id] = toks
			}
			lens[i] += float64(k * len(toks))
			for _, t := range toks {
				if want[t] {
					tf[t] += k
				}
			}
		}
		for t := range tf {
			df[t]++
		}
		tfs[i] = tf
		avg += lens[i]
	}
	avg /= float64(max(n, 1))
	const k1, b = 1.2, 0.75
	out := make([]float64, n)
	for i, tf := range tfs {
		for t, k := range tf {
			idf := math.Log(1 + (float64(n)-float64(df[t])+0.5)/(float64(df[t])+0.5))
			out[i] += idf * float64(k) * (k1 + 1) / (float64(k) + k1*(1-b+b*lens[i]/max(avg, 1)))
		}
	}
	return scaled(out)
}

// namedSignal is 1 for a file the text names by its path, less for one it names by its
// base name only (shared among the files of that name).
func (c *candidates) namedSignal() []float64 {
	out := make([]float64, len(c.files))
	bases := map[string][]int{}
	for i, f := range c.files {
		bases[path.Base(f.path)] = append(bases[path.Base(f.path)], i)
	}
	for i, f := range c.files {
		if strings.Contains(f.path, "/") && containsWord(c.text, f.path) {
			out[i] = 1
		}
	}
	for base, files := range bases {
		if len(base) < 4 || !strings.Contains(base, ".") || !containsWord(c.text, base) {
			continue
		}
		for _, i := range files {
			out[i] = max(out[i], 0.7/math.Sqrt(float64(len(files))))
		}
	}
	return out
}

// containsWord reports whether s holds w not glued to a longer name (a directory
// before it is fine: "pipeline/steps.go" names steps.go).
func containsWord(s, w string) bool {
	for from := 0; ; {
		k := strings.Index(s[from:], w)
		if k < 0 {
			return false
		}
		k += from
		before := k == 0 || !isNameByte(s[k-1])
		after := k+len(w) == len(s) || !isNameByte(s[k+len(w)])
		if before && after {
			return true
		}
		from = k + 1
	}
}

func isNameByte(c byte) bool {
	return c == '_' || c == '.' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// mentionRE finds identifiers in prose, a qualifier included ("store.Project").
var mentionRE = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// symbolSignals score the files that declare, and those that use, the identifiers the
// text mentions. A name that looks like code (mixed case, an underscore, a digit)
// counts fully; a plain word that happens to be declared counts a quarter, and only
// when at most three files declare it; either is shared among the files declaring it.
func (c *candidates) symbolSignals() (defines, uses []float64) {
	defines = make([]float64, len(c.files))
	uses = make([]float64, len(c.files))
	seen := map[string]bool{}
	for _, m := range mentionRE.FindAllString(c.text, -1) {
		if seen[m] || len(m) < 4 {
			continue
		}
		seen[m] = true
		defs := c.graph.definers[m]
		if len(defs) == 0 || len(defs) > 20 {
			continue
		}
		w := 1.0
		if !codeLike(m) {
			if len(defs) > 3 {
				continue
			}
			w = 0.25
		}
		share := w / float64(len(defs))
		for _, i := range defs {
			defines[i] += share
		}
		for i, f := range c.files {
			if f.uses[m] > 0 && !slices.Contains(defs, i) {
				uses[i] += share
			}
		}
	}
	return scaled(defines), scaled(uses)
}

// codeLike reports a name no prose word looks like: mixed case ("ScanJobs",
// "codegenPrompt"), or with an underscore or a digit ("max_tokens", "VIBECODER_ADDR",
// "utf8"). An acronym ("JSON", "HTTP") is prose.
func codeLike(s string) bool {
	if strings.ContainsAny(s, "_0123456789") {
		return true
	}
	return hasInnerUpper(s) && strings.ToUpper(s) != s
}

// pathSignal scores a file by the task's words its path holds: half for a directory
// named by one, half for the share of its base name's words the task has.
func (c *candidates) pathSignal(task string) []float64 {
	words := map[string]bool{}
	for _, t := range index.QueryTerms(task) {
		if len(t) >= 3 {
			words[t] = true
		}
	}
	out := make([]float64, len(c.files))
	for i, f := range c.files {
		dir, base := path.Split(f.path)
		for _, d := range strings.Split(strings.Trim(dir, "/"), "/") {
			if words[strings.ToLower(d)] {
				out[i] = 0.5
			}
		}
		stem := strings.TrimSuffix(base, path.Ext(base))
		stem = strings.TrimSuffix(stem, "_test")
		parts := index.Tokens(stem)
		hit := 0
		for _, p := range parts {
			if words[p] {
				hit++
			}
		}
		if len(parts) > 0 {
			out[i] += 0.5 * float64(hit) / float64(len(parts))
		}
	}
	return out
}

// scaled divides by the largest value, so the largest is 1 (all zero stay zero).
func scaled(v []float64) []float64 {
	top := 0.0
	for _, x := range v {
		top = max(top, x)
	}
	if top > 0 {
		for i := range v {
			v[i] /= top
		}
	}
	return v
}

// contextWindow is the context window of the model an agent names ("" the gateway's
// default), looked up by its provider-native name.
func (p *Pipeline) contextWindow(model string) int {
	if p.Gateway == nil {
		return pricing.ContextWindow(model)
	}
	if _, native, err := p.Gateway.Registry().Resolve(model); err == nil {
		return pricing.ContextWindow(native)
	}
	return pricing.ContextWindow(model)
}

// indexWait bounds how long a run waits for an index job of its project already queued
// or running before it builds its prompt from the index as it is; indexRefreshTimeout
// bounds the run's own indexing (a large repository's first index, with embeddings,
// can take longer: the prompt then uses what was indexed, and the next run goes on
// from there).
const (
	indexWait           = time.Minute
	indexRefreshTimeout = 5 * time.Minute
)

// refreshIndex brings the project's index up to date before the coder's first prompt,
// so a run never starts blind: a project never indexed is indexed now, a stale one is
// brought up to date. Staleness is decided file by file, by content hash, which is what
// an incremental Index does: an unchanged repository costs a walk and a hash per file
// (and a fetch, for a remote one). An index job of the project already queued or running
// is waited for instead, up to indexWait. A failure is logged, not fatal: the prompt is
// ranked without the search then. Two runs of a project starting together both index
// it; the loser of a clone's git lock logs a warning and goes on.
func (p *Pipeline) refreshIndex(ctx context.Context, e *store.Execution, proj *store.Project) {
	if p.Index == nil {
		return
	}
	log := p.Log.With(slog.String("execution_id", e.ID.String()), slog.String("project_id", e.ProjectID.String()))
	for waited := time.Duration(0); proj.IndexStatus == store.IndexQueued || proj.IndexStatus == store.IndexRunning; waited += time.Second {
		if waited >= indexWait {
			log.Info("an index job of the project is still pending: the prompt uses the index as it is")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		cur, err := p.Store.GetProject(ctx, e.UserID, e.ProjectID)
		if err != nil {
			return
		}
		proj = cur
	}
	ictx, cancel := context.WithTimeout(ctx, indexRefreshTimeout)
	stats, err := p.Index.Index(ictx, proj, nil)
	cancel()
	if err != nil {
		log.Warn("index the project before the prompt", slog.Any("error", err))
		p.emitE(ctx, e, "index.refresh", map[string]any{"error": err.Error()})
		return
	}
	p.emitE(ctx, e, "index.refresh", stats)
	cur, err := p.Store.GetProject(ctx, e.UserID, e.ProjectID)
	if err != nil || cur.IndexStatus == store.IndexQueued || cur.IndexStatus == store.IndexRunning {
		return // an index job started meanwhile records its own outcome
	}
	now := store.Now()
	cur.IndexStatus, cur.IndexedAt = store.IndexReady, &now
	if err := p.Store.UpdateProject(ctx, cur); err != nil {
		log.Warn("record the project's index", slog.Any("error", err))
	}
}
