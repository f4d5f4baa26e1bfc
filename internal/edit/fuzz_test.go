package edit

import (
	"maps"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds are answers in the shapes models write, well and badly formed.
var fuzzSeeds = []string{
	Instructions,
	"a.go\n```go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n```\n",
	"a.go\r\n<<<<< search\r\n  old  \r\n=========\r\nnew\r\n>>>>>>>>> replace\r\n",
	"**File: `a.go`**:\n\n```go\n<<<<<<< SEARCH\n=======\npackage a\n>>>>>>> REPLACE\n```\n",
	"NEW FILE: x/y.txt\n````\n```\ninner\n```\n````\n",
	"NEW FILE: a.go\n```go\n<<<<<<< SEARCH\n",
	"a.go\n<<<<<<< SEARCH\nold\n=======\nnew\n=======\n>>>>>>> REPLACE\n<<<<<<< SEARCH\n",
	">>>>>>> REPLACE\n=======\n<<<<<<< SEARCH\n",
	"../x\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n",
	"linkdir/x\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n",
	"a.go\n<<<<<<< SEARCH\n\n    package a\n\n=======\n  package b\n>>>>>>> REPLACE\n",
	// Whole files, diffs, and tabs against spaces.
	"a.go\n```go\npackage b\n```\n",
	"```go a.go\npackage b\n```\n**linkdir/x.go**\n```\nx\n```\n",
	"a.go\n````\n```go\n````\n",
	"```diff\n--- a/a.go\n+++ b/a.go\n@@ -9,1 +9,1 @@\n-package a\n+package b\n```\n",
	"--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+x\n--- a/a.go\n+++ /dev/null\n@@ -1 +0,0 @@\n-package a\n",
	"--- a/../outside/secret.txt\n+++ /dev/null\n",
	"a.go\n```diff\n@@ @@\n package a\n+\n\n```\n",
	"a.go\n<<<<<<< SEARCH\n\t\tpackage a\n=======\n\t\tpackage b\n\t  x\n>>>>>>> REPLACE\n",
}

// FuzzParse checks that no answer makes Parse panic and that what it returns is well formed.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, answer string) {
		edits, errs := Parse(answer)
		lines := strings.Count(answer, "\n") + 1
		for _, e := range edits {
			if e.Path == "" || strings.IndexFunc(e.Path, notPathRune) >= 0 {
				t.Errorf("bad path %q", e.Path)
			}
			if e.Line < 1 || e.Line > lines {
				t.Errorf("line %d outside the answer's %d", e.Line, lines)
			}
			for _, s := range []string{e.Search, e.Replace} {
				if s != "" && !strings.HasSuffix(s, "\n") {
					t.Errorf("section %q does not end in a newline", s)
				}
			}
			if e.NewFile && e.Search != "" {
				t.Errorf("NEW FILE with a SEARCH section")
			}
			if e.Format == FormatWholeFile && (e.Search != "" || e.NewFile || e.Delete) {
				t.Errorf("whole file %+v", e)
			}
			if e.Delete && e.Format != FormatDiff {
				t.Errorf("deletion outside a diff: %+v", e)
			}
		}
		for _, e := range errs {
			if e.Line < 1 || e.Line > lines || e.Reason == "" {
				t.Errorf("bad error %+v", e)
			}
		}
	})
}

// FuzzApply parses an answer and applies it, plus one edit built straight from the fuzzer's
// strings, to a fresh workspace with links leading out of it. Nothing may panic and nothing
// outside the workspace may change.
func FuzzApply(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, "a.go", "package a\n", "package b\n")
	}
	f.Add("", "linkdir/secret.txt", "secret\n", "x\n")
	f.Add("", "relup/outside/x", "", "x\n")
	f.Add("", "sub/../../x", "", "x\n")
	f.Add("", ".git/config", "[core]\n", "x\n")
	f.Fuzz(func(t *testing.T, answer, path, search, replace string) {
		fx := newEscapeFixture(t)
		before := fx.snapshot(t)
		edits, _ := Parse(answer)
		edits = append(edits, Edit{Path: path, Search: search, Replace: replace})
		res, err := Apply(fx.root, edits)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Applied)+len(res.Failed) != len(edits) {
			t.Errorf("%d applied and %d failed of %d edits", len(res.Applied), len(res.Failed), len(edits))
		}
		for _, fl := range res.Failed {
			if fl.Reason == "" {
				t.Errorf("failure without a reason: %+v", fl)
			}
		}
		for _, file := range res.Files {
			if _, err := safePath(mustEval(t, fx.root), file); err != nil {
				t.Errorf("wrote %q: %v", file, err)
			}
		}
		if after := fx.snapshot(t); !maps.Equal(before, after) {
			t.Errorf("outside the workspace changed:\nbefore %v\nafter  %v", before, after)
		}
		_ = FailureReport(res.Failed)
	})
}

func mustEval(t *testing.T, path string) string {
	t.Helper()
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return real
}
