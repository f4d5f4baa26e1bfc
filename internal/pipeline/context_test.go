package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/llm/pricing"
	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// fillerGo is a Go file of about n bytes declaring name, about nothing in particular.
func fillerGo(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "package app\n\n// %s formats a report line.\nfunc %s(i int) string {\n\ts := \"\"\n", name, name)
	for b.Len() < n {
		b.WriteString("\ts += fmt.Sprint(i) // padding for the budget\n")
	}
	b.WriteString("\treturn s\n}\n")
	return b.String()
}

// bigRepo is a workspace whose alphabetically first files fill any budget: a 30 KB
// changelog and forty 4 KB Go files, then zz_router.go, the file the tasks are about.
func bigRepo(t *testing.T) string {
	t.Helper()
	files := map[string]string{
		"CHANGELOG.md":      strings.Repeat("- fixed a thing in the router\n", 1000),
		"go.mod":            "module example.com/app\n\ngo 1.22\n",
		"zz_router.go":      "package app\n\n// RouteRequest picks the handler of a request path.\nfunc RouteRequest(path string) string {\n\treturn \"/\" + path\n}\n",
		"zz_router_test.go": "package app\n\nimport \"testing\"\n\nfunc TestRouteRequest(t *testing.T) {\n\tif RouteRequest(\"a\") != \"/a\" {\n\t\tt.Fatal(\"bad\")\n\t}\n}\n",
	}
	for i := range 40 {
		name := fmt.Sprintf("Format%02d", i)
		files[fmt.Sprintf("a%02d_format.go", i)] = fillerGo(name, 4000)
	}
	dir := t.TempDir()
	testutil.WriteTree(t, dir, files)
	return dir
}

func TestContextFileToEditSortsLast(t *testing.T) {
	dir := bigRepo(t)
	prompt, rep := BuildCoderPrompt(t.Context(), PromptInput{Title: "RouteRequest drops the query string",
		Description: "Keep the query string when routing.", Dir: dir, Window: 32768})
	if len(rep.Full) == 0 || rep.Full[0] != "zz_router.go" {
		t.Fatalf("full texts %v: want zz_router.go first", rep.Full)
	}
	body, _ := os.ReadFile(filepath.Join(dir, "zz_router.go"))
	if !strings.Contains(prompt, "zz_router.go\n```\n"+string(body)+"```") {
		t.Fatal("zz_router.go is not carried in full")
	}
	if slices.Contains(rep.Full, "CHANGELOG.md") {
		t.Error("the changelog went in: nothing names it and it is not source")
	}
	if fb, mb := contextBudget(32768, 0); rep.Bytes > fb+mb+4096 {
		t.Errorf("prompt of %d bytes for a budget of %d + %d", rep.Bytes, fb, mb)
	}
}

func TestContextSearchOrder(t *testing.T) {
	dir := bigRepo(t)
	// The index ranks a file sorting late first; the prompt follows the index, not the alphabet.
	search := func(ctx context.Context, q string, limit int) ([]index.Result, error) {
		return []index.Result{
			{Path: "a39_format.go", Score: 0.033, StartLine: 1, EndLine: 5},
			{Path: "a39_format.go", Score: 0.020, StartLine: 6, EndLine: 9},
			{Path: "a05_format.go", Score: 0.016, StartLine: 1, EndLine: 5},
			{Path: "gone.go", Score: 0.015, StartLine: 1, EndLine: 5}, // not in the workspace
		}, nil
	}
	_, rep := BuildCoderPrompt(t.Context(), PromptInput{Title: "speed up the report", Dir: dir, Search: search, Window: 32768})
	if len(rep.Full) < 2 || rep.Full[0] != "a39_format.go" || rep.Full[1] != "a05_format.go" {
		t.Fatalf("full texts %v: want a39_format.go, a05_format.go first", rep.Full)
	}
	if rep.Hits != 4 {
		t.Errorf("hits %d", rep.Hits)
	}
}

func TestContextNamedInFailingTest(t *testing.T) {
	dir := bigRepo(t)
	failed := &TestRun{Command: "go test ./...", ExitCode: 1,
		Output: "--- FAIL: TestReport (0.00s)\n    a17_format.go:9: wrong total\nFAIL\n"}
	_, rep := BuildCoderPrompt(t.Context(), PromptInput{Title: "fix the report", Dir: dir, Failed: failed, Window: 32768})
	if len(rep.Full) == 0 || rep.Full[0] != "a17_format.go" {
		t.Fatalf("full texts %v: want a17_format.go (named by the failing test) first", rep.Full)
	}
}

func TestContextSymbols(t *testing.T) {
	dir := t.TempDir()
	testutil.WriteTree(t, dir, map[string]string{
		"a_user.go":   "package app\n\n// Caller uses the parser.\nfunc Caller() { _ = ParseWidget(\"x\") }\n",
		"b_other.go":  "package app\n\n// Other is unrelated.\nfunc Other() int { return 1 }\n",
		"c_widget.go": "package app\n\n// ParseWidget reads a widget.\nfunc ParseWidget(s string) string { return s }\n",
	})
	in := PromptInput{Title: "ParseWidget should trim spaces", Dir: dir}
	_, rep := BuildCoderPrompt(t.Context(), in)
	if len(rep.Full) != 3 || rep.Full[0] != "c_widget.go" || rep.Full[1] != "a_user.go" {
		t.Fatalf("full texts %v: want the definer, then the user, then the rest", rep.Full)
	}
}

func TestContextBudget(t *testing.T) {
	for _, tc := range []struct {
		window, limit, files, repoMap int
	}{
		{pricing.ContextWindow("gpt-4o"), 0, 48000 * 4 * 7 / 8, 48000 * 4 / 8},
		{pricing.ContextWindow("gpt-4o"), 16000, 16000 * 4 * 7 / 8, 16000 * 4 / 8}, // the operator's cap
		{pricing.ContextWindow("gpt-4o"), 100, 4096 * 4 * 7 / 8, 4096 * 4 / 8},     // never below the floor
		{32768, 0, 8192 * 4 * 7 / 8, 8192 * 4 / 8},
		{32768, 100000, 8192 * 4 * 7 / 8, 8192 * 4 / 8}, // a cap above what the window leaves
		{8192, 0, 4096 * 4 * 7 / 8, 4096 * 4 / 8},       // the floor
		{0, 0, 8192 * 4 * 7 / 8, 8192 * 4 / 8},          // unknown: the default window
	} {
		files, repoMap := contextBudget(tc.window, tc.limit)
		if files != tc.files || repoMap != tc.repoMap {
			t.Errorf("contextBudget(%d, %d) = %d, %d; want %d, %d", tc.window, tc.limit, files, repoMap, tc.files, tc.repoMap)
		}
	}
	// A small window carries what fits, whole, and maps the rest.
	dir := bigRepo(t)
	prompt, rep := BuildCoderPrompt(t.Context(), PromptInput{Title: "RouteRequest drops the query string", Dir: dir, Window: 8192})
	files, _ := contextBudget(8192, 0)
	total := 0
	for _, f := range rep.Full {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		total += int(fi.Size())
	}
	if total > files || len(rep.Full) == 0 || rep.Full[0] != "zz_router.go" {
		t.Errorf("full texts %v, %d bytes, over %d", rep.Full, total, files)
	}
	if !strings.Contains(prompt, "# Repository map") || !strings.Contains(prompt, "a20_format.go\n  func Format20(i int) string\n") {
		t.Error("the repository map does not show a file left out with its declarations")
	}
}

func TestRepoMapDeclarations(t *testing.T) {
	src := "package x\n\nimport \"io\"\n\ntype (\n\tReader struct{ r io.Reader }\n\tID = string\n)\n\ntype Doer interface{ Do() }\n\n" +
		"const A, B = 1, 2\n\nvar _ = 3\n\n// Read reads.\nfunc (r *Reader) Read(p []byte) (n int, err error) {\n\treturn r.r.Read(p)\n}\n"
	f := parseSource("x.go", []byte(src))
	var lines []string
	for _, d := range f.decls {
		lines = append(lines, d.line)
	}
	want := []string{"type Reader struct", "type ID = string", "type Doer interface", "const A", "const B",
		"func (r *Reader) Read(p []byte) (n int, err error)"}
	if !slices.Equal(lines, want) {
		t.Errorf("Go declarations:\n%q\nwant\n%q", lines, want)
	}
	py := "import os\n\nclass Store:\n    def get(self, key):\n        local = 1\n        return key\n\ndef main():\n    pass\n"
	js := "export function route(path) {\n  const inner = 1;\n}\nconst TABLE = {};\nexport default class App {}\n"
	for name, tc := range map[string]struct {
		src  string
		want []string
	}{"a.py": {py, []string{"Store", "get", "main"}}, "a.js": {js, []string{"route", "TABLE", "App"}}} {
		var got []string
		for _, d := range parseSource(name, []byte(tc.src)).decls {
			got = append(got, d.name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s declarations %q, want %q", name, got, tc.want)
		}
	}
}

func TestPageRankFollowsReferences(t *testing.T) {
	files := []*srcFile{
		parseSource("core.go", []byte("package x\n\nfunc CoreThing() {}\n")),
		parseSource("a.go", []byte("package x\n\nfunc UseA() { CoreThing(); CoreThing() }\n")),
		parseSource("b.go", []byte("package x\n\nfunc UseB() { CoreThing() }\n")),
		parseSource("lone.go", []byte("package x\n\nfunc Lone() {}\n")),
	}
	g := buildGraph(files)
	rank := g.pageRank(nil)
	if !(rank[0] > rank[1] && rank[0] > rank[3]) {
		t.Errorf("ranks %v: the file everyone uses should lead", rank)
	}
	// Personalised toward lone.go, it leads.
	rank = g.pageRank([]float64{0, 0, 0, 1})
	if slices.Index(rank, slices.Max(rank)) != 3 {
		t.Errorf("personalised ranks %v", rank)
	}
}

func TestContainsWord(t *testing.T) {
	for _, tc := range []struct {
		s, w string
		want bool
	}{
		{"see steps.go:12", "steps.go", true},
		{"see mysteps.go", "steps.go", false},
		{"see internal/pipeline/steps.go", "steps.go", true},
		{"see steps.gob", "steps.go", false},
		{"internal/pipeline/steps.go failed", "internal/pipeline/steps.go", true},
	} {
		if got := containsWord(tc.s, tc.w); got != tc.want {
			t.Errorf("containsWord(%q, %q) = %v", tc.s, tc.w, got)
		}
	}
}

// TestRefreshIndex: a run's first prompt finds its project indexed — at once when it
// never was, after the pending index job when one is queued.
func TestRefreshIndex(t *testing.T) {
	f := newStateFixture(t)
	ctx := t.Context()
	u := &store.User{Email: "admin@example.com", PasswordHash: "x", IsAdmin: true} // local paths: administrators only
	mustState(t, f.st.CreateUser(ctx, u))
	repo := t.TempDir()
	testutil.GitRepo(t, repo, map[string]string{"router.go": "package app\n\n// RouteRequest picks a handler.\nfunc RouteRequest() {}\n"}, "app")
	proj := &store.Project{UserID: u.ID, Name: "app", RepoURL: repo, DefaultBranch: "main", IndexStatus: store.IndexNever}
	mustState(t, f.st.CreateProject(ctx, proj))
	task := &store.Task{UserID: u.ID, ProjectID: proj.ID, Title: "t"}
	mustState(t, f.st.CreateTask(ctx, task))
	e := &store.Execution{UserID: u.ID, TaskID: task.ID, Status: store.ExecQueued, Step: KindCodegen, Details: []byte(`{}`)}
	mustState(t, f.st.CreateExecution(ctx, e))
	e.ProjectID = proj.ID
	ix, err := index.New(f.st, nil, nil, index.Config{DataDir: t.TempDir()})
	mustState(t, err)
	f.p.Index = ix

	f.p.refreshIndex(ctx, e, proj)
	got, err := f.st.GetProject(ctx, u.ID, proj.ID)
	mustState(t, err)
	if got.IndexStatus != store.IndexReady || got.IndexedAt == nil {
		t.Fatalf("after the refresh: status %s, indexed at %v", got.IndexStatus, got.IndexedAt)
	}
	hits, err := ix.Search(ctx, u.ID, proj.ID, "RouteRequest", 5)
	if err != nil || len(hits) == 0 || hits[0].Path != "router.go" {
		t.Fatalf("search after the refresh: %v, %v", hits, err)
	}

	// An index job is queued: the run waits for it to end, then brings the index up to date.
	got.IndexStatus = store.IndexQueued
	mustState(t, f.st.UpdateProject(ctx, got))
	go func() {
		time.Sleep(1500 * time.Millisecond)
		cur, err := f.st.GetProject(context.Background(), u.ID, proj.ID)
		if err == nil {
			cur.IndexStatus = store.IndexReady
			_ = f.st.UpdateProject(context.Background(), cur)
		}
	}()
	start := time.Now()
	f.p.refreshIndex(ctx, e, got)
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("the refresh did not wait for the queued index job (%s)", waited)
	}
}
