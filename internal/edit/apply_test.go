package edit

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApplyMatches(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		edit     Edit
		want     string
		wantHow  MatchKind
		wantLine int
	}{
		{"exact", "a\nb\nc\n", Edit{Search: "b\n", Replace: "B\n"}, "a\nB\nc\n", MatchExact, 2},
		{"several lines", "a\nb\nc\nd\n", Edit{Search: "b\nc\n", Replace: "x\n"}, "a\nx\nd\n", MatchExact, 2},
		{"delete lines", "a\nb\nc\n", Edit{Search: "b\n"}, "a\nc\n", MatchExact, 2},
		{"file has trailing spaces", "a\nb  \t\nc\n", Edit{Search: "b\n", Replace: "B\n"}, "a\nB\nc\n", MatchTrailingSpace, 2},
		{"SEARCH has trailing spaces", "a\nb\nc\n", Edit{Search: "b   \n", Replace: "B\n"}, "a\nB\nc\n", MatchTrailingSpace, 2},
		{"file indented more", "func f() {\n\tif x {\n\t\treturn 1\n\t}\n}\n",
			Edit{Search: "if x {\n\treturn 1\n}\n", Replace: "if x {\n\treturn 2\n}\n"},
			"func f() {\n\tif x {\n\t\treturn 2\n\t}\n}\n", MatchIndentShift, 2},
		{"file indented less", "def f():\n    if x:\n        return 1\n",
			Edit{Search: "        if x:\n            return 1\n", Replace: "        if x:\n            return 2\n    # outdented\n"},
			"def f():\n    if x:\n        return 2\n# outdented\n", MatchIndentShift, 2},
		{"indent shift keeps blank lines", "class A:\n    def f(self):\n\n        pass\n",
			Edit{Search: "def f(self):\n\n    pass\n", Replace: "def f(self):\n\n    return 1\n"},
			"class A:\n    def f(self):\n\n        return 1\n", MatchIndentShift, 2},
		{"extra blank lines at SEARCH edges", "a\nb\nc\n", Edit{Search: "\nb\n\n", Replace: "\nB\n\n"}, "a\nB\nc\n", MatchTrimmedBlankLines, 2},
		{"blank edges plus indentation", "{\n  x\n  y\n}\n", Edit{Search: "\nx\ny\n", Replace: "x\nz\n"}, "{\n  x\n  z\n}\n", MatchTrimmedBlankLines, 2},
		{"exact wins over looser", "  b\nb\n", Edit{Search: "b\n", Replace: "B\n"}, "  b\nB\n", MatchExact, 2},
		{"no final newline is kept", "a\nb", Edit{Search: "a\n", Replace: "A\n"}, "A\nb", MatchExact, 1},
		{"last line without newline", "a\nb", Edit{Search: "b\n", Replace: "B\n"}, "a\nB", MatchExact, 2},
		{"CRLF file", "a\r\nb\r\nc\r\n", Edit{Search: "b\n", Replace: "B\nB2\n"}, "a\r\nB\r\nB2\r\nc\r\n", MatchExact, 2},
		{"delete everything", "a\n", Edit{Search: "a\n"}, "", MatchExact, 1},
		{"empty SEARCH fills an empty file", "", Edit{Replace: "x\n"}, "x\n", MatchExact, 1},
		{"blank SEARCH counts as empty", "", Edit{Search: "\n", Replace: "x\n"}, "x\n", MatchExact, 1},
		{"NEW FILE fills a blank file", "\n", Edit{Replace: "x\n", NewFile: true}, "x\n", MatchExact, 1},
		// Tabs against spaces: the REPLACE is re-indented in the file's style, its levels mapped
		// through the indent unit the SEARCH and the file show.
		{"tab SEARCH, file indented with 4 spaces", "func f() {\n    if x {\n        return 1\n    }\n}\n",
			Edit{Search: "\tif x {\n\t\treturn 1\n\t}\n", Replace: "\tif x {\n\t\treturn 2\n\t}\n\t// done\n"},
			"func f() {\n    if x {\n        return 2\n    }\n    // done\n}\n", MatchIndentStyle, 2},
		{"space SEARCH, file indented with tabs", "func f() {\n\tif x {\n\t\treturn 1\n\t}\n}\n",
			Edit{Search: "    if x {\n        return 1\n    }\n", Replace: "    if x {\n        return 2\n      // aligned\n    }\n"},
			"func f() {\n\tif x {\n\t\treturn 2\n\t  // aligned\n\t}\n}\n", MatchIndentStyle, 2},
		{"tab SEARCH, file indented with 2 spaces", "def f():\n  if x:\n    return 1\n",
			Edit{Search: "\tif x:\n\t\treturn 1\n", Replace: "\tif x:\n\t\treturn 2\n"},
			"def f():\n  if x:\n    return 2\n", MatchIndentStyle, 2},
		{"tabs and a shift at once", "func f() {\n    if x {\n        return 1\n    }\n}\n",
			Edit{Search: "if x {\n\treturn 1\n}\n", Replace: "if x {\n\treturn 2\n}\n"},
			"func f() {\n    if x {\n        return 2\n    }\n}\n", MatchIndentStyle, 2},
		{"one tab-indented line", "func f() {\n    return 1\n}\n",
			Edit{Search: "\treturn 1\n", Replace: "\tif x {\n\t\treturn 2\n\t}\n"},
			"func f() {\n    if x {\n        return 2\n    }\n}\n", MatchIndentStyle, 2},
		{"tabs against spaces with blank edges", "{\n    x\n    y\n}\n",
			Edit{Search: "\n\tx\n\ty\n\n", Replace: "\tx\n\tz\n"},
			"{\n    x\n    z\n}\n", MatchTrimmedBlankLines, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			testutil.WriteTree(t, root, map[string]string{"f.txt": tt.file})
			tt.edit.Path = "f.txt"
			res, err := Apply(root, []Edit{tt.edit})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Failed) > 0 {
				t.Fatalf("failed: %+v", res.Failed)
			}
			if got := mustRead(t, filepath.Join(root, "f.txt")); got != tt.want {
				t.Errorf("file is %q, want %q", got, tt.want)
			}
			if a := res.Applied[0]; a.How != tt.wantHow || a.Line != tt.wantLine {
				t.Errorf("applied %v at line %d, want %v at line %d", a.How, a.Line, tt.wantHow, tt.wantLine)
			}
		})
	}
}

func TestApplyFailures(t *testing.T) {
	const file = "package a\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n\nfunc Sub(a, b int) int {\n\treturn a - b\n}\n"
	tests := []struct {
		name         string
		edit         Edit
		wantIn       string
		wantNotFound bool
		wantClosest  *Snippet // Similarity is not compared
	}{
		{"not found, with the closest lines", Edit{Path: "a.go", Search: "func Add(x, y int) int {\n\treturn x + y\n}\n", Replace: "x\n"},
			"does not match", true, &Snippet{Start: 3, Lines: []string{"func Add(a, b int) int {", "\treturn a + b", "}"}}},
		{"not found, nothing close", Edit{Path: "a.go", Search: "SELECT * FROM users;\n", Replace: "x\n"}, "does not match", true, nil},
		{"ambiguous", Edit{Path: "a.go", Search: "}\n", Replace: "x\n"}, "matches 2 places (starting at lines 5, 9)", false, nil},
		{"ambiguous after loosening", Edit{Path: "a.go", Search: "    }  \n", Replace: "x\n"}, "matches 2 places", false, nil},
		{"missing file", Edit{Path: "b.go", Search: "x\n", Replace: "y\n"}, "does not exist", false, nil},
		{"empty SEARCH on an existing file", Edit{Path: "a.go", Replace: "x\n"}, "already exists", false, nil},
		{"NEW FILE over an existing file", Edit{Path: "a.go", Replace: "x\n", NewFile: true}, "already exists", false, nil},
		{"directory", Edit{Path: "dir", Search: "x\n", Replace: "y\n"}, "is a directory", false, nil},
		{"binary", Edit{Path: "bin", Search: "x\n", Replace: "y\n"}, "binary", false, nil},
		{"parent is a file", Edit{Path: "a.go/x", Replace: "y\n"}, "not a directory", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			testutil.WriteTree(t, root, map[string]string{"a.go": file, "bin": "x\n\x00\n", "dir/keep": ""})
			res, err := Apply(root, []Edit{tt.edit})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Applied) > 0 || len(res.Failed) != 1 || len(res.Files) > 0 {
				t.Fatalf("result %+v, want one failure", res)
			}
			f := res.Failed[0]
			if !strings.Contains(f.Reason, tt.wantIn) {
				t.Errorf("reason %q does not contain %q", f.Reason, tt.wantIn)
			}
			if f.NotFound != tt.wantNotFound {
				t.Errorf("NotFound = %v", f.NotFound)
			}
			if f.Closest != nil {
				f.Closest.Similarity = 0
			}
			if !reflect.DeepEqual(f.Closest, tt.wantClosest) {
				t.Errorf("closest %+v, want %+v", f.Closest, tt.wantClosest)
			}
			if got := mustRead(t, filepath.Join(root, "a.go")); got != file {
				t.Errorf("a.go changed to %q", got)
			}
		})
	}
}

// TestApplySequence checks that edits apply in order to the result of the earlier ones, that the
// ones that fail do not stop the others, and that each file is written once and whole.
func TestApplySequence(t *testing.T) {
	root := t.TempDir()
	testutil.WriteTree(t, root, map[string]string{"a.go": "one\ntwo\nthree\n", "b.go": "b\n"})
	if err := os.Chmod(filepath.Join(root, "a.go"), 0o750); err != nil {
		t.Fatal(err)
	}
	edits := []Edit{
		{Path: "a.go", Search: "one\n", Replace: "1\n", Line: 1},
		{Path: "new/dir/c.go", Replace: "package c\n", Line: 2},
		{Path: "a.go", Search: "1\ntwo\n", Replace: "1\n2\n", Line: 3}, // sees the first edit
		{Path: "b.go", Search: "nope\n", Replace: "x\n", Line: 4},
		{Path: "a.go", Search: "four\n", Replace: "4\n", Line: 5},
		{Path: "./a.go", Search: "three\n", Replace: "3\n", Line: 6}, // same file, other spelling
		{Path: "new/dir/c.go", Search: "package c\n", Replace: "package c // created\n", Line: 7},
	}
	res, err := Apply(root, edits)
	if err != nil {
		t.Fatal(err)
	}
	var applied, failed []int
	for _, a := range res.Applied {
		applied = append(applied, a.Edit.Line)
	}
	for _, f := range res.Failed {
		failed = append(failed, f.Edit.Line)
	}
	if !reflect.DeepEqual(applied, []int{1, 2, 3, 6, 7}) || !reflect.DeepEqual(failed, []int{4, 5}) {
		t.Errorf("applied %v and failed %v", applied, failed)
	}
	if !reflect.DeepEqual(res.Files, []string{"a.go", "new/dir/c.go"}) {
		t.Errorf("files %v", res.Files)
	}
	if got := mustRead(t, filepath.Join(root, "a.go")); got != "1\n2\n3\n" {
		t.Errorf("a.go is %q", got)
	}
	if got := mustRead(t, filepath.Join(root, "new/dir/c.go")); got != "package c // created\n" {
		t.Errorf("c.go is %q", got)
	}
	if got := mustRead(t, filepath.Join(root, "b.go")); got != "b\n" {
		t.Errorf("b.go is %q", got)
	}
	info, err := os.Stat(filepath.Join(root, "a.go"))
	if err != nil || info.Mode().Perm() != 0o750 {
		t.Errorf("a.go mode %v, %v; want the original 0750", info.Mode(), err)
	}
	info, err = os.Stat(filepath.Join(root, "new/dir"))
	if err != nil || info.Mode().Perm()&^0o755 != 0 {
		t.Errorf("new dir mode %v, %v", info.Mode(), err)
	}
	// No temporary files are left behind.
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if strings.HasSuffix(path, ".tmp") {
			t.Errorf("left behind %s", path)
		}
		return nil
	})
}

// TestApplyThroughInnerSymlink edits the target of a link that stays inside the workspace and
// leaves the link itself in place.
func TestApplyThroughInnerSymlink(t *testing.T) {
	root := t.TempDir()
	testutil.WriteTree(t, root, map[string]string{"real/a.go": "x\n"})
	if err := os.Symlink("real/a.go", filepath.Join(root, "link.go")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(root, "alias")); err != nil {
		t.Fatal(err)
	}
	res, err := Apply(root, []Edit{
		{Path: "link.go", Search: "x\n", Replace: "y\n"},
		{Path: "alias/b.go", Replace: "b\n"},
	})
	if err != nil || len(res.Failed) > 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	if got := mustRead(t, filepath.Join(root, "real/a.go")); got != "y\n" {
		t.Errorf("target is %q", got)
	}
	if got := mustRead(t, filepath.Join(root, "real/b.go")); got != "b\n" {
		t.Errorf("b.go is %q", got)
	}
	if fi, err := os.Lstat(filepath.Join(root, "link.go")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link.go is no longer a link: %v %v", fi.Mode(), err)
	}
	if !reflect.DeepEqual(res.Files, []string{"real/a.go", "real/b.go"}) {
		t.Errorf("files %v", res.Files)
	}
}

func TestApplyEmptyNewFile(t *testing.T) {
	root := t.TempDir()
	res, err := Apply(root, []Edit{{Path: "pkg/empty.txt", NewFile: true}})
	if err != nil || len(res.Applied) != 1 || len(res.Files) != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	if got := mustRead(t, filepath.Join(root, "pkg/empty.txt")); got != "" {
		t.Errorf("file is %q", got)
	}
}

func TestApplyBadRoot(t *testing.T) {
	if _, err := Apply(filepath.Join(t.TempDir(), "missing"), []Edit{{Path: "a", Replace: "x\n"}}); err == nil {
		t.Error("no error for a missing root")
	}
}

// TestFailureReport checks the message the model gets, end to end from an answer.
func TestFailureReport(t *testing.T) {
	root := t.TempDir()
	testutil.WriteTree(t, root, map[string]string{"calc.go": "package calc\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n\nfunc Sub(a, b int) int {\n\treturn a - b\n}\n"})
	answer := md(`calc.go
'''go
<<<<<<< SEARCH
func Add(x, y int) int {
	return x + y
}
=======
func Add(x, y int) int {
	return y + x
}
>>>>>>> REPLACE
'''

calc.go
'''go
<<<<<<< SEARCH
}
=======
} // end
>>>>>>> REPLACE
'''

calc.go
'''go
<<<<<<< SEARCH
package calc
=======
// Package calc adds.
package calc
>>>>>>> REPLACE
'''

../outside.go
'''go
<<<<<<< SEARCH
=======
package evil
>>>>>>> REPLACE
'''

calc.go
'''go
<<<<<<< SEARCH
	return a - b
=======
`)
	edits, perrs := Parse(answer)
	res, err := Apply(root, edits)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 1 {
		t.Errorf("applied %+v, want the package comment only", res.Applied)
	}
	got := FailureReport(append(ParseFailures(perrs), res.Failed...))
	golden := filepath.Join("testdata", "failure_report.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := mustRead(t, golden); got != want {
		t.Errorf("report differs from %s (go test -run TestFailureReport -update):\n%s", golden, got)
	}
	if FailureReport(nil) != "" {
		t.Error("a report without failures")
	}
}

// TestApplyLaterEditProducesSearch covers an edit that fails in its turn but whose lines a later
// edit of the same answer produced: the reason must not claim they are missing.
func TestApplyLaterEditProducesSearch(t *testing.T) {
	root := t.TempDir()
	testutil.WriteTree(t, root, map[string]string{"a.txt": "a\n"})
	res, err := Apply(root, []Edit{
		{Path: "a.txt", Search: "b\n", Replace: "c\n"},
		{Path: "a.txt", Search: "a\n", Replace: "b\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failed) != 1 || res.Failed[0].NotFound || !strings.Contains(res.Failed[0].Reason, "now matches line 1") {
		t.Errorf("failed %+v", res.Failed)
	}
}

// TestApplySpecialFiles: an edit of a FIFO, a device node or a link to /dev/zero or
// /proc/self/environ fails with a reason at once; nothing blocks and nothing is read.
func TestApplySpecialFiles(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(root, "hang.go"), 0o644); err != nil {
		t.Fatal(err)
	}
	names := []string{"hang.go", "zero.go", "env.go"}
	if err := syscall.Mknod(filepath.Join(root, "devzero.go"), syscall.S_IFCHR|0o644, 1<<8|5); err == nil {
		names = append(names, "devzero.go")
	}
	for link, target := range map[string]string{"zero.go": "/dev/zero", "env.go": "/proc/self/environ"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	var edits []Edit
	for _, n := range names {
		edits = append(edits, Edit{Path: n, Search: "x\n", Replace: "y\n"})
	}
	done := make(chan Result, 1)
	go func() {
		res, err := Apply(root, edits)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	select {
	case res := <-done:
		if len(res.Applied) != 0 || len(res.Failed) != len(names) {
			t.Fatalf("applied %d, failed %d of %d: %+v", len(res.Applied), len(res.Failed), len(names), res)
		}
		for _, f := range res.Failed {
			if strings.Contains(f.Reason, "PATH=") {
				t.Errorf("%s: the reason carries what was read: %q", f.Edit.Path, f.Reason)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Apply blocked on a special file")
	}
}

// TestApplyIndentStyleRefuses: exchanging tabs and spaces forgives only indentation. Different
// text, indentation that no single unit explains, or several equal places are still failures.
func TestApplyIndentStyleRefuses(t *testing.T) {
	const twice = "func f() {\n    if x {\n        return 1\n    }\n    if x {\n        return 1\n    }\n}\n"
	tests := []struct {
		name, file, search, wantIn string
	}{
		{"different text", twice, "\tif y {\n\t\treturn 1\n\t}\n", "does not match"},
		{"no unit fits", "a\n    b\n        c\n          d\n", "\tb\n\t\tc\n\t\t\td\n", "does not match"},
		{"offset of part of a level", "a\n     b\n         c\n", "\tb\n\t\tc\n", "does not match"},
		{"several places", twice, "\tif x {\n\t\treturn 1\n", "matches 2 places (starting at lines 2, 5)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			testutil.WriteTree(t, root, map[string]string{"f.go": tt.file})
			res, err := Apply(root, []Edit{{Path: "f.go", Search: tt.search, Replace: "x\n"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Failed) != 1 || !strings.Contains(res.Failed[0].Reason, tt.wantIn) {
				t.Fatalf("result %+v, want a failure containing %q", res, tt.wantIn)
			}
			if got := mustRead(t, filepath.Join(root, "f.go")); got != tt.file {
				t.Errorf("f.go changed to %q", got)
			}
		})
	}
}
