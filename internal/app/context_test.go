package app_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// routerFile is the file the task is about; it sorts after every other file.
const routerFile = "zz_router.go"

const routerSrc = "package app\n\n// RouteRequest picks the handler for a request path.\nfunc RouteRequest(path string) string {\n\treturn \"/\" + path\n}\n"

// contextRepo makes a local repository (a work tree, never indexed) whose files before
// routerFile in alphabetical order are a 30 KB changelog and forty 4 KB Go files: more
// than the 60 KB the coder's prompt used to fill in that order. It returns the
// repository's path, under <root>/acme.
func contextRepo(t *testing.T) (string, int) {
	root := t.TempDir()
	files := map[string]string{
		"CHANGELOG.md": strings.Repeat("- the router keeps paths as they are\n", 800),
		"go.mod":       "module example.com/app\n\ngo 1.22\n",
		routerFile:     routerSrc,
	}
	before := len(files["CHANGELOG.md"]) + len(files["go.mod"])
	for i := range 40 {
		var b strings.Builder
		fmt.Fprintf(&b, "package app\n\nimport \"fmt\"\n\n// Format%02d formats report line %d.\nfunc Format%02d(n int) string {\n\ts := \"\"\n", i, i, i)
		for b.Len() < 4000 {
			b.WriteString("\ts += fmt.Sprint(n) // one more column of the report\n")
		}
		b.WriteString("\treturn s\n}\n")
		files[fmt.Sprintf("a%02d_report.go", i)] = b.String()
		before += b.Len()
	}
	dir := filepath.Join(root, "acme", "app")
	testutil.GitRepo(t, dir, files, "app")
	return dir, before
}

// TestCoderContextFileSortsLast: the file to edit sorts last and the files before it
// would have filled the old alphabetical budget; the project was never indexed. The
// run indexes the project before the coder's first prompt, and the prompt the model
// receives carries the file in full, first of the full texts.
func TestCoderContextFileSortsLast(t *testing.T) {
	repo, before := contextRepo(t)
	if before <= 60000 {
		t.Fatalf("the files before %s hold %d bytes: not enough to fill the old budget", routerFile, before)
	}
	var mu sync.Mutex
	var coderPrompts []string
	fake := llmtest.NewOpenAI(t, func(req llmtest.RecordedRequest) llmtest.Reply {
		for _, m := range req.Messages {
			if m.Role == "system" && strings.Contains(m.Content, "code reviewer") {
				return llmtest.Reply{Text: `{"verdict":"approve","summary":"fine","comments":[]}`}
			}
		}
		mu.Lock()
		coderPrompts = append(coderPrompts, req.LastUserMessage())
		mu.Unlock()
		return llmtest.Reply{Text: routerFile + "\n```go\n<<<<<<< SEARCH\n\treturn \"/\" + path\n=======\n\treturn \"/\" + strings.TrimPrefix(path, \"/\")\n>>>>>>> REPLACE\n```\n"}
	})
	s := startE2E(t, e2eVars(t, fake.URL, filepath.Dir(filepath.Dir(repo))))
	repo = giveRepo(t, repo, s.userID(t).String())
	runID := s.runTask(t, map[string]string{"name": "app", "repo_url": "file://" + repo, "test_command": "grep -q TrimPrefix " + routerFile},
		map[string]string{"title": "RouteRequest doubles the leading slash", "description": "A path that starts with a slash comes out with two."})
	events := s.events(t, runID)
	indexed := 0
	for _, ev := range events {
		if ev.typ == "index.refresh" {
			var stats struct {
				FilesIndexed int `json:"files_indexed"`
			}
			_ = json.Unmarshal([]byte(ev.data), &stats)
			indexed = stats.FilesIndexed
		}
	}
	if indexed != 43 {
		t.Errorf("the run indexed %d files before its prompt, want the repository's 43", indexed)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(coderPrompts) == 0 {
		t.Fatal("the coder was never asked")
	}
	if want := routerFile + "\n```\n" + routerSrc + "```"; !strings.Contains(coderPrompts[0], want) {
		t.Fatalf("the coder's prompt (%d bytes) does not carry %s in full:\n%.3000s", len(coderPrompts[0]), routerFile, coderPrompts[0])
	}
	if !strings.Contains(coderPrompts[0], "(full text)\n"+routerFile+"\n```\n") {
		t.Errorf("%s is not the first of the full texts", routerFile)
	}
	var ex struct{ Status string }
	s.c.do("GET", "/api/v1/executions/"+runID, nil, &ex)
	if ex.Status != "succeeded" {
		t.Errorf("execution %s", ex.Status)
	}
}
