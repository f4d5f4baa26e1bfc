package pipeline

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"math"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// The repository map: each source file's top-level declarations, and which
// declarations each file uses. The files and the names they share make a reference
// graph (a file that uses a name points at the files that declare it), ranked as Aider
// ranks its repository map: PageRank, personalised toward the files the task points at.

// srcFile is one source file of the workspace as the map sees it.
type srcFile struct {
	path  string
	size  int
	test  bool
	decls []decl
	// uses counts the identifiers the file mentions (its own declarations included).
	uses map[string]int
}

// decl is one top-level declaration: its name and the line the map shows for it.
type decl struct {
	name string
	line string
}

// maxDeclLine bounds one declaration's line in the map.
const maxDeclLine = 140

// parseSource reads a file's declarations and the identifiers it uses: Go through its
// syntax tree, other languages with a light regular expression.
func parseSource(path string, src []byte) *srcFile {
	f := &srcFile{path: path, size: len(src), test: isTestFile(path)}
	if strings.HasSuffix(path, ".go") {
		if decls, ok := goDecls(src); ok {
			f.decls = decls
		} else {
			f.decls = regexDecls(src)
		}
	} else {
		f.decls = regexDecls(src)
	}
	f.uses = map[string]int{}
	for _, id := range identRE.FindAll(src, -1) {
		f.uses[string(id)]++
	}
	return f
}

var identRE = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// goDecls lists a Go file's top-level declarations: functions and methods with their
// signatures, types with their kind, constants and variables by name.
func goDecls(src []byte) ([]decl, bool) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "", src, parser.SkipObjectResolution)
	if err != nil {
		return nil, false
	}
	var out []decl
	for _, d := range file.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			sig := *d
			sig.Body, sig.Doc = nil, nil
			out = append(out, decl{name: d.Name.Name, line: printNode(fset, &sig)})
		case *ast.GenDecl:
			out = append(out, genDecls(fset, d)...)
		}
	}
	return out, true
}

func genDecls(fset *token.FileSet, d *ast.GenDecl) []decl {
	var out []decl
	for _, s := range d.Specs {
		switch s := s.(type) {
		case *ast.TypeSpec:
			var kind string
			switch s.Type.(type) {
			case *ast.StructType:
				kind = "struct"
			case *ast.InterfaceType:
				kind = "interface"
			default:
				kind = printNode(fset, s.Type)
			}
			eq := " "
			if s.Assign.IsValid() {
				eq = " = "
			}
			out = append(out, decl{name: s.Name.Name, line: "type " + s.Name.Name + eq + kind})
		case *ast.ValueSpec:
			for _, n := range s.Names {
				if n.Name != "_" {
					out = append(out, decl{name: n.Name, line: d.Tok.String() + " " + n.Name})
				}
			}
		}
	}
	return out
}

// printNode prints a node on one line, bounded.
func printNode(fset *token.FileSet, n any) string {
	var b bytes.Buffer
	if err := printer.Fprint(&b, fset, n); err != nil {
		return ""
	}
	return oneLine(b.String())
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxDeclLine {
		s = strings.ToValidUTF8(s[:maxDeclLine], "") + "…"
	}
	return s
}

// declRE finds definitions in languages without a parser here: a keyword that
// introduces a definition, then its name, at the start of a line indented at most four
// columns (Python and Ruby methods are indented once); a constant or variable only at
// the start of the line (indented, it is a local of a function).
var declRE = regexp.MustCompile(`(?m)^[ \t]{0,4}(?:export[ \t]+)?(?:default[ \t]+)?(?:pub(?:\([a-z]+\))?[ \t]+)?(?:public[ \t]+|private[ \t]+|protected[ \t]+|static[ \t]+|abstract[ \t]+|final[ \t]+|async[ \t]+)*` +
	`(def|class|function|fn|func|struct|enum|trait|interface|type|impl|module|mod|const|let|var|object|record)[ \t]+\*?([A-Za-z_$][A-Za-z0-9_$]*)`)

func regexDecls(src []byte) []decl {
	var out []decl
	for _, m := range declRE.FindAllSubmatchIndex(src, -1) {
		switch string(src[m[2]:m[3]]) {
		case "const", "let", "var":
			if c := src[m[0]]; c == ' ' || c == '\t' {
				continue
			}
		}
		end := bytes.IndexByte(src[m[0]:], '\n')
		if end < 0 {
			end = len(src) - m[0]
		}
		out = append(out, decl{name: string(src[m[4]:m[5]]), line: oneLine(string(src[m[0] : m[0]+end]))})
	}
	return out
}

// isTestFile reports the usual test file names.
func isTestFile(path string) bool {
	base := path[strings.LastIndexByte(path, '/')+1:]
	switch {
	case strings.HasSuffix(base, "_test.go"), strings.HasPrefix(base, "test_") && strings.HasSuffix(base, ".py"),
		strings.HasSuffix(base, "_test.py"), strings.Contains(base, ".test."), strings.Contains(base, ".spec."),
		strings.HasSuffix(base, "Test.java"), strings.HasSuffix(base, "_spec.rb"):
		return true
	}
	return strings.Contains("/"+path, "/testdata/")
}

// refGraph is the reference graph of a set of files.
type refGraph struct {
	// definers lists, per name, the files that declare it.
	definers map[string][]int
	// out holds each file's weighted edges to the files whose names it uses.
	out [][]edge
}

type edge struct {
	to int
	w  float64
}

// buildGraph links each file to the files declaring the names it uses. A name's weight
// follows Aider's: a long or mixed-case name says more than a short one, a name many
// files declare ("New", "String") says little, and repeated uses count by their
// square root.
func buildGraph(files []*srcFile) *refGraph {
	g := &refGraph{definers: map[string][]int{}, out: make([][]edge, len(files))}
	for i, f := range files {
		seen := map[string]bool{}
		for _, d := range f.decls {
			if !seen[d.name] {
				seen[d.name] = true
				g.definers[d.name] = append(g.definers[d.name], i)
			}
		}
	}
	for i, f := range files {
		acc := map[int]float64{}
		for name, n := range f.uses {
			defs := g.definers[name]
			if len(defs) == 0 || len(defs) > 20 {
				continue
			}
			w := nameWeight(name) * math.Sqrt(float64(n)) / float64(len(defs))
			for _, j := range defs {
				if j != i {
					acc[j] += w
				}
			}
		}
		for j, w := range acc {
			g.out[i] = append(g.out[i], edge{to: j, w: w})
		}
		sort.Slice(g.out[i], func(a, b int) bool { return g.out[i][a].to < g.out[i][b].to })
	}
	return g
}

// nameWeight is how much a use of a name says about the file declaring it.
func nameWeight(name string) float64 {
	w := 1.0
	if len(name) >= 8 && (hasInnerUpper(name) || strings.Contains(name, "_")) {
		w *= 4
	}
	if len(name) <= 3 {
		w *= 0.2
	}
	return w
}

func hasInnerUpper(s string) bool {
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) {
			return true
		}
	}
	return false
}

// pageRank ranks the graph's files, the random jumps going to personal (when it has
// any weight; everywhere alike otherwise). Ranks sum to 1.
func (g *refGraph) pageRank(personal []float64) []float64 {
	n := len(g.out)
	if n == 0 {
		return nil
	}
	jump := make([]float64, n)
	total := 0.0
	for _, v := range personal {
		total += v
	}
	for i := range jump {
		if total > 0 {
			jump[i] = personal[i] / total
		} else {
			jump[i] = 1 / float64(n)
		}
	}
	const damping = 0.85
	rank := append([]float64(nil), jump...)
	next := make([]float64, n)
	for range 30 {
		dangling := 0.0
		clear(next)
		for i, es := range g.out {
			sum := 0.0
			for _, e := range es {
				sum += e.w
			}
			if sum == 0 {
				dangling += rank[i]
				continue
			}
			for _, e := range es {
				next[e.to] += damping * rank[i] * e.w / sum
			}
		}
		for i := range next {
			next[i] += (1 - damping + damping*dangling) * jump[i]
		}
		rank, next = next, rank
	}
	return rank
}
