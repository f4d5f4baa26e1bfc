package app_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
	"github.com/vibecoder/vibecoder/internal/testutil"
)

// formatCase is a task whose coder answers once, in one of the edit forms models use, and a
// test command that passes only if that answer landed exactly.
type formatCase struct {
	title  string
	files  map[string]string // the repository
	answer string            // the coder's only answer
	test   string            // the project's test command (run in the sandbox)
	want   map[string]string // files on the pushed branch afterwards
	absent []string          // files that must not be on the branch
}

const (
	spacedCalc = "def add(a, b):\n    if a is None:\n        return b\n    return a - b\n"
	tabbedCalc = "package calc\n\n// Add returns the sum of a and b.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n"
	fixedCalc  = "package calc\n\n// Add returns the sum of a and b.\nfunc Add(a, b int) int {\n\treturn a + b\n}\n"
	goMod      = "module example.com/calc\n\ngo 1.22\n"
)

var formatCases = []formatCase{
	{
		title: "Whole file answer",
		files: map[string]string{"go.mod": goMod, "calc.go": tabbedCalc},
		// A code example in prose comes first: it must not become a file.
		answer: "Add subtracts. Callers use it like this:\n\n```go\nfmt.Println(calc.Add(2, 3))\n```\n\n" +
			"Here is the corrected file:\n\ncalc.go\n```go\n" + fixedCalc + "```\n",
		test:   "grep -q 'return a + b' calc.go",
		want:   map[string]string{"calc.go": fixedCalc},
		absent: []string{"main.go", "fmt.Println"},
	},
	{
		title: "Unified diff answer",
		files: map[string]string{"go.mod": goMod, "calc.go": tabbedCalc},
		// Wrong line numbers, git prefixes, and a second file created from /dev/null.
		answer: "```diff\ndiff --git a/calc.go b/calc.go\n--- a/calc.go\n+++ b/calc.go\n@@ -12,6 +12,6 @@ package calc\n" +
			" // Add returns the sum of a and b.\n func Add(a, b int) int {\n-\treturn a - b\n+\treturn a + b\n }\n" +
			"--- /dev/null\n+++ b/doc.go\n@@ -0,0 +1,2 @@\n+// Package calc adds numbers.\n+package calc\n```\n",
		test: "grep -q 'return a + b' calc.go && grep -q 'Package calc adds' doc.go",
		want: map[string]string{"calc.go": fixedCalc, "doc.go": "// Package calc adds numbers.\npackage calc\n"},
	},
	{
		title: "Tab SEARCH on a space file",
		files: map[string]string{"calc.py": spacedCalc},
		answer: "calc.py\n```python\n<<<<<<< SEARCH\n\tif a is None:\n\t\treturn b\n\treturn a - b\n=======\n" +
			"\tif a is None:\n\t\treturn b\n\treturn a + b\n>>>>>>> REPLACE\n```\n",
		// Passes only if the new line is indented with the file's four spaces.
		test: "grep -qx '    return a + b' calc.py",
		want: map[string]string{"calc.py": strings.Replace(spacedCalc, "a - b", "a + b", 1)},
	},
	{
		title: "Space SEARCH on a tab file",
		files: map[string]string{"go.mod": goMod, "calc.go": tabbedCalc},
		answer: "calc.go\n```go\n<<<<<<< SEARCH\nfunc Add(a, b int) int {\n    return a - b\n}\n=======\n" +
			"func Add(a, b int) int {\n    return a + b\n}\n>>>>>>> REPLACE\n```\n",
		test: `grep -qx "$(printf '\treturn a + b')" calc.go`,
		want: map[string]string{"calc.go": fixedCalc},
	},
}

// TestPipelineEditFormats runs one task per form of answer through the whole pipeline: the
// coder answers once (a whole file, a unified diff, SEARCH indented with tabs against a file
// indented with spaces, and the reverse), the sandboxed test command passes, the reviewer
// approves, and the pushed branch holds exactly the change. A form that did not apply would cost
// a retry, a failed run, or both.
func TestPipelineEditFormats(t *testing.T) {
	root := t.TempDir()
	for i, c := range formatCases {
		src := filepath.Join(root, "src", strings.ReplaceAll(c.title, " ", "-"))
		testutil.GitRepo(t, src, c.files, "initial")
		testutil.Git(t, root, "clone", "-q", "--bare", src, filepath.Join(root, "acme", repoName(i)))
	}
	coder := func(req llmtest.RecordedRequest) llmtest.Reply {
		if req.Messages[0].Role == "system" && strings.Contains(req.Messages[0].Content, "code reviewer") {
			return llmtest.Reply{Text: `{"verdict":"approve","summary":"fine","comments":[]}`}
		}
		for _, c := range formatCases {
			if strings.Contains(req.Messages[1].Content, "# Task\n"+c.title+"\n") {
				return llmtest.Reply{Text: c.answer}
			}
		}
		return llmtest.Reply{Text: "I do not know this task."}
	}
	fake := llmtest.NewOpenAI(t, coder)
	s := startE2E(t, e2eVars(t, fake.URL, root, "OPENAI_API_KEY", "sk-test-formats-0123456789abcdef"))
	first := giveRepo(t, filepath.Join(root, "acme", repoName(0)), s.userID(t).String())
	remotes := make([]string, len(formatCases))
	runs := make([]string, len(formatCases))
	for i, c := range formatCases {
		remotes[i] = filepath.Join(filepath.Dir(first), repoName(i))
		runs[i] = s.runTask(t, map[string]string{"name": repoName(i), "repo_url": "file://" + remotes[i], "test_command": c.test},
			map[string]string{"title": c.title, "description": "Add must return the sum."})
	}

	for i, c := range formatCases {
		t.Run(c.title, func(t *testing.T) {
			events := s.events(t, runs[i])
			var rounds []string
			for _, ev := range events {
				if ev.typ == "edits.applied" {
					rounds = append(rounds, ev.data)
				}
			}
			var ex struct {
				Status  string          `json:"status"`
				Details json.RawMessage `json:"details"`
				Commit  *struct {
					Branch string `json:"branch"`
				} `json:"commit"`
			}
			s.c.do("GET", "/api/v1/executions/"+runs[i], nil, &ex)
			if ex.Status != "succeeded" || ex.Commit == nil {
				t.Fatalf("execution %s, want succeeded; edit rounds %v; details %s", ex.Status, rounds, ex.Details)
			}
			// One round, nothing failed: the form was taken as it came.
			if len(rounds) != 1 || !strings.Contains(rounds[0], `"failed":0`) {
				t.Errorf("edit rounds %v, want one without failures", rounds)
			}
			for path, want := range c.want {
				if got := testutil.Git(t, remotes[i], "show", ex.Commit.Branch+":"+path); got != strings.TrimSuffix(want, "\n") {
					t.Errorf("pushed %s:\n%q\nwant\n%q", path, got, want)
				}
			}
			tree := testutil.Git(t, remotes[i], "ls-tree", "-r", "--name-only", ex.Commit.Branch)
			for _, path := range c.absent {
				if strings.Contains(tree, path) {
					t.Errorf("the branch has %s, taken from a code example: %s", path, tree)
				}
			}
		})
	}
	// Each task took one coder answer and one review: no form cost a retry.
	if n := fake.Calls(); n != 2*len(formatCases) {
		t.Errorf("%d model calls, want %d", n, 2*len(formatCases))
	}
}

func repoName(i int) string { return "calc" + string(rune('a'+i)) + ".git" }
