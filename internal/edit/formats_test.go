package edit

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

// The answers here spell a code fence as ''' (see md).

func TestParseWholeFile(t *testing.T) {
	whole := func(path, content string) []Edit {
		return []Edit{{Path: path, Replace: content, Format: FormatWholeFile}}
	}
	calc := whole("calc.go", "package calc\n")
	tests := []struct {
		name   string
		answer string
		want   []Edit
	}{
		{"path right above", "calc.go\n'''go\npackage calc\n'''\n", calc},
		{"path in backticks", "`calc.go`\n'''go\npackage calc\n'''\n", calc},
		{"path in bold", "**calc.go**\n'''go\npackage calc\n'''\n", calc},
		{"path as heading", "# calc.go\n'''go\npackage calc\n'''\n", calc},
		{"File: label", "File: calc.go\n'''go\npackage calc\n'''\n", calc},
		{"path with a colon", "calc.go:\n'''go\npackage calc\n'''\n", calc},
		{"language then path in the info string", "Here is the file.\n'''go calc.go\npackage calc\n'''\n", calc},
		{"path alone in the info string", "'''calc.go\npackage calc\n'''\n", calc},
		{"language:path info string", "'''go:calc.go\npackage calc\n'''\n", calc},
		{"title= info string", "'''go title=\"calc.go\"\npackage calc\n'''\n", calc},
		{"known name without an extension", "Makefile\n'''make\ntest:\n\tgo test ./...\n'''\n", whole("Makefile", "test:\n\tgo test ./...\n")},
		{"dotfile", ".gitignore\n'''\n/bin\n'''\n", whole(".gitignore", "/bin\n")},
		{"nested path", "internal/calc/calc.go\n'''go\npackage calc\n'''\n", whole("internal/calc/calc.go", "package calc\n")},
		{"tilde fence", "calc.go\n~~~go\npackage calc\n~~~\n", calc},
		{"longer fence around inner fences", "README.md\n````markdown\n# T\n'''sh\nmake\n'''\n````\n", whole("README.md", "# T\n'''sh\nmake\n'''\n")},
		{"empty block", "empty.txt\n'''\n'''\n", whole("empty.txt", "")},
		{"then a SEARCH block continuing the file", "calc.go\n'''go\npackage calc\n'''\n'''go\n<<<<<<< SEARCH\npackage calc\n=======\npackage calc2\n>>>>>>> REPLACE\n'''\n",
			append(whole("calc.go", "package calc\n"), Edit{Path: "calc.go", Search: "package calc\n", Replace: "package calc2\n"})},
		{"two files", "a.go\n'''go\npackage a\n'''\n\nb.go\n'''go\npackage b\n'''\n", append(whole("a.go", "package a\n"), whole("b.go", "package b\n")...)},

		// Code in prose is not a file.
		{"no path", "Call it like this:\n'''go\nfmt.Println(calc.Add(1, 2))\n'''\n", nil},
		{"prose naming a file above", "For example, in calc.go:\n'''go\nx := calc.Add(1, 2)\n'''\n", nil},
		{"path separated by a blank line", "calc.go\n\n'''go\npackage calc\n'''\n", nil},
		{"qualified identifier, not a path", "fmt.Println\n'''go\nfmt.Println(1)\n'''\n", nil},
		{"version number, not a path", "v1.2\n'''\nnotes\n'''\n", nil},
		{"word without an extension", "Output\n'''\nok\n'''\n", nil},
		{"language name alone in the info string", "'''dockerfile\nFROM scratch\n'''\n", nil},
		{"known name alone in the info string", "'''Makefile\nall:\n'''\n", nil},
		{"path with a space", "my calc.go\n'''go\npackage calc\n'''\n", nil},
		{"a block opening another block is not one file", "calc.go\n'''go\npackage calc\n'''go\nx\n'''\n", nil},
		{"unclosed fence", "calc.go\n'''go\npackage calc\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Parse(md(tt.answer))
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			for i := range got {
				got[i].Line = 0
			}
			want := tt.want
			for i := range want {
				want[i].Replace = md(want[i].Replace)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %#v\nwant %#v", got, want)
			}
		})
	}
}

// TestParseWholeFileNotMarkers: a fence that holds SEARCH/REPLACE markers or a diff is read as
// such, never as the whole file.
func TestParseWholeFileNotMarkers(t *testing.T) {
	got, errs := Parse(md("calc.go\n'''go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''\n"))
	if len(errs) > 0 || len(got) != 1 || got[0].Format != FormatSearchReplace || got[0].Search != "old\n" {
		t.Errorf("SEARCH block: %+v %v", got, errs)
	}
	got, errs = Parse(md("calc.go\n'''diff\n--- a/calc.go\n+++ b/calc.go\n@@ -1 +1 @@\n-old\n+new\n'''\n"))
	if len(errs) > 0 || len(got) != 1 || got[0].Format != FormatDiff || got[0].Search != "old\n" || got[0].Replace != "new\n" {
		t.Errorf("diff: %+v %v", got, errs)
	}
}

func TestApplyWholeFile(t *testing.T) {
	const old = "package calc\n\nfunc Add(a, b int) int {\n\treturn a - b\n}\n"
	const fixed = "package calc\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n"
	tests := []struct {
		name, path, content string
		want                string // the file afterwards
		wantIn              string // in the failure's reason; "" when it applies
	}{
		{"replaces an existing file", "calc.go", fixed, fixed, ""},
		{"creates a new file", "cmd/x/main.go", "package main\n", "package main\n", ""},
		{"keeps CRLF line endings", "crlf.txt", "one\ntwo\n", "one\r\ntwo\r\n", ""},
		{"an empty block does not erase a file", "calc.go", "", old, "would erase the file"},
		{"code left out is refused", "calc.go", "package calc\n\n// ... rest of the file unchanged ...\n", old, "code left out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			testutil.WriteTree(t, root, map[string]string{"calc.go": old, "crlf.txt": "a\r\nb\r\n"})
			res, err := Apply(root, []Edit{{Path: tt.path, Replace: tt.content, Format: FormatWholeFile}})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantIn == "" {
				if len(res.Failed) > 0 || !reflect.DeepEqual(res.Files, []string{tt.path}) {
					t.Fatalf("result %+v", res)
				}
			} else if len(res.Failed) != 1 || !strings.Contains(res.Failed[0].Reason, tt.wantIn) {
				t.Fatalf("result %+v, want a failure containing %q", res, tt.wantIn)
			}
			if got := mustRead(t, filepath.Join(root, tt.path)); got != tt.want {
				t.Errorf("%s is %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

// TestUnsafePathsEveryFormat: a path that a SEARCH edit may not use is refused, with the same
// reason, when it heads a whole file or a diff, and nothing outside the workspace changes.
func TestUnsafePathsEveryFormat(t *testing.T) {
	for _, path := range []string{"../x.go", "sub/../../x.go", "/tmp/x.go", ".git/config.txt", ".GIT/hooks/pre-commit.sh",
		"linkdir/secret.txt", "relup/outside/x.go", "sub/deeper/keep.go", "linkfile.txt", "gitlink/config.txt"} {
		for _, form := range []struct{ name, answer string }{
			{"whole", path + "\n```\nx\n```\n"},
			{"whole, path in the info string", "```go " + path + "\nx\n```\n"},
			{"diff", "```diff\n--- a/" + path + "\n+++ b/" + path + "\n@@ -1 +1 @@\n-x\n+y\n```\n"},
			{"diff without prefixes", "--- " + path + "\n+++ " + path + "\n@@ -1 +1 @@\n-x\n+y\n"},
			{"new file diff", "--- /dev/null\n+++ b/" + path + "\n@@ -0,0 +1 @@\n+x\n"},
			{"deleting diff", "--- a/" + path + "\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"},
		} {
			t.Run(form.name+" "+path, func(t *testing.T) {
				fx := newEscapeFixture(t)
				before := fx.snapshot(t)
				if path == "linkfile.txt" || path == "gitlink/config.txt" {
					// Links from inside: to a file outside, and into .git.
					if err := os.Symlink(filepath.Join(fx.outside, "secret.txt"), filepath.Join(fx.root, "linkfile.txt")); err != nil {
						t.Fatal(err)
					}
					before = fx.snapshot(t)
				}
				edits, errs := Parse(form.answer)
				if len(errs) > 0 || len(edits) != 1 {
					t.Fatalf("parsed %+v %v, want one edit", edits, errs)
				}
				res, err := Apply(fx.root, edits)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Applied) > 0 || len(res.Failed) != 1 {
					t.Fatalf("result %+v, want one refusal", res)
				}
				_, want := SafePath(fx.root, edits[0].Path)
				if !errors.Is(want, ErrUnsafePath) || res.Failed[0].Reason != want.Error() {
					t.Errorf("reason %q, want the SEARCH edits' %v", res.Failed[0].Reason, want)
				}
				if after := fx.snapshot(t); !reflect.DeepEqual(before, after) {
					t.Errorf("outside the workspace changed")
				}
				if got := mustRead(t, filepath.Join(fx.root, ".git", "config")); got != "[core]\n" {
					t.Errorf(".git/config is %q", got)
				}
			})
		}
	}
}

func TestParseDiff(t *testing.T) {
	tests := []struct {
		name   string
		answer string
		want   []Edit
	}{
		{"git diff, two hunks, function context in the header", `'''diff
diff --git a/add.go b/add.go
index 83db48f..bf269f4 100644
--- a/add.go
+++ b/add.go
@@ -3,7 +3,7 @@ package add
 // Add adds.
 func Add(a, b int) int {
-	return a - b
+	return a + b
 }
@@ -20,3 +20,4 @@ func Sub(a, b int) int {
 	return a - b
 }
+// end
'''`, []Edit{
			{Path: "add.go", Search: "// Add adds.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n", Replace: "// Add adds.\nfunc Add(a, b int) int {\n\treturn a + b\n}\n", Format: FormatDiff, Hint: 3},
			{Path: "add.go", Search: "\treturn a - b\n}\n", Replace: "\treturn a - b\n}\n// end\n", Format: FormatDiff, Hint: 20},
		}},
		{"no prefixes, timestamps, no fence, text after", "--- add.go\t2024-01-01 10:00:00\n+++ add.go\t2024-01-02 10:00:00\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n\nThat fixes it.\n",
			[]Edit{{Path: "add.go", Search: "x\ny\n", Replace: "x\nz\n", Format: FormatDiff, Hint: 1}}},
		{"blank context lines and a dropped leading space", "'''diff\n--- a/f.py\n+++ b/f.py\n@@ @@\ndef f():\n\n-    return 1\n+    return 2\n'''\n",
			[]Edit{{Path: "f.py", Search: "def f():\n\n    return 1\n", Replace: "def f():\n\n    return 2\n", Format: FormatDiff}}},
		{"no newline marker", "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n",
			[]Edit{{Path: "f", Search: "a\n", Replace: "b\n", Format: FormatDiff, Hint: 1}}},
		{"new file", "'''diff\n--- /dev/null\n+++ b/cmd/x/main.go\n@@ -0,0 +1,3 @@\n+package main\n+\n+func main() {}\n'''\n",
			[]Edit{{Path: "cmd/x/main.go", Replace: "package main\n\nfunc main() {}\n", NewFile: true, Format: FormatDiff}}},
		{"deletion", "'''diff\n--- a/old.go\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-package old\n-\n'''\n",
			[]Edit{{Path: "old.go", Search: "package old\n\n", Delete: true, Format: FormatDiff}}},
		{"several files", "'''diff\n--- a/a.go\n+++ b/a.go\n@@ -1 +1 @@\n-a\n+A\n--- a/b/b.go\n+++ b/b/b.go\n@@ -1 +1 @@\n-b\n+B\n'''\n",
			[]Edit{{Path: "a.go", Search: "a\n", Replace: "A\n", Format: FormatDiff, Hint: 1}, {Path: "b/b.go", Search: "b\n", Replace: "B\n", Format: FormatDiff, Hint: 1}}},
		{"hunks without headers under a path", "add.go\n'''diff\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n'''\n",
			[]Edit{{Path: "add.go", Search: "x\ny\n", Replace: "x\nz\n", Format: FormatDiff, Hint: 1}}},
		{"diff fence without a path is not a file", "'''diff\n@@ -1 +1 @@\n-y\n+z\n'''\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Parse(md(tt.answer))
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			for i := range got {
				got[i].Line = 0
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseDiffErrors(t *testing.T) {
	tests := []struct {
		name, answer, wantIn string
	}{
		{"rename", "--- a/old.go\n+++ b/new.go\n@@ -1 +1 @@\n-a\n+b\n", "renames old.go to new.go"},
		{"no hunks", "--- a/a.go\n+++ b/a.go\nthat is all\n", "no @@ hunks"},
		{"both sides /dev/null", "--- /dev/null\n+++ /dev/null\n", "/dev/null to /dev/null"},
		{"not a path", "--- a/my file.go\n+++ b/my file.go\n@@ -1 +1 @@\n-a\n+b\n", "not a path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Parse(tt.answer)
			if len(got) > 0 || len(errs) != 1 || errs[0].Line != 1 || !strings.Contains(errs[0].Reason, tt.wantIn) {
				t.Errorf("edits %+v, errors %v; want one error at line 1 containing %q", got, errs, tt.wantIn)
			}
		})
	}
}

func TestApplyDiff(t *testing.T) {
	const add = "package add\n\n// Add adds.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n\n// Sub subtracts.\nfunc Sub(a, b int) int {\n\treturn a - b\n}\n"
	tests := []struct {
		name   string
		answer string
		want   map[string]string // file contents afterwards; "" for a file that must not exist
	}{
		{"wrong line numbers", "```diff\n--- a/add.go\n+++ b/add.go\n@@ -40,4 +40,4 @@\n // Add adds.\n func Add(a, b int) int {\n-\treturn a - b\n+\treturn a + b\n }\n```\n",
			map[string]string{"add.go": strings.Replace(add, "a - b", "a + b", 1)}},
		{"several hunks, in order", "--- add.go\n+++ add.go\n@@ -1,3 +1,4 @@\n package add\n \n+// Package add does arithmetic.\n // Add adds.\n@@ -9,3 +10,3 @@\n func Sub(a, b int) int {\n-\treturn a - b\n+\treturn a - b - 0\n }\n",
			map[string]string{"add.go": "package add\n\n// Package add does arithmetic.\n// Add adds.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n\n// Sub subtracts.\nfunc Sub(a, b int) int {\n\treturn a - b - 0\n}\n"}},
		{"the header's line chooses among equal places", "--- a/add.go\n+++ b/add.go\n@@ -10,2 +10,2 @@\n-\treturn a - b\n+\treturn b - a\n }\n",
			map[string]string{"add.go": "package add\n\n// Add adds.\nfunc Add(a, b int) int {\n\treturn a - b\n}\n\n// Sub subtracts.\nfunc Sub(a, b int) int {\n\treturn b - a\n}\n"}},
		{"new file", "--- /dev/null\n+++ b/sub/mul.go\n@@ -0,0 +1,2 @@\n+package sub\n+// Mul multiplies.\n",
			map[string]string{"sub/mul.go": "package sub\n// Mul multiplies.\n", "add.go": add}},
		{"deletion", "--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-old\n", map[string]string{"old.txt": "", "add.go": add}},
		{"CRLF file", "--- a/crlf.txt\n+++ b/crlf.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+2\n", map[string]string{"crlf.txt": "one\r\n2\r\nthree\r\n"}},
		{"tab-indented hunk against a space-indented file", "--- a/sp.go\n+++ b/sp.go\n@@ -1,3 +1,3 @@\n func f() {\n-\treturn 1\n+\treturn 2\n }\n",
			map[string]string{"sp.go": "func f() {\n    return 2\n}\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			testutil.WriteTree(t, root, map[string]string{"add.go": add, "old.txt": "old\n", "crlf.txt": "one\r\ntwo\r\nthree\r\n", "sp.go": "func f() {\n    return 1\n}\n"})
			edits, errs := Parse(tt.answer)
			if len(errs) > 0 || len(edits) == 0 {
				t.Fatalf("parsed %+v %v", edits, errs)
			}
			res, err := Apply(root, edits)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Failed) > 0 || len(res.Applied) != len(edits) {
				t.Fatalf("result %+v", res)
			}
			for path, want := range tt.want {
				b, err := os.ReadFile(filepath.Join(root, path))
				switch {
				case want == "" && !errors.Is(err, os.ErrNotExist):
					t.Errorf("%s still exists (%v)", path, err)
				case want != "" && string(b) != want:
					t.Errorf("%s is %q, want %q", path, b, want)
				}
			}
		})
	}
}

func TestApplyDiffFailures(t *testing.T) {
	const add = "package add\n\nfunc Add(a, b int) int {\n\treturn a - b\n}\n"
	tests := []struct {
		name, answer, wantIn string
		wantClosest          *Snippet // Similarity is not compared
	}{
		{"hunk does not apply", "--- a/add.go\n+++ b/add.go\n@@ -3,3 +3,3 @@\n func Add(x, y int) int {\n-\treturn x - y\n+\treturn x + y\n }\n",
			"the hunk does not apply", &Snippet{Start: 3, Lines: []string{"func Add(a, b int) int {", "\treturn a - b", "}"}}},
		{"equal places, no line to choose by", "--- a/add.go\n+++ b/add.go\n@@ @@\n-}\n+}\n", "the hunk matches", nil},
		{"file missing", "--- a/nope.go\n+++ b/nope.go\n@@ -1 +1 @@\n-a\n+b\n", "starts with --- /dev/null", nil},
		{"new file that exists", "--- /dev/null\n+++ b/add.go\n@@ -0,0 +1 @@\n+package add\n", "already exists", nil},
		{"deleting a missing file", "--- a/nope.go\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n", "no such file", nil},
		{"nothing to find the place by", "--- a/add.go\n+++ b/add.go\n@@ -1,0 +1,1 @@\n+// x\n", "no context or removed lines", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			testutil.WriteTree(t, root, map[string]string{"add.go": add + "\nfunc Sub(a, b int) int {\n\treturn a - b\n}\n"})
			before := mustRead(t, filepath.Join(root, "add.go"))
			edits, errs := Parse(tt.answer)
			if len(errs) > 0 || len(edits) != 1 {
				t.Fatalf("parsed %+v %v", edits, errs)
			}
			res, err := Apply(root, edits)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Applied) > 0 || len(res.Failed) != 1 || !strings.Contains(res.Failed[0].Reason, tt.wantIn) {
				t.Fatalf("result %+v, want a failure containing %q", res, tt.wantIn)
			}
			f := res.Failed[0]
			if f.Closest != nil {
				f.Closest.Similarity = 0
			}
			if !reflect.DeepEqual(f.Closest, tt.wantClosest) {
				t.Errorf("closest %+v, want %+v", f.Closest, tt.wantClosest)
			}
			if got := mustRead(t, filepath.Join(root, "add.go")); got != before {
				t.Errorf("add.go changed to %q", got)
			}
		})
	}
}

// TestFailureReportDiff: a hunk that does not apply is reported like a SEARCH section that does
// not match: the lines it expected and the closest lines of the file, numbered.
func TestFailureReportDiff(t *testing.T) {
	root := t.TempDir()
	testutil.WriteTree(t, root, map[string]string{"add.go": "package add\n\nfunc Add(a, b int) int {\n\treturn a - b\n}\n"})
	edits, _ := Parse("intro\n```diff\n--- a/add.go\n+++ b/add.go\n@@ -3,3 +3,3 @@\n func Add(x, y int) int {\n-\treturn x - y\n+\treturn x + y\n }\n```\n")
	res, err := Apply(root, edits)
	if err != nil {
		t.Fatal(err)
	}
	report := FailureReport(res.Failed)
	for _, want := range []string{
		"## Failed edit 1: add.go\nthe hunk does not apply",
		"The lines your hunk expects in the file (its context and removed lines):\n```\nfunc Add(x, y int) int {\n\treturn x - y\n}\n```",
		"The closest lines in add.go are lines 3-5 (line numbers are not part of the file):\n```\n3 | func Add(a, b int) int {\n4 | \treturn a - b\n5 | }\n```",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
	if edits[0].Line != 5 {
		t.Errorf("hunk at answer line %d, want 5 (its @@ header)", edits[0].Line)
	}
}
