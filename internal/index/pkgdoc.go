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
// repeat them. So the doc's first paragraph counts as a field of every chunk in the
// package's directory, weighted pkgDocWeight, saturating apart like the path.
const (
	pkgDocWeight = 0.5
	pkgDocB      = 0.5
)

// packageDocs holds each directory's package doc (its first paragraph, as tokens),
// from the project's PackageDocChunks.
type packageDocs struct {
	dirs   []string
	files  []string // the file holding each directory's doc
	texts  []string // tokens separated by single spaces
	avgLen float64
}

func newPackageDocs(chunks []store.Chunk) *packageDocs {
	pd := &packageDocs{}
	seen := map[string]bool{}
	total := 0
	for _, c := range chunks {
		dir := path.Dir(c.Path)
		if seen[dir] || isTestPath(c.Path) {
			continue
		}
		para := docParagraph(c.Content)
		if para == "" {
			continue
		}
		seen[dir] = true
		toks := Tokens(para)
		total += len(toks)
		pd.dirs = append(pd.dirs, dir)
		pd.files = append(pd.files, c.Path)
		pd.texts = append(pd.texts, strings.Join(toks, " "))
	}
	pd.avgLen = max(float64(total)/float64(max(len(pd.dirs), 1)), 1)
	return pd
}

// docParagraph is the first paragraph of the comment content opens with: its text
// without comment markers, up to the first blank comment line or the first line that is
// not a comment.
func docParagraph(content string) string {
	var b strings.Builder
	inBlock := false
	for line := range strings.Lines(content) {
		l := strings.TrimSpace(line)
		switch {
		case inBlock:
			if i := strings.Index(l, "*/"); i >= 0 {
				l, inBlock = l[:i], false
			}
		case strings.HasPrefix(l, "//"):
			l = strings.TrimPrefix(l, "//")
		case strings.HasPrefix(l, "/*"):
			l, inBlock = strings.TrimPrefix(l, "/*"), true
			if i := strings.Index(l, "*/"); i >= 0 {
				l, inBlock = l[:i], false
			}
		default:
			return b.String()
		}
		l = strings.TrimSpace(l)
		if l == "" {
			if b.Len() > 0 {
				return b.String()
			}
			continue
		}
		b.WriteString(l)
		b.WriteByte(' ')
	}
	return b.String()
}

// pkgDocFiles is how many of the best matching packages lend their main files to the
// candidates.
const pkgDocFiles = 3

// scores returns, for each directory whose package doc holds a word of the query, the
// doc field's score of each word (to be added to the word scores of the chunks there),
// and the files of the pkgDocFiles best matching packages that hold their doc.
func (pd *packageDocs) scores(sc *scorer) (map[string][]float64, []string) {
	out := map[string][]float64{}
	type best struct {
		i     int
		score float64
	}
	var top []best
	for i, text := range pd.texts {
		ws := sc.fieldScores(text, pkgDocWeight, pkgDocB, pd.avgLen)
		if ws == nil {
			continue
		}
		out[pd.dirs[i]] = ws
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
		return cmp.Compare(pd.dirs[a.i], pd.dirs[b.i])
	})
	var files []string
	for _, b := range top[:min(pkgDocFiles, len(top))] {
		files = append(files, pd.files[b.i])
	}
	return out, files
}
