package app_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// TestCommitIsTheReviewedDiff: a project without a .gitignore whose test command writes
// bytecode and a log into the workspace (as Python's does), failing once so the coder
// gets a repair round. The diffs the reviewer and the events see, and the commit the
// branch gets, hold the coder's file and nothing the tests wrote.
func TestCommitIsTheReviewedDiff(t *testing.T) {
	remote := fixtureRepo(t)
	fake := llmtest.NewOpenAI(t, llmScript)
	s := startE2E(t, e2eVars(t, fake.URL, filepath.Dir(filepath.Dir(remote))))
	remote = giveRepo(t, remote, s.userID(t).String())
	testCmd := `mkdir -p __pycache__ && echo bytecode > __pycache__/calc.cpython-311.pyc && echo ran >> test.log && grep -q 'a + b' calc.go`
	runID := s.runTask(t, map[string]string{"name": "calc", "repo_url": "file://" + remote, "test_command": testCmd},
		map[string]string{"title": "Fix Add so that it returns the sum"})
	events := s.events(t, runID)
	var diffs []string
	for _, ev := range events {
		if ev.typ == "diff" {
			var d struct{ Diff string }
			_ = json.Unmarshal([]byte(ev.data), &d)
			diffs = append(diffs, d.Diff)
		}
	}
	if len(diffs) != 2 {
		t.Fatalf("%d diffs, want two (the wrong fix, then the repair)", len(diffs))
	}
	for i, d := range diffs {
		if !strings.Contains(d, "calc.go") || strings.Contains(d, "__pycache__") || strings.Contains(d, "test.log") {
			t.Errorf("diff %d holds what the tests wrote:\n%s", i+1, d)
		}
	}
	var ex struct {
		Status string `json:"status"`
		Commit *struct {
			SHA          string   `json:"sha"`
			Branch       string   `json:"branch"`
			FilesChanged []string `json:"files_changed"`
		} `json:"commit"`
	}
	s.c.do("GET", "/api/v1/executions/"+runID, nil, &ex)
	if ex.Status != "succeeded" || ex.Commit == nil {
		t.Fatalf("execution %s, commit %+v", ex.Status, ex.Commit)
	}
	files := strings.Fields(testutil.Git(t, remote, "diff-tree", "--no-commit-id", "--name-only", "-r", ex.Commit.SHA))
	if !slices.Equal(files, []string{"calc.go"}) || !slices.Equal(ex.Commit.FilesChanged, []string{"calc.go"}) {
		t.Fatalf("the pushed commit changes %v (recorded %v), want [calc.go] only", files, ex.Commit.FilesChanged)
	}
}
