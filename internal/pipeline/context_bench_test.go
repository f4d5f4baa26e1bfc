package pipeline

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/llm/pricing"
	"github.com/vibecoder/vibecoder/internal/safefs"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
)

// BenchmarkContext is the coder-context benchmark (issue 16). From a repository's
// history — this repository's unless VIBECODER_BENCH_REPO names another — it takes the
// newest VIBECODER_BENCH_COMMITS (default 40) commits reachable from
// VIBECODER_BENCH_REF (default HEAD) that modify non-test source files; for each, the
// task is the commit message and the workspace its parent, indexed incrementally
// (SQLite, keyword search, in process) as a run does. It builds the coder's prompt as
// the step before this change did (alphabetical, 60 KB) and as BuildCoderPrompt does
// now (for a 128k-token model, gpt-4o's window, and for the default window), and
// reports the share of the modified files each carries in full, and the prompts' sizes.
// VIBECODER_BENCH_VERBOSE=1 logs the ranking for each commit the new prompt misses.
// docs/BENCHMARKS.md has the figures:
//
//	go test -run '^$' -bench Context -benchtime 1x ./internal/pipeline/
func BenchmarkContext(b *testing.B) {
	repo := os.Getenv("VIBECODER_BENCH_REPO")
	if repo == "" {
		out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
		if err != nil {
			b.Fatalf("not in a git work tree: %v", err)
		}
		repo = strings.TrimSpace(string(out))
	}
	n := 40
	if v := os.Getenv("VIBECODER_BENCH_COMMITS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	ref := cmp.Or(os.Getenv("VIBECODER_BENCH_REF"), "HEAD")
	for b.Loop() {
		runContextBench(b, repo, ref, n)
	}
}

// benchCommit is one task of the benchmark.
type benchCommit struct {
	sha, parent, title, body string
	changed                  []string // modified non-test source files
}

func runContextBench(b *testing.B, repo, ref string, n int) {
	ctx := context.Background()
	tmp := b.TempDir()
	clone := filepath.Join(tmp, "repo")
	gitB(b, tmp, "clone", "-q", "--no-checkout", repo, clone)
	commits := benchCommits(b, clone, ref, n)
	st, err := sqlite.Open(ctx, filepath.Join(tmp, "vc.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	u := &store.User{Email: "bench@example.com", PasswordHash: "h", IsAdmin: true}
	must(b, st.CreateUser(ctx, u))
	proj := &store.Project{UserID: u.ID, Name: "bench", RepoURL: clone, DefaultBranch: "main"}
	must(b, st.CreateProject(ctx, proj))
	ix, err := index.New(st, nil, nil, index.Config{DataDir: filepath.Join(tmp, "data"), Workers: 2})
	must(b, err)
	search := func(ctx context.Context, q string, limit int) ([]index.Result, error) {
		return ix.Search(ctx, u.ID, proj.ID, q, limit)
	}
	type variant struct {
		name          string
		build         func(in PromptInput) string
		carried, size int
		whole         int // commits whose files are all carried
	}
	variants := []*variant{
		{name: "before: alphabetical, 60 KB", build: func(in PromptInput) string { return legacyPrompt(ctx, in) }},
		{name: "after: ranked, gpt-4o (128k tokens)", build: func(in PromptInput) string {
			in.Window = pricing.ContextWindow("gpt-4o")
			s, _ := BuildCoderPrompt(ctx, in)
			return s
		}},
		{name: fmt.Sprintf("after: ranked, default window (%d tokens)", pricing.DefaultContextWindow), build: func(in PromptInput) string {
			s, _ := BuildCoderPrompt(ctx, in)
			return s
		}},
	}
	files, indexing, building := 0, time.Duration(0), time.Duration(0)
	for _, c := range commits {
		gitB(b, clone, "checkout", "-q", "--detach", "-f", c.parent)
		gitB(b, clone, "clean", "-q", "-fdx")
		start := time.Now()
		_, err := ix.Index(ctx, proj, nil)
		must(b, err)
		indexing += time.Since(start)
		in := PromptInput{Title: c.title, Description: c.body, Dir: clone, Search: search}
		files += len(c.changed)
		var line []string
		for _, v := range variants {
			start := time.Now()
			prompt := v.build(in)
			building += time.Since(start)
			v.size += len(prompt)
			got := 0
			for _, f := range c.changed {
				if carriesInFull(b, prompt, clone, f) {
					got++
				}
			}
			v.carried += got
			if got == len(c.changed) {
				v.whole++
			}
			line = append(line, fmt.Sprintf("%d/%d %dKB", got, len(c.changed), len(prompt)>>10))
			if v == variants[1] && got < len(c.changed) && os.Getenv("VIBECODER_BENCH_VERBOSE") != "" {
				b.Log(rankReport(in, c.changed))
			}
		}
		b.Logf("%s %-60.60q %s", c.sha[:7], c.title, strings.Join(line, " | "))
	}
	b.Logf("machine: %s/%s, %d CPUs, %s; %d commits from %s of %s, %d modified non-test source files",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), len(commits), ref, repo, files)
	for i, v := range variants {
		share := 100 * float64(v.carried) / float64(max(files, 1))
		b.Logf("%-45s carried in full %d/%d = %.1f%% (every file of %d/%d commits), mean prompt %.1f KB", v.name, v.carried, files, share,
			v.whole, len(commits), float64(v.size)/float64(max(len(commits), 1))/1024)
		b.ReportMetric(share, fmt.Sprintf("share%d_%%", i))
		b.ReportMetric(float64(v.size)/float64(max(len(commits), 1))/1024, fmt.Sprintf("prompt%d_KB", i))
	}
	b.Logf("incremental index at each parent: %s in all; prompts built in %s in all",
		indexing.Round(time.Millisecond), building.Round(time.Millisecond))
}

// benchCommits lists the newest n non-merge commits from ref that modify a non-test
// source file (a file the parent has: an added file cannot be in the prompt).
func benchCommits(b *testing.B, dir, ref string, n int) []benchCommit {
	var out []benchCommit
	for _, sha := range strings.Fields(gitB(b, dir, "rev-list", "--no-merges", "--first-parent", ref)) {
		if len(out) == n {
			break
		}
		c := benchCommit{sha: sha}
		for _, l := range strings.Split(gitB(b, dir, "diff-tree", "--no-commit-id", "-r", "--name-status", "--no-renames", sha+"^", sha), "\n") {
			status, file, ok := strings.Cut(l, "\t")
			if ok && status == "M" && isSource(file) && !isTestFile(file) {
				c.changed = append(c.changed, file)
			}
		}
		if len(c.changed) == 0 {
			continue
		}
		c.parent = strings.TrimSpace(gitB(b, dir, "rev-parse", sha+"^"))
		msg := gitB(b, dir, "log", "-1", "--format=%B", sha)
		c.title, c.body, _ = strings.Cut(strings.TrimSpace(msg), "\n")
		c.body = strings.TrimSpace(c.body)
		out = append(out, c)
	}
	if len(out) < n {
		b.Fatalf("only %d commits modify non-test source files (want %d)", len(out), n)
	}
	return out
}

// carriesInFull reports whether the prompt holds the file's whole text under its name.
func carriesInFull(b *testing.B, prompt, dir, file string) bool {
	data, err := os.ReadFile(filepath.Join(dir, file))
	must(b, err)
	return strings.Contains(prompt, file+"\n```\n"+string(data))
}

func gitB(b *testing.B, dir string, args ...string) string {
	b.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// legacyPrompt is the coder's prompt as codegenPrompt built it before issue 16: eight
// search hits, a list of up to 400 names, and the hit files (every source file when the
// search found nothing) in alphabetical order until 60 KB are used. Kept here to
// measure against.
func legacyPrompt(ctx context.Context, in PromptInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Task\n%s\n\n%s\n\n", in.Title, in.Description)
	likely := map[string]bool{}
	if in.Search != nil {
		if hits, err := in.Search(ctx, in.Title+" "+in.Description, 8); err == nil && len(hits) > 0 {
			b.WriteString("# Relevant code (from the index)\n")
			for _, h := range hits {
				fmt.Fprintf(&b, "%s:%d-%d %s\n```\n%s\n```\n", h.Path, h.StartLine, h.EndLine, h.Symbol, h.Snippet)
				likely[h.Path] = true
			}
			b.WriteString("\n")
		}
	}
	tree, err := safefs.Open(in.Dir)
	if err != nil {
		return b.String()
	}
	defer tree.Close()
	files := repoFiles(tree, 400)
	b.WriteString("# Repository files\n")
	for _, f := range files {
		b.WriteString(f + "\n")
	}
	b.WriteString("\n")
	if len(likely) == 0 {
		for _, f := range files {
			if isSource(f) {
				likely[f] = true
			}
		}
	}
	budget := 60000
	names := make([]string, 0, len(likely))
	for f := range likely {
		names = append(names, f)
	}
	sort.Strings(names)
	b.WriteString("# Files you will likely edit (full text)\n")
	for _, f := range names {
		body, err := tree.ReadFile(f, int64(min(budget, 64<<10)))
		if err != nil {
			continue
		}
		budget -= len(body)
		fmt.Fprintf(&b, "%s\n```\n%s```\n\n", f, body)
	}
	return b.String()
}

// rankReport lists the top of a prompt's ranking and where the wanted files are in it,
// with each signal (VIBECODER_BENCH_VERBOSE=1 logs it for every miss).
func rankReport(in PromptInput, want []string) string {
	tree, _ := safefs.Open(in.Dir)
	defer tree.Close()
	hits, _ := in.Search(context.Background(), in.Title+" "+in.Description, searchHits)
	c := loadCandidates(tree, hits, mentionText(in))
	order := c.rank(in, hits)
	search := c.searchSignal(hits)
	named := c.namedSignal()
	def, use := c.symbolSignals()
	paths := c.pathSignal(in.Title + " " + in.Description)
	words := c.bm25Signal(in.Title + " " + in.Description)
	var b strings.Builder
	cum := 0
	for k, i := range order {
		f := c.files[i]
		cum += f.size
		mark := ""
		for _, w := range want {
			if w == f.path {
				mark = "  <=== WANT"
			}
		}
		if k < 12 || mark != "" {
			fmt.Fprintf(&b, "   %3d %-50s %6d cum=%7d s=%.2f srch=%.2f nam=%.2f def=%.2f use=%.2f path=%.2f bm25=%.2f%s\n", k, f.path, f.size, cum, c.score[i], search[i], named[i], def[i], use[i], paths[i], words[i], mark)
		}
	}
	return b.String()
}
