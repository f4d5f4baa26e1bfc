package edit

import (
	"reflect"
	"strings"
	"testing"
)

// md lets test answers spell a code fence as three single quotes inside Go raw strings.
func md(s string) string { return strings.ReplaceAll(s, "'''", "```") }

func TestParseTolerated(t *testing.T) {
	one := []Edit{{Path: "a.go", Search: "old\n", Replace: "new\n"}}
	tests := []struct {
		name   string
		answer string
		want   []Edit
	}{
		{"fence with language", md(`a.go
'''go
<<<<<<< SEARCH
old
=======
new
>>>>>>> REPLACE
'''`), one},
		{"fence without language", md(`a.go
'''
<<<<<<< SEARCH
old
=======
new
>>>>>>> REPLACE
'''`), one},
		{"tilde fence", `a.go
~~~go
<<<<<<< SEARCH
old
=======
new
>>>>>>> REPLACE
~~~`, one},
		{"no fence", `a.go
<<<<<<< SEARCH
old
=======
new
>>>>>>> REPLACE`, one},
		{"marker counts 5 and 9", `a.go
<<<<< SEARCH
old
=========
new
>>>>>>>>> REPLACE`, one},
		{"markers with spaces, tabs and lower case", "a.go\n  <<<<<<<search  \nold\n\t=======\t\nnew\n>>>>>>>  replace \n", one},
		{"CRLF", "a.go\r\n```go\r\n<<<<<<< SEARCH\r\nold\r\n=======\r\nnew\r\n>>>>>>> REPLACE\r\n```\r\n", one},
		{"content keeps trailing whitespace", "a.go\n<<<<<<< SEARCH\nold  \n=======\nnew\t\n>>>>>>> REPLACE\n",
			[]Edit{{Path: "a.go", Search: "old  \n", Replace: "new\t\n"}}},
		{"path in backticks", md("`a.go`\n'''go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''"), one},
		{"path in bold", md("**a.go**\n'''go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''"), one},
		{"path as heading", md("### a.go\n'''go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''"), one},
		{"path with colon", md("a.go:\n'''go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''"), one},
		{"File: label", md("File: a.go\n'''go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''"), one},
		{"everything at once", md("#### **File: `a.go`**:\n'''go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''"), one},
		{"list item", md("- `a.go`\n'''go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''"), one},
		{"path inside the fence", md("'''go\na.go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''"), one},
		{"blank line and prose between path and block", md(`a.go

Change the greeting:

'''go
<<<<<<< SEARCH
old
=======
new
>>>>>>> REPLACE
'''`), one},
		{"unusual but valid path characters", md("src/app/[id]/page-v2+x@1~.tsx\n'''\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''"),
			[]Edit{{Path: "src/app/[id]/page-v2+x@1~.tsx", Search: "old\n", Replace: "new\n"}}},
		{"non-ASCII path", md("doc/übersicht.md\n'''\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''"),
			[]Edit{{Path: "doc/übersicht.md", Search: "old\n", Replace: "new\n"}}},
		{"bare file name right above", md("Makefile\n'''\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''"),
			[]Edit{{Path: "Makefile", Search: "old\n", Replace: "new\n"}}},
		{"several blocks for one file, later ones without a path", md(`Two changes to ` + "`a.go`" + `:

a.go
'''go
<<<<<<< SEARCH
one
=======
1
>>>>>>> REPLACE
'''

And the second one:

'''go
<<<<<<< SEARCH
two
=======
2
>>>>>>> REPLACE
'''`), []Edit{{Path: "a.go", Search: "one\n", Replace: "1\n"}, {Path: "a.go", Search: "two\n", Replace: "2\n"}}},
		{"several files", md(`a.go
'''go
<<<<<<< SEARCH
x
=======
y
>>>>>>> REPLACE
'''
dir/b.go
'''go
<<<<<<< SEARCH
p
=======
q
>>>>>>> REPLACE
'''`), []Edit{{Path: "a.go", Search: "x\n", Replace: "y\n"}, {Path: "dir/b.go", Search: "p\n", Replace: "q\n"}}},
		{"prose with a colon is not a path", md(`a.go
'''go
<<<<<<< SEARCH
x
=======
y
>>>>>>> REPLACE
'''
Changes:
'''go
<<<<<<< SEARCH
p
=======
q
>>>>>>> REPLACE
'''`), []Edit{{Path: "a.go", Search: "x\n", Replace: "y\n"}, {Path: "a.go", Search: "p\n", Replace: "q\n"}}},
		{"empty SEARCH creates", md("new/c.go\n'''go\n<<<<<<< SEARCH\n=======\npackage c\n>>>>>>> REPLACE\n'''"),
			[]Edit{{Path: "new/c.go", Replace: "package c\n"}}},
		{"empty REPLACE deletes lines", md("a.go\n'''go\n<<<<<<< SEARCH\nold\n=======\n>>>>>>> REPLACE\n'''"),
			[]Edit{{Path: "a.go", Search: "old\n"}}},
		{"blank lines inside sections are kept", "a.go\n<<<<<<< SEARCH\n\nold\n\n=======\n\n>>>>>>> REPLACE\n",
			[]Edit{{Path: "a.go", Search: "\nold\n\n", Replace: "\n"}}},
		{"NEW FILE", md("NEW FILE: cmd/x/main.go\n'''go\npackage main\n\nfunc main() {}\n'''\n"),
			[]Edit{{Path: "cmd/x/main.go", Replace: "package main\n\nfunc main() {}\n", NewFile: true}}},
		{"NEW FILE decorated, blank line before the fence", md("**New file: `x.txt`**\n\n'''\nhello\n'''\n"),
			[]Edit{{Path: "x.txt", Replace: "hello\n", NewFile: true}}},
		{"NEW FILE with a longer fence around inner fences", "NEW FILE: README.md\n````markdown\n# T\n```sh\nmake\n```\n````\n",
			[]Edit{{Path: "README.md", Replace: md("# T\n'''sh\nmake\n'''\n"), NewFile: true}}},
		{"NEW FILE empty", md("NEW FILE: empty.txt\n'''\n'''\n"), []Edit{{Path: "empty.txt", NewFile: true}}},
		{"NEW FILE followed by a SEARCH block is a SEARCH block", md("NEW FILE: c.go\n'''go\n<<<<<<< SEARCH\n=======\npackage c\n>>>>>>> REPLACE\n'''"),
			[]Edit{{Path: "c.go", Replace: "package c\n"}}},
		{"fenced code under a path is the whole file", md("a.go\n'''go\npackage a\n'''\n"),
			[]Edit{{Path: "a.go", Replace: "package a\n", Format: FormatWholeFile}}},
		{"fenced code without a path is ignored", md("Like this:\n'''go\npackage a\n'''\n"), nil},
		{"text around is ignored", md("Sure! Here you go.\n\na.go\n'''go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n'''\n\nThis fixes it. ======= not a marker inline\n"), one},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Parse(tt.answer)
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

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		answer    string
		wantPaths []string // paths of the edits that survive
		wantLine  int
		wantIn    string // in the error's reason
	}{
		{"ends inside SEARCH", "a.go\n<<<<<<< SEARCH\nold\n", nil, 2, "ends before ======="},
		{"ends inside REPLACE", "a.go\n<<<<<<< SEARCH\nold\n=======\nnew\n", nil, 2, "ends before >>>>>>> REPLACE"},
		{"no divider", "a.go\n<<<<<<< SEARCH\nold\n>>>>>>> REPLACE\n", nil, 2, "no ======="},
		{"REPLACE without SEARCH", "a.go\nold\n=======\nnew\n>>>>>>> REPLACE\n", nil, 5, "without a <<<<<<< SEARCH"},
		{"cut short, next block survives", "a.go\n<<<<<<< SEARCH\nold\n=======\nnew\nb.go\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n",
			[]string{"b.go"}, 2, "new <<<<<<< SEARCH starts at line 7"},
		{"second divider, next block survives", "a.go\n<<<<<<< SEARCH\nold\n=======\nnew\n=======\nnewer\n>>>>>>> REPLACE\nb.go\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n",
			[]string{"b.go"}, 2, "second ======="},
		{"no path", "Here is the change:\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n", nil, 2, "no file path"},
		{"code is not a path", "fmt.Println(x)\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n", nil, 2, "no file path"},
		{"path with spaces is not a path", "my file.go\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n", nil, 2, "no file path"},
		{"NEW FILE without a fence", "NEW FILE: a.go\npackage a\n", nil, 1, "not followed by a fenced code block"},
		{"NEW FILE unclosed", md("NEW FILE: a.go\n'''go\npackage a\n"), nil, 1, "not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Parse(tt.answer)
			var paths []string
			for _, e := range got {
				paths = append(paths, e.Path)
			}
			if !reflect.DeepEqual(paths, tt.wantPaths) {
				t.Errorf("edits for %v, want %v", paths, tt.wantPaths)
			}
			if len(errs) != 1 {
				t.Fatalf("got %d errors %v, want 1", len(errs), errs)
			}
			if errs[0].Line != tt.wantLine || !strings.Contains(errs[0].Reason, tt.wantIn) {
				t.Errorf("error %q at line %d, want one containing %q at line %d", errs[0].Reason, errs[0].Line, tt.wantIn, tt.wantLine)
			}
		})
	}
}

func TestParseLines(t *testing.T) {
	answer := md("intro\n\na.go\n'''go\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n'''\nNEW FILE: b.go\n'''go\npackage b\n'''\n")
	got, errs := Parse(answer)
	if len(errs) > 0 || len(got) != 2 {
		t.Fatalf("got %v, %v", got, errs)
	}
	if got[0].Line != 5 || got[1].Line != 11 { // the SEARCH marker and the NEW FILE header
		t.Errorf("lines %d and %d, want 5 and 11", got[0].Line, got[1].Line)
	}
}

// TestParseLinear guards against inputs that used to make the parser rescan the answer: headers
// piled up in an unclosed fence ahead of a SEARCH marker.
// TestParsePathological: 20,000 unterminated headers still parse to the one real
// block. (Its speed, linear in the answer, is measured by BenchmarkParsePathological;
// a quadratic parser took tens of seconds here.)
func TestParsePathological(t *testing.T) {
	edits, _ := Parse(pathological)
	if len(edits) != 1 || edits[0].Path != "a.go" {
		t.Errorf("edits %+v", edits)
	}
}

var pathological = strings.Repeat("NEW FILE: a.go\n```go\n", 20000) + "<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n"

func BenchmarkParsePathological(b *testing.B) {
	for range b.N {
		Parse(pathological)
	}
}

// TestInstructionsParse keeps the prompt text and the parser in agreement.
func TestInstructionsParse(t *testing.T) {
	got, errs := Parse(Instructions)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := []Edit{
		{Path: "path/to/file.go", Search: "\treturn a + b\n", Replace: "\treturn a - b\n", Line: 6},
		{Path: "path/to/new_file.go", Replace: "package example\n", NewFile: true, Line: 24},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}
