package storetest

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

// wantKeywordStats checks a project's keyword statistics against exact figures: both dialects
// must count alike for BM25 to rank alike.
func wantKeywordStats(t *testing.T, s store.Store, u *store.User, p *store.Project, chunks int64, lens [store.NumFields]int64, df map[string]int64) {
	t.Helper()
	terms := make([]string, 0, len(df))
	for k := range df {
		terms = append(terms, k)
	}
	got, err := s.KeywordStats(ctx(t), u.ID, p.ID, append(terms, "NEVER_SEEN"))
	must(t, err)
	gotDF := map[string]int64{}
	for k, v := range got.DocFreq {
		if v != 0 {
			gotDF[k] = v
		}
	}
	wantDF := map[string]int64{}
	for k, v := range df {
		if v != 0 {
			wantDF[k] = v
		}
	}
	if got.Chunks != chunks || got.FieldTokens != lens || !maps.Equal(gotDF, wantDF) {
		t.Errorf("KeywordStats = %d chunks, lengths %v, df %v; want %d, %v, %v", got.Chunks, got.FieldTokens, gotDF, chunks, lens, wantDF)
	}
}

func testChunksKeywordStats(t *testing.T, s store.Store) {
	u := newUser(t, s)
	p := newProject(t, s, u)
	wantKeywordStats(t, s, u, p, 0, [store.NumFields]int64{}, map[string]int64{"png": 0})
	// Search texts in fields: path | symbol | comments | code.
	files := []store.FileChunks{
		{Path: "png/reader.go", Hash: "r", Chunks: []store.Chunk{
			chunk("Decode", "func Decode()", "png reader read | decode decod | decodes a png image | func decode decod"),
			chunk("Reader", "type Reader", "png reader read | reader read | | type reader read"),
		}},
		{Path: "png/writer.go", Hash: "w", Chunks: []store.Chunk{
			chunk("Encode", "func Encode()", "png writer writ | encode encod | | func encode encod png"),
		}},
		// Written before fields: searched, not counted.
		{Path: "old.go", Hash: "o", Chunks: []store.Chunk{chunk("Old", "func Old()", "old png decode")}},
	}
	must(t, s.ReplaceFiles(ctx(t), u.ID, p.ID, files))
	wantKeywordStats(t, s, u, p, 3, [store.NumFields]int64{9, 6, 4, 10},
		map[string]int64{"png": 3, "decode": 1, "read": 2, "func": 2, "writ": 1, "old": 0, "image": 1, "decod": 1})
	hits, err := s.KeywordSearch(ctx(t), u.ID, p.ID, [][]string{{"png"}}, 10)
	must(t, err)
	if len(hits) != 4 {
		t.Errorf("png found in %d chunks, want 4 (the old one too)", len(hits))
	}

	// Replacing a file takes its old chunks out of the counts and puts the new ones in.
	must(t, s.ReplaceFiles(ctx(t), u.ID, p.ID, []store.FileChunks{{Path: "png/reader.go", Hash: "r2", Chunks: []store.Chunk{
		chunk("Decode", "func Decode()", "png reader read | decode decod | | func decode decod"),
	}}}))
	wantKeywordStats(t, s, u, p, 2, [store.NumFields]int64{6, 4, 0, 7},
		map[string]int64{"png": 2, "decode": 1, "read": 1, "image": 0, "func": 2, "writ": 1})
	// Deleting a file does too; the project's terms disappear with its last chunk.
	must(t, s.DeleteFiles(ctx(t), u.ID, p.ID, []string{"png/reader.go", "old.go"}))
	wantKeywordStats(t, s, u, p, 1, [store.NumFields]int64{3, 2, 0, 4}, map[string]int64{"png": 1, "decode": 0, "encode": 1})
	must(t, s.DeleteFiles(ctx(t), u.ID, p.ID, []string{"png/writer.go"}))
	wantKeywordStats(t, s, u, p, 0, [store.NumFields]int64{}, map[string]int64{"png": 0})

	// Statistics are per project and per user.
	p2 := newProject(t, s, u)
	must(t, s.ReplaceFiles(ctx(t), u.ID, p2.ID, files[:1]))
	wantKeywordStats(t, s, u, p, 0, [store.NumFields]int64{}, map[string]int64{"png": 0})
	other := newUser(t, s)
	got, err := s.KeywordStats(ctx(t), other.ID, p2.ID, []string{"png"})
	must(t, err)
	if got.Chunks != 0 || got.DocFreq["png"] != 0 {
		t.Errorf("another user reads the project's statistics: %+v", got)
	}
	// Deleting the project takes its statistics with it.
	must(t, s.DeleteProject(ctx(t), u.ID, p2.ID))
	wantKeywordStats(t, s, u, p2, 0, [store.NumFields]int64{}, map[string]int64{"png": 0})
}

// KeywordAll finds what KeywordSearch finds, unranked; KeywordMatches finds each term's
// chunks; both only in the user's project. ChunkOutlines lists every chunk of the
// project without its text.
func testKeywordAllMatchesAndOutlines(t *testing.T, s store.Store) {
	u, p, files := seedChunks(t, s)
	for _, tc := range []struct {
		groups [][]string
		limit  int
		want   []string
	}{
		{[][]string{{"password", "router"}}, 10, []string{"HashPassword", "NewRouter", "VerifyPassword"}},
		{[][]string{{"verify", "xyz"}, {"PASSWORD"}}, 10, []string{"VerifyPassword"}},
		{[][]string{{"router"}, {"password"}}, 10, nil},
		{[][]string{{`router" OR "x`, "NEAR(", "'", "*"}}, 10, nil},
		{nil, 10, nil},
	} {
		all, err := s.KeywordAll(ctx(t), u.ID, p.ID, tc.groups, tc.limit)
		must(t, err)
		var syms []string
		for _, c := range all {
			syms = append(syms, c.Symbol)
		}
		slices.Sort(syms)
		if !slices.Equal(syms, tc.want) {
			t.Errorf("KeywordAll(%q) = %v, want %v", tc.groups, syms, tc.want)
		}
	}
	if all, err := s.KeywordAll(ctx(t), u.ID, p.ID, [][]string{{"pw"}}, 1); err != nil || len(all) != 1 || all[0].Content == "" {
		t.Errorf("KeywordAll limit 1 = %v, %v", all, err)
	}
	got, err := s.KeywordMatches(ctx(t), u.ID, p.ID, []string{"password", "Router", "'", "nowhere"})
	must(t, err)
	ids := func(cs ...store.Chunk) []uuid.UUID {
		var out []uuid.UUID
		for _, c := range cs {
			out = append(out, c.ID)
		}
		slices.SortFunc(out, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		return out
	}
	for i := range got {
		slices.SortFunc(got[i], func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	}
	want := [][]uuid.UUID{ids(files[0].Chunks...), ids(files[1].Chunks...), nil, nil}
	if len(got) != len(want) {
		t.Fatalf("KeywordMatches = %v, want %v", got, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("KeywordMatches term %d = %v, want %v", i, got[i], want[i])
		}
	}
	other := newUser(t, s)
	if got, err := s.KeywordAll(ctx(t), other.ID, p.ID, [][]string{{"password"}}, 10); err != nil || len(got) != 0 {
		t.Errorf("another user's KeywordAll = %v, %v", got, err)
	}
	if got, err := s.KeywordMatches(ctx(t), other.ID, p.ID, []string{"password"}); err != nil || len(got) != 1 || len(got[0]) != 0 {
		t.Errorf("another user's KeywordMatches = %v, %v", got, err)
	}

	outlines, err := s.ChunkOutlines(ctx(t), u.ID, p.ID)
	must(t, err)
	slices.SortFunc(outlines, func(a, b store.ChunkOutline) int { return strings.Compare(a.Symbol, b.Symbol) })
	var wantOutlines []store.ChunkOutline
	for _, f := range files {
		for _, c := range f.Chunks {
			wantOutlines = append(wantOutlines, store.ChunkOutline{ID: c.ID, Path: c.Path, StartLine: c.StartLine, EndLine: c.EndLine, Symbol: c.Symbol})
		}
	}
	slices.SortFunc(wantOutlines, func(a, b store.ChunkOutline) int { return strings.Compare(a.Symbol, b.Symbol) })
	if !slices.Equal(outlines, wantOutlines) {
		t.Errorf("ChunkOutlines = %+v, want %+v", outlines, wantOutlines)
	}
	if got, err := s.ChunkOutlines(ctx(t), other.ID, p.ID); err != nil || len(got) != 0 {
		t.Errorf("another user's ChunkOutlines = %v, %v", got, err)
	}
}

func testChunksOfFiles(t *testing.T, s store.Store) {
	u, p, _ := seedChunks(t, s)
	got, err := s.ChunksOfFiles(ctx(t), u.ID, p.ID, []string{"http/router.go", "auth/password.go", "missing.go"})
	must(t, err)
	var names []string
	for _, c := range got {
		names = append(names, c.Path+"#"+c.Symbol)
	}
	if len(got) != 3 || got[0].Path != "auth/password.go" || got[2].Path != "http/router.go" || got[0].Content == "" {
		t.Errorf("ChunksOfFiles = %v, want password.go's two chunks then router.go's", names)
	}
	if got, err := s.ChunksOfFiles(ctx(t), u.ID, p.ID, nil); err != nil || len(got) != 0 {
		t.Errorf("ChunksOfFiles(nil) = %v, %v", got, err)
	}
	other := newUser(t, s)
	if got, err := s.ChunksOfFiles(ctx(t), other.ID, p.ID, []string{"http/router.go"}); err != nil || len(got) != 0 {
		t.Errorf("another user reads the project's chunks: %d, %v", len(got), err)
	}
}

func testPackageDocChunks(t *testing.T, s store.Store) {
	u, p, _ := seedChunks(t, s)
	must(t, s.ReplaceFiles(ctx(t), u.ID, p.ID, []store.FileChunks{
		{Path: "auth/doc.go", Hash: "d1", Chunks: []store.Chunk{
			chunk("package auth", "// Package auth hashes passwords.\npackage auth", "auth doc | auth | package auth hashes passwords |")}},
		{Path: "auth/block.go", Hash: "d2", Chunks: []store.Chunk{
			chunk("package auth", "/* Package auth, in a block. */\npackage auth", "auth block | auth | package auth in a block |")}},
		{Path: "http/vars.go", Hash: "d3", Chunks: []store.Chunk{
			chunk("package http", "package http\n\n// Max is a limit.\nvar Max = 1", "http vars | http | max is a limit | var max 1"),
			chunk("Limit", "// Limit limits.\nfunc Limit() {}", "http vars | limit | limit limits | func limit")}},
	}))
	got, err := s.PackageDocChunks(ctx(t), u.ID, p.ID)
	must(t, err)
	var names []string
	for _, c := range got {
		names = append(names, c.Path+"#"+c.Symbol)
	}
	if len(got) != 2 || got[0].Path != "auth/block.go" || got[1].Path != "auth/doc.go" || got[1].Content == "" {
		t.Errorf("PackageDocChunks = %v, want the package clauses with a doc comment: auth/block.go, auth/doc.go", names)
	}
	other := newUser(t, s)
	if got, err := s.PackageDocChunks(ctx(t), other.ID, p.ID); err != nil || len(got) != 0 {
		t.Errorf("another user reads the project's package docs: %d, %v", len(got), err)
	}
}
