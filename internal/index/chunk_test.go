package index

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"HashPassword", []string{"hashpassword", "hash", "password"}},
		{"user_id", []string{"user_id", "user", "id"}},
		{"HTTPServer2", []string{"httpserver2", "http", "server", "serv", "2"}},
		{"parseJSON(x)", []string{"parsejson", "parse", "pars", "json", "x"}},
		{"passwords hashed", []string{"passwords", "password", "hashed", "hash"}},
		{"rate limiting", []string{"rate", "limiting", "limit"}},
		{"a.b_c", []string{"a", "b_c", "b", "c"}},
	} {
		if got := Tokens(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Tokens(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := QueryTerms("where are the passwords hashed?"); !slices.Equal(got, []string{"passwords", "password", "hashed", "hash"}) {
		t.Errorf("QueryTerms = %v", got)
	}
	if got := Tokens("string red"); !slices.Equal(got, []string{"string", "red"}) {
		t.Errorf("stems without a vowel: %v", got)
	}
	if got := QueryTerms("how is it"); len(got) == 0 {
		t.Error("a query of stop words only has no terms")
	}
	if got := Tokens(strings.Repeat("x", 100) + " ok"); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("a very long word is kept: %v", got)
	}
}

func TestChunkGo(t *testing.T) {
	src := `// Package demo is a demo.
package demo

import "fmt"

// Limit is the default.
const Limit = 10

var table = map[string]int{"a": 1}

// Server serves.
type Server[T any] struct {
	n int
}

// Start starts the server.
func (s *Server[T]) Start() error {
	return nil
}

func helper() { fmt.Println() }

func long() {
` + strings.Repeat("\tfmt.Println()\n", 200) + `}
`
	pieces := ChunkFile("demo.go", "go", []byte(src))
	var syms []string
	for _, p := range pieces {
		syms = append(syms, fmt.Sprintf("%s:%d-%d", p.Symbol, p.StartLine, p.EndLine))
	}
	want := []string{"Server:11-14", "Server.Start:16-19", "helper:21-21", "long:23-82", "long:75-134", "long:127-186",
		"long:179-224", "package demo:1-9"}
	if !slices.Equal(syms, want) {
		t.Fatalf("pieces = %v\nwant     %v", syms, want)
	}
	if !strings.HasPrefix(pieces[0].Content, "// Server serves.\ntype Server[T any]") {
		t.Errorf("type chunk lacks its doc comment: %q", pieces[0].Content)
	}
	hdr := pieces[len(pieces)-1].Content
	for _, s := range []string{"package demo", `import "fmt"`, "const Limit = 10", "var table"} {
		if !strings.Contains(hdr, s) {
			t.Errorf("package chunk lacks %q: %q", s, hdr)
		}
	}
	// A file that does not parse falls back to the line splitter.
	if p := ChunkFile("bad.go", "go", []byte("package x\nfunc {")); len(p) != 1 {
		t.Errorf("unparsable Go: %+v", p)
	}
}

// A comment between declarations that documents none of them has a piece of its own
// when it has minLooseLines lines or more; a label does not, nor a declaration's doc.
func TestChunkGoLooseComments(t *testing.T) {
	src := `package sched

// This file implements the goroutine scheduler:
// it distributes ready goroutines
// over worker threads.

import "sync"

// Timing

// Run runs.
func Run() {}

// Worker parking.
// Keep enough threads running
// to use the hardware,
// park the others.

var mu sync.Mutex

func idle() {}

// A closing note after the last
// declaration introduces nothing:
// it has no piece.
`
	var got []string
	for _, p := range ChunkFile("sched/proc.go", "go", []byte(src)) {
		got = append(got, fmt.Sprintf("%q:%d-%d", p.Symbol, p.StartLine, p.EndLine))
	}
	want := []string{`"Run":11-12`, `"idle":21-21`, `"package sched":1-19`, `"":3-5`, `"":14-17`}
	if !slices.Equal(got, want) {
		t.Fatalf("pieces = %v\nwant     %v", got, want)
	}
}

func TestChunkLines(t *testing.T) {
	var b strings.Builder
	b.WriteString("import os\n\n")
	for i := range 6 {
		fmt.Fprintf(&b, "@decorator\ndef func_%d(x):\n", i)
		for range 15 {
			b.WriteString("    x = x + 1\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("class Big:\n")
	for range 300 {
		b.WriteString("    pass\n")
	}
	pieces := ChunkFile("m.py", "python", []byte(b.String()))
	var syms []string
	for _, p := range pieces {
		syms = append(syms, fmt.Sprintf("%s:%d-%d", p.Symbol, p.StartLine, p.EndLine))
		if p.EndLine-p.StartLine+1 > longUnit {
			t.Errorf("piece %s too long", syms[len(syms)-1])
		}
	}
	want := []string{"func_0:1-74", "func_4:75-110", "Big:111-170", "Big:163-222", "Big:215-274", "Big:267-326", "Big:319-378", "Big:371-411"}
	if !slices.Equal(syms, want) {
		t.Fatalf("pieces = %v\nwant     %v", syms, want)
	}
	if !strings.HasPrefix(pieces[1].Content, "@decorator\ndef func_4") {
		t.Errorf("decorator not kept with its function: %q", pieces[1].Content[:30])
	}

	// Brace languages: units end where a block closes at depth 0.
	ts := "export function a() {\n  return 1;\n}\n\nconst b = () => {\n  return 2;\n};\n"
	if p := ChunkFile("x.ts", "typescript", []byte(ts)); len(p) != 1 || p[0].Symbol != "a" || p[0].EndLine != 7 {
		t.Errorf("small TS file: %+v", p)
	}
	// No structure at all: overlapping windows.
	text := strings.Repeat("just words\n", 200)
	p := ChunkFile("notes.txt", "text", []byte(text))
	if len(p) < 3 || p[1].StartLine != p[0].EndLine-overlapLines+1 {
		t.Errorf("windows: %+v", p)
	}
	if Language("web/x.tsx") != "typescript" || Language("Makefile") != "make" || Language("a.unknown") != "" {
		t.Error("Language")
	}
}
