package index_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/store"
)

// rankingFixture is the fixture with a test file and an example that talk about hashing
// passwords more than the code that does it, and a short-named file.
func rankingFixture(t *testing.T) string {
	dir := copyFixture(t)
	write(t, dir, "auth/password_test.go", `package auth

// TestHashPassword checks that a hashed password verifies: hash the password, verify the
// password against the hash, and a wrong password against the hash.
func TestHashPassword(t *testing.T) {
	hash, _ := HashPassword("password", DefaultParams)
	if VerifyPassword("password", hash, DefaultParams) != nil { t.Fatal("hash password") }
}
`)
	write(t, dir, "examples/hash/main.go", `// Command hash shows how passwords are hashed: it hashes a password and prints the hash.
package main

func main() { fmt.Println(auth.HashPassword(os.Args[1], auth.DefaultParams)) }
`)
	write(t, dir, "mathx/nat.go", `package mathx

// Add returns the sum of two natural numbers held as little-endian words.
func Add(x, y []uint) []uint { return nil }
`)
	// An internal copy of it that says "natural numbers" once more: the public file
	// must still come first (kindInternalCopy).
	write(t, dir, "internal/mathx/nat.go", `package mathx

// Add returns the sum of two natural numbers held as little-endian words.
func Add(x, y []uint) []uint { return nil } // natural numbers
`)
	// A package whose doc holds the question's words and whose decoder never says
	// them: the decoder must come first (the package doc as a field of its chunks).
	write(t, dir, "imaging/doc.go", `// Package imaging reads and writes pictures in the portable network graphics format.
package imaging
`)
	write(t, dir, "imaging/reader.go", `package imaging

// Decode reads a picture from r.
func Decode(r io.Reader) (*Picture, error) { return nil, nil }

// Picture is a picture.
type Picture struct{ Pix []byte }
`)
	return dir
}

// rankingQueries are the questions TestRankingBothDialects asks, with the file that
// must come first (and, unless docChunk, the chunk of that file first in Search: the
// package doc's own chunk says the words the decoder's files are found by).
var rankingQueries = []struct {
	q, want  string
	docChunk bool
}{
	{"where are passwords hashed", "auth/password.go", false},
	{"tests for password hashing", "auth/password_test.go", false},
	{"arbitrary precision natural number arithmetic", "mathx/nat.go", false},
	{"rate limiting", "web/middleware/rateLimiter.ts", false},
	{"session expiry", "auth/session.go", false},
	{"register a route for an HTTP handler", "server/router.go", false},
	{"decode portable network graphics", "imaging/reader.go", true},
}

// Both dialects rank the same corpus the same way, to the score: the database only finds
// candidates and counts terms; BM25F, the priors, the package docs and the file
// aggregation are computed here. And tests and examples rank below the code they
// exercise unless asked about, an internal copy below the public file, and a package's
// doc speaks for its files.
func TestRankingBothDialects(t *testing.T) {
	repo := rankingFixture(t)
	rankings := map[string]string{}
	forEachDialect(t, func(t *testing.T, st store.Store) {
		p := newProject(t, st, repo)
		ix := newIndexer(t, st, index.Config{})
		_, err := ix.Index(t.Context(), p, nil)
		must(t, err)
		var b strings.Builder
		for _, tc := range rankingQueries {
			files, err := ix.SearchFiles(t.Context(), p.UserID, p.ID, tc.q, 5)
			must(t, err)
			chunks, err := ix.Search(t.Context(), p.UserID, p.ID, tc.q, 5)
			must(t, err)
			if len(files) == 0 || files[0].Path != tc.want {
				t.Errorf("%q: files %v, want %s first", tc.q, filePaths(files), tc.want)
			}
			if len(chunks) == 0 || chunks[0].Path != tc.want && !tc.docChunk {
				t.Errorf("%q: chunks start with %v, want %s", tc.q, chunks[:min(1, len(chunks))], tc.want)
			}
			fmt.Fprintf(&b, "%s\n", tc.q)
			for _, f := range files {
				fmt.Fprintf(&b, "  %.6f %s (%d chunks)\n", f.Score, f.Path, len(f.Chunks))
				if len(f.Chunks) == 0 || f.Chunks[0].Path != f.Path || f.Score <= 0 {
					t.Errorf("%q: file result %+v", tc.q, f)
				}
			}
			for _, c := range chunks {
				fmt.Fprintf(&b, "  %.6f %s:%d %s\n", c.Score, c.Path, c.StartLine, c.Symbol)
			}
		}
		rankings[t.Name()] = b.String()
	})
	sameOnBothDialects(t, rankings)
}

// sameOnBothDialects fails t when both dialects ran and wrote different rankings.
func sameOnBothDialects(t *testing.T, rankings map[string]string) {
	t.Helper()
	if len(rankings) == 2 {
		var r []string
		for _, v := range rankings {
			r = append(r, v)
		}
		if r[0] != r[1] {
			t.Errorf("the dialects rank differently:\n%s\n----\n%s", r[0], r[1])
		}
	}
}

func filePaths(fs []index.FileResult) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Path
	}
	return out
}

// SearchFiles is scoped to the user's project, like Search.
func TestSearchFilesIsTenantScoped(t *testing.T) {
	repo := gitFixture(t)
	forEachDialect(t, func(t *testing.T, st store.Store) {
		p := newProject(t, st, repo)
		ix := newIndexer(t, st, index.Config{})
		_, err := ix.Index(t.Context(), p, nil)
		must(t, err)
		other := newProject(t, st, repo)
		if _, err := ix.SearchFiles(t.Context(), other.UserID, p.ID, "password", 5); err == nil {
			t.Error("another user searched the project's files")
		}
		res, err := ix.SearchFiles(t.Context(), p.UserID, p.ID, "password session", 2)
		must(t, err)
		if len(res) != 2 || !slices.IsSortedFunc(res, func(a, b index.FileResult) int {
			return -cmpFloat(a.Score, b.Score)
		}) {
			t.Errorf("SearchFiles limit 2 = %v", filePaths(res))
		}
	})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Both dialects rank alike when more chunks hold the question's words than
// candidateDepth (150) but no more than allWordsDepth: every match is then a candidate
// and ranked here, where each database's own text rank would have kept a different 150
// of them. 300 chunks hold both words: 100 say the common one twelve times, 100 use the
// rarer one three times in code, 100 say it twice in their comment. BM25F (comments
// weigh 4) ranks the last first; the databases' ranks, which know no fields, would keep
// the first two hundred (ts_rank, without IDF) or some other 150 (bm25).
func TestRankingBothDialectsManyMatches(t *testing.T) {
	dir := manyFuncs(t, 600, func(i int) (string, int) {
		frob, doc, code := 1, 0, 0
		switch {
		case i < 100:
			frob, doc = 12, 1
		case i < 200:
			code = 3
		case i < 300:
			doc = 2
		}
		return strings.Repeat("frobnicating ", frob) + strings.Repeat("widgets ", doc), code
	})
	rankedAlike(t, dir, "frobnicating widgets", 50, "many/f2", "one that says widgets in its comment")
}

// manyFuncs writes n files many/f000.go… of one function each, whose doc comment and
// number of uses of widgetsN in code (0–3; otherN make up the rest) file(i) chooses,
// and returns their directory.
func manyFuncs(t *testing.T, n int, file func(i int) (comment string, code int)) string {
	dir := t.TempDir()
	for i := range n {
		comment, code := file(i)
		var b strings.Builder
		fmt.Fprintf(&b, "package many\n\n// F%d is about %s.\nfunc F%d() {\n", i, comment, i)
		for j := range code {
			fmt.Fprintf(&b, "\tuse(widgets%d)\n", j)
		}
		for j := range 3 - code {
			fmt.Fprintf(&b, "\tuse(other%d)\n", j)
		}
		b.WriteString("}\n")
		write(t, dir, fmt.Sprintf("many/f%03d.go", i), b.String())
	}
	return dir
}

// rankedAlike indexes dir on each dialect, asks SearchFiles for query's best n files,
// wants n of them with a path beginning firstPrefix first (which one, says what), and
// the same ranking, scores included, on both dialects.
func rankedAlike(t *testing.T, dir, query string, n int, firstPrefix, what string) {
	t.Helper()
	rankings := map[string]string{}
	forEachDialect(t, func(t *testing.T, st store.Store) {
		p := newProject(t, st, dir)
		ix := newIndexer(t, st, index.Config{})
		_, err := ix.Index(t.Context(), p, nil)
		must(t, err)
		files, err := ix.SearchFiles(t.Context(), p.UserID, p.ID, query, n)
		must(t, err)
		if len(files) != n || !strings.HasPrefix(files[0].Path, firstPrefix) {
			t.Fatalf("SearchFiles = %v, want %d files, %s first", filePaths(files), n, what)
		}
		var b strings.Builder
		for _, f := range files {
			fmt.Fprintf(&b, "%.6f %s\n", f.Score, f.Path)
		}
		rankings[t.Name()] = b.String()
	})
	sameOnBothDialects(t, rankings)
}

// Both dialects rank alike when the question's words are never found together and the
// chunks holding any of them are more than candidateDepth: the any-word candidates are
// then ranked here (summed IDF, then length and path, anyWordCandidates), where each
// database's own text rank would keep a different 150 of them (bm25 breaks its ties by
// row, ts_rank by random chunk id; it fails so without anyWordCandidates). 20 chunks
// say the rarer word, 300 the common one: 200 three times in code, 100 twice in their
// comment.
func TestRankingBothDialectsAnyWord(t *testing.T) {
	dir := manyFuncs(t, 400, func(i int) (string, int) {
		switch {
		case i < 20:
			return "frobnicating", 0
		case i < 220:
			return "", 3
		case i < 320:
			return "widgets widgets", 0
		}
		return "gadgets", 0
	})
	rankedAlike(t, dir, "frobnicating widgets", 100, "many/f0", "one that says the rarer word")
}

// A question one of whose words the answer does not say still finds it when the
// others are common: 12 chunks hold all three words, the answer two of them, which
// 2 101 chunks hold (more than the any-word budget, fewer than leaveOneOutBudget), so
// the query leaving the third out runs and finds it. Before, it was skipped, and only
// the 12 were candidates.
func TestSearchLeavesOutAWordOfCommonOnes(t *testing.T) {
	dir := t.TempDir()
	var common, gizmo strings.Builder
	common.WriteString("package many\n")
	for i := range 2100 {
		fmt.Fprintf(&common, "\n// C%d frobnicates widgets.\nfunc C%d() {}\n", i, i)
	}
	gizmo.WriteString("package many\n")
	for i := range 12 {
		fmt.Fprintf(&gizmo, "\n// G%d frobnicates widgets with a gizmo.\nfunc G%d() {}\n", i, i)
	}
	write(t, dir, "many/common.go", common.String())
	write(t, dir, "many/gizmo.go", gizmo.String())
	write(t, dir, "many/answer.go", `package many

// Answer frobnicates widgets: it frobnicates the widgets, frobnicating widget after widget.
func Answer() {}
`)
	forEachDialect(t, func(t *testing.T, st store.Store) {
		p := newProject(t, st, dir)
		ix := newIndexer(t, st, index.Config{})
		_, err := ix.Index(t.Context(), p, nil)
		must(t, err)
		files, err := ix.SearchFiles(t.Context(), p.UserID, p.ID, "frobnicate widgets gizmo", 10)
		must(t, err)
		if !slices.ContainsFunc(files, func(f index.FileResult) bool { return f.Path == "many/answer.go" }) {
			t.Errorf("SearchFiles = %v, want many/answer.go among them", filePaths(files))
		}
	})
}
