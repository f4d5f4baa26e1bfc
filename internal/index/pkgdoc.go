package index

import (
	"cmp"
	"path"
	"slices"
	"strings"

	"github.com/vibecoder/vibecoder/internal/store"
)

// A package's doc comment says what the package is for in the words people ask with
// ("Package png implements a PNG image decoder and encoder"), and none of its files may
// repeat them; a comment above a file's package clause says what the file is for
// ("Garbage collector: marking and scanning"). So the first paragraph of a package's
// doc counts as a field of every chunk in the package's directory, and that of a file's
// comment as a field of every chunk of the file, each saturating apart like the path.
const (
	pkgDocWeight  = 0.5
	fileDocWeight = 0.5
	docFieldB     = 0.5
)

// docField is one of those texts: the directory or file it speaks for, and its tokens.
type docField struct {
	key  string // a directory (package docs) or a path (file comments)
	file string // the file holding the text
	text string // tokens separated by single spaces
}

// docFields is a set of doc fields with their average length.
type docFields struct {
	fields []docField
	avgLen float64
}

func (d *docFields) add(key, file, para string) {
	d.fields = append(d.fields, docField{key, file, strings.Join(Tokens(para), " ")})
}

func (d *docFields) finish() {
	total := 0
	for _, f := range d.fields {
		total += strings.Count(f.text, " ") + 1
	}
	d.avgLen = max(float64(total)/float64(max(len(d.fields), 1)), 1)
}

// packageDocs holds the package docs by directory and the file comments by path, from
// the project's PackageDocChunks.
type packageDocs struct {
	packages, files docFields
}

func newPackageDocs(chunks []store.Chunk) *packageDocs {
	pd := &packageDocs{}
	seen := map[string]bool{}
	for _, c := range chunks {
		if isTestPath(c.Path) {
			continue
		}
		file, pkg := headerDocs(c.Content)
		if dir := path.Dir(c.Path); pkg != "" && !seen[dir] {
			seen[dir] = true
			pd.packages.add(dir, c.Path, pkg)
		}
		if file != "" {
			pd.files.add(c.Path, c.Path, file)
		}
	}
	pd.packages.finish()
	pd.files.finish()
	return pd
}

// headerDocs reads the comments that open a file's header chunk: the group right above
// the package clause is the package's doc, an earlier one the file's comment (groups of
// directives only, like //go:build, are neither). It returns the first paragraph of each.
func headerDocs(content string) (file, pkg string) {
	var group []string // the current group's lines, comment markers removed
	inBlock := false
	end := func() {
		if para := firstParagraph(group); para != "" && file == "" {
			file = para
		}
		group = nil
	}
	for line := range strings.Lines(content) {
		l := strings.TrimSpace(line)
		switch {
		case inBlock:
			if i := strings.Index(l, "*/"); i >= 0 {
				l, inBlock = l[:i], false
			}
			group = append(group, l)
		case strings.HasPrefix(l, "//go:") || strings.HasPrefix(l, "// +build"):
		case strings.HasPrefix(l, "//"):
			group = append(group, strings.TrimPrefix(l, "//"))
		case strings.HasPrefix(l, "/*"):
			l, inBlock = strings.TrimPrefix(l, "/*"), true
			if i := strings.Index(l, "*/"); i >= 0 {
				l, inBlock = l[:i], false
			}
			group = append(group, l)
		case l == "":
			end()
		case strings.HasPrefix(l, "package "):
			return file, firstParagraph(group)
		default:
			return file, ""
		}
	}
	// A long doc is cut into pieces before its package clause: the first piece's
	// comment is that doc.
	return file, firstParagraph(group)
}

// firstParagraph joins lines up to the first blank one after some text.
func firstParagraph(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			if b.Len() > 0 {
				break
			}
			continue
		}
		b.WriteString(l)
		b.WriteByte(' ')
	}
	return b.String()
}

// docFiles is how many of the best matching package docs, and of the best matching file
// comments, lend their files to the candidates.
const docFiles = 2

// scores returns, for each directory whose package doc and each file whose comment holds
// a word of the query, the field's score of each word (added to the word scores of the
// chunks there), and the files of the best matching docs of each kind.
func (pd *packageDocs) scores(sc *scorer) (pkg, file map[string][]float64, files []string) {
	pkg, top := pd.packages.scores(sc, pkgDocWeight)
	files = append(files, top...)
	file, top = pd.files.scores(sc, fileDocWeight)
	return pkg, file, append(files, top...)
}

func (d *docFields) scores(sc *scorer, weight float64) (map[string][]float64, []string) {
	out := map[string][]float64{}
	type best struct {
		i     int
		score float64
	}
	var top []best
	for i, f := range d.fields {
		ws := sc.fieldScores(f.text, weight, docFieldB, d.avgLen)
		if ws == nil {
			continue
		}
		out[f.key] = ws
		sum := 0.0
		for _, x := range ws {
			sum += x
		}
		top = append(top, best{i, sum})
	}
	slices.SortFunc(top, func(a, b best) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(d.fields[a.i].key, d.fields[b.i].key)
	})
	var files []string
	for _, b := range top[:min(docFiles, len(top))] {
		files = append(files, d.fields[b.i].file)
	}
	return out, files
}
