package index

import (
	"crypto/sha256"
	"encoding/hex"
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"regexp"
	"strings"
)

// Piece is one chunk of a file before it is stored.
type Piece struct {
	StartLine int // 1-based, inclusive
	EndLine   int
	Symbol    string
	Content   string
}

// Chunk sizes, in lines.
const (
	targetLines  = 60  // what the splitter aims at
	minLines     = 40  // below this it keeps adding units to a chunk
	maxLines     = 80  // above this it cuts, if it can
	longUnit     = 120 // a single unit (a function) longer than this is split
	windowLines  = 60
	overlapLines = 8
)

// languages maps a file extension (or a whole base name) to a language name.
var languages = map[string]string{
	".go": "go", ".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
	".ts": "typescript", ".tsx": "typescript", ".rs": "rust", ".java": "java", ".kt": "kotlin", ".kts": "kotlin",
	".scala": "scala", ".rb": "ruby", ".php": "php", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp",
	".hpp": "cpp", ".hh": "cpp", ".cs": "csharp", ".swift": "swift", ".m": "objc", ".mm": "objc", ".sh": "shell",
	".bash": "shell", ".zsh": "shell", ".ps1": "powershell", ".lua": "lua", ".pl": "perl", ".r": "r", ".dart": "dart",
	".ex": "elixir", ".exs": "elixir", ".erl": "erlang", ".hs": "haskell", ".ml": "ocaml", ".clj": "clojure",
	".sql": "sql", ".html": "html", ".htm": "html", ".css": "css", ".scss": "css", ".vue": "vue", ".svelte": "svelte",
	".md": "markdown", ".markdown": "markdown", ".rst": "rst", ".txt": "text", ".json": "json", ".yaml": "yaml",
	".yml": "yaml", ".toml": "toml", ".xml": "xml", ".proto": "protobuf", ".graphql": "graphql", ".tf": "terraform",
	".s": "asm", ".zig": "zig", ".nim": "nim", ".v": "v",
	"Makefile": "make", "Dockerfile": "dockerfile", "go.mod": "gomod",
}

// Language names the language of a file from its name ("" when unknown).
func Language(p string) string {
	base := path.Base(p)
	if l, ok := languages[base]; ok {
		return l
	}
	return languages[strings.ToLower(path.Ext(base))]
}

// ChunkFile splits a file into pieces: Go through its syntax tree, everything else by
// top-level definitions and line counts.
func ChunkFile(p, lang string, src []byte) []Piece {
	if lang == "go" {
		if pieces, ok := chunkGo(p, src); ok {
			return pieces
		}
	}
	return chunkLines(string(src), lang)
}

// hashString is the hex sha256 of s.
func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// indexFormat names how files are chunked and their search text made. It is part of
// every stored file hash (fileHash), so changing it makes the next index run of each
// project rewrite every file, once, as a migration forgetting the hashes would. Bump it
// when chunking or SearchText change what is stored. "2": a Go file's package doc
// comment always has its own chunk (search reads package docs from it). "3": so does
// each of its loose comments (looseComments).
const indexFormat = "3"

// fileHash is the hex sha256 of a file's content under the current indexFormat.
func fileHash(data []byte) string {
	h := sha256.New()
	h.Write([]byte("vibecoder index format " + indexFormat + "\n"))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// chunkGo makes one piece per function, method and type declaration (with its doc
// comment), and one for the package clause, imports and top-level vars and consts when
// there is more to it than a package line and a few imports, or a package doc comment.
func chunkGo(p string, src []byte) ([]Piece, bool) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, p, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, false
	}
	tf := fset.File(f.Pos())
	lines := splitLines(string(src))
	lineOf := func(pos token.Pos) int { return tf.Line(pos) }
	var out []Piece
	var header []lineRange
	header = append(header, lineRange{lineOf(f.Package), lineOf(f.Name.End())})
	if f.Doc != nil {
		header[0].start = lineOf(f.Doc.Pos())
	}
	// A comment above the package clause that is not its doc says what the file is for
	// ("// Garbage collector: marking and scanning"); it belongs to no declaration, so
	// the header keeps it (but not a licence header).
	fileDoc := fileComment(f)
	if fileDoc != nil {
		header[0].start = min(header[0].start, lineOf(fileDoc.Pos()))
	}
	hasDecls := false
	for _, d := range f.Decls {
		start := d.Pos()
		if doc := declDoc(d); doc != nil {
			start = doc.Pos()
		}
		switch d := d.(type) {
		case *ast.FuncDecl:
			out = append(out, unitPieces(lines, lineOf(start), lineOf(d.End()), funcSymbol(d))...)
		case *ast.GenDecl:
			r := lineRange{lineOf(start), lineOf(d.End())}
			if d.Tok == token.TYPE {
				out = append(out, unitPieces(lines, r.start, r.end, typeSymbol(d))...)
				continue
			}
			if d.Tok != token.IMPORT {
				hasDecls = true
			}
			header = append(header, r)
		}
	}
	headerLines := 0
	for _, r := range header {
		headerLines += r.end - r.start + 1
	}
	// A package's doc comment and a file's comment always have their piece: search
	// reads them from it (store.PackageDocChunks).
	if hasDecls || headerLines > 12 || len(out) == 0 || f.Doc != nil || fileDoc != nil {
		sym := "package " + f.Name.Name
		if headerLines > longUnit {
			// Big tables of vars: split each block like any long unit.
			for _, r := range header {
				out = append(out, unitPieces(lines, r.start, r.end, sym)...)
			}
		} else {
			var b strings.Builder
			for i, r := range header {
				if i > 0 {
					b.WriteString("\n")
				}
				b.WriteString(joinLines(lines, r.start, r.end))
			}
			out = append(out, Piece{StartLine: header[0].start, EndLine: header[len(header)-1].end, Symbol: sym, Content: b.String()})
		}
	}
	for _, g := range looseComments(f) {
		if s, e := lineOf(g.Pos()), lineOf(g.End()); e-s+1 >= minLooseLines {
			out = append(out, Piece{StartLine: s, EndLine: e, Content: joinLines(lines, s, e)})
		}
	}
	return out, true
}

type lineRange struct{ start, end int }

// A comment between top-level declarations that documents none of them is often a
// section's or a design's overview (runtime/proc.go's "Goroutine scheduler", what
// encoding/binary/varint.go implements, under its package clause), in the words a
// question uses, and no declaration's piece holds it: each such comment of at least
// minLooseLines lines has a piece of its own. Shorter ones are mostly labels
// ("Timing", "Testing.") or notes, whose few words alone in a piece would score as if
// the piece were about them.
const minLooseLines = 3

// looseComments are the comment groups after the package clause and before the last
// top-level declaration that are neither inside a declaration nor its doc.
func looseComments(f *ast.File) []*ast.CommentGroup {
	var out []*ast.CommentGroup
	di := 0
	for _, g := range f.Comments {
		if g.Pos() < f.Name.End() {
			continue
		}
		for di < len(f.Decls) && f.Decls[di].End() < g.Pos() {
			di++
		}
		if di == len(f.Decls) {
			break
		}
		if d := f.Decls[di]; d.Pos() > g.Pos() && g != declDoc(d) {
			out = append(out, g)
		}
	}
	return out
}

// declDoc is a declaration's doc comment (nil when none).
func declDoc(d ast.Decl) *ast.CommentGroup {
	switch d := d.(type) {
	case *ast.FuncDecl:
		return d.Doc
	case *ast.GenDecl:
		return d.Doc
	}
	return nil
}

// fileComment is the first comment group above the package clause that is neither the
// package's doc nor a licence or copyright header nor only directives (//go:build).
func fileComment(f *ast.File) *ast.CommentGroup {
	for _, g := range f.Comments {
		if g.Pos() >= f.Package {
			break
		}
		if g == f.Doc {
			continue
		}
		text := strings.ToLower(g.Text())
		if strings.TrimSpace(text) == "" || strings.Contains(text, "copyright") || strings.Contains(text, "license") {
			continue
		}
		return g
	}
	return nil
}

func funcSymbol(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	t := d.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
			continue
		case *ast.IndexExpr:
			t = x.X
			continue
		case *ast.IndexListExpr:
			t = x.X
			continue
		case *ast.ParenExpr:
			t = x.X
			continue
		}
		break
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + d.Name.Name
	}
	return d.Name.Name
}

func typeSymbol(d *ast.GenDecl) string {
	var names []string
	for _, s := range d.Specs {
		if ts, ok := s.(*ast.TypeSpec); ok {
			names = append(names, ts.Name.Name)
		}
	}
	return strings.Join(names, ", ")
}

// splitLines splits text into lines without their newline.
func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// joinLines returns lines start..end (1-based, inclusive).
func joinLines(lines []string, start, end int) string {
	start = max(start, 1)
	end = min(end, len(lines))
	if start > end {
		return ""
	}
	return strings.Join(lines[start-1:end], "\n")
}

// unitPieces returns one piece for a unit, or overlapping windows of a long one.
func unitPieces(lines []string, start, end int, symbol string) []Piece {
	if end-start+1 <= longUnit {
		return []Piece{{StartLine: start, EndLine: end, Symbol: symbol, Content: joinLines(lines, start, end)}}
	}
	var out []Piece
	for s := start; ; s += windowLines - overlapLines {
		e := min(s+windowLines-1, end)
		out = append(out, Piece{StartLine: s, EndLine: e, Symbol: symbol, Content: joinLines(lines, s, e)})
		if e == end {
			break
		}
	}
	return out
}

// defLine matches the start of a top-level definition in the common languages, and
// captures its name.
var defLine = regexp.MustCompile(`^(?:export\s+)?(?:default\s+)?(?:pub(?:\([a-z]+\))?\s+)?(?:public\s+|private\s+|protected\s+|internal\s+)?(?:static\s+)?(?:abstract\s+|final\s+|sealed\s+|data\s+|open\s+)?(?:async\s+)?(?:unsafe\s+)?` +
	`(?:def|class|function\*?|func|fn|impl(?:<[^>]*>)?|interface|trait|struct|enum|type|module|object|record|mod|macro_rules!|fun|sub|proc|let|const|var)\s+([A-Za-z_$][\w$]*)`)

// heading matches a Markdown heading, a boundary in prose.
var heading = regexp.MustCompile(`^#{1,6}\s+(\S.*)$`)

// chunkLines splits a non-Go file: it finds where top-level units begin (definition
// lines at column 0, Markdown headings, and lines after a brace block closed at depth 0),
// packs whole units into chunks of about minLines..maxLines lines, and cuts units longer
// than longUnit into overlapping windows. A file with no such structure is cut into
// overlapping windows.
func chunkLines(src, lang string) []Piece {
	lines := splitLines(src)
	if len(lines) == 0 {
		return nil
	}
	starts, symbols := definitionStarts(lines, lang)
	var units []lineUnit
	for i, s := range starts {
		e := len(lines)
		if i+1 < len(starts) {
			e = starts[i+1] - 1
		}
		units = append(units, lineUnit{s, e, symbols[s]})
	}
	return packUnits(lines, units)
}

// lineUnit is a run of lines that belong together (a definition and what is above it).
type lineUnit struct {
	start, end int // 1-based
	symbol     string
}

// definitionStarts finds where top-level definitions begin (with the decorators and
// comments directly above them), and the symbol each defines.
func definitionStarts(lines []string, lang string) ([]int, map[int]string) {
	starts := []int{1}
	symbols := map[int]string{}
	depth := 0
	prevClosed := false
	for i, l := range lines {
		n := i + 1
		trimmed := strings.TrimSpace(l)
		atTop := len(l) > 0 && l[0] != ' ' && l[0] != '\t'
		boundary := false
		if atTop && depth == 0 {
			if m := defLine.FindStringSubmatch(l); m != nil {
				boundary, symbols[n] = true, m[1]
			} else if lang == "markdown" {
				if m := heading.FindStringSubmatch(l); m != nil {
					boundary, symbols[n] = true, strings.TrimSpace(m[1])
				}
			} else if prevClosed && trimmed != "" && !strings.HasPrefix(trimmed, "}") {
				boundary = true
			}
		}
		// Decorators, annotations and comments directly above a definition belong to it.
		if boundary && n > 1 {
			s := n
			for s > 1 {
				p := strings.TrimSpace(lines[s-2])
				if p != "" && (strings.HasPrefix(p, "@") || strings.HasPrefix(p, "#[") || strings.HasPrefix(p, "//") ||
					strings.HasPrefix(p, "#") && lang != "markdown" || strings.HasPrefix(p, "/*") || strings.HasPrefix(p, "*") ||
					strings.HasPrefix(p, "///") || strings.HasPrefix(p, "--")) && s-1 > starts[len(starts)-1] {
					s--
					continue
				}
				break
			}
			if s > starts[len(starts)-1] {
				starts = append(starts, s)
				if sym, ok := symbols[n]; ok && s != n {
					symbols[s] = sym
				}
			}
		}
		if lang != "python" && lang != "markdown" && lang != "text" && lang != "yaml" {
			opens := strings.Count(l, "{")
			closes := strings.Count(l, "}")
			depth += opens - closes
			if depth < 0 {
				depth = 0
			}
			prevClosed = depth == 0 && closes > 0
		} else {
			prevClosed = false
		}
	}
	return starts, symbols
}

// packUnits packs units into pieces of about targetLines, splitting long ones, and
// drops pieces of nothing but blank lines.
func packUnits(lines []string, units []lineUnit) []Piece {
	var out []Piece
	cur := lineUnit{start: -1}
	flush := func() {
		if cur.start > 0 {
			out = append(out, Piece{StartLine: cur.start, EndLine: cur.end, Symbol: cur.symbol, Content: joinLines(lines, cur.start, cur.end)})
			cur = lineUnit{start: -1}
		}
	}
	for _, u := range units {
		size := u.end - u.start + 1
		if size > longUnit {
			flush()
			out = append(out, unitPieces(lines, u.start, u.end, u.symbol)...)
			continue
		}
		if cur.start > 0 && cur.end-cur.start+1 >= minLines && u.end-cur.start+1 > maxLines {
			flush()
		}
		if cur.start < 0 {
			cur = u
		} else {
			cur.end = u.end
			if cur.symbol == "" {
				cur.symbol = u.symbol
			}
		}
		if cur.end-cur.start+1 >= targetLines {
			flush()
		}
	}
	flush()
	// Drop chunks of nothing but blank lines.
	kept := out[:0]
	for _, p := range out {
		if strings.TrimSpace(p.Content) != "" {
			kept = append(kept, p)
		}
	}
	return kept
}
