package index

import (
	"slices"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Identifiers are split at case changes, underscores and digits, and words meet their
// inflections through a light stem.
func TestTokenizerSplitsAndStems(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // tokens that must be present
	}{
		{"parseMultipartForm", []string{"parsemultipartform", "parse", "pars", "multipart", "form"}},
		{"read_all_bytes", []string{"read_all_bytes", "read", "all", "bytes", "byte"}},
		{"base64Encode", []string{"base64encode", "base", "64", "encode", "encod"}},
		{"HTTPHandler", []string{"httphandler", "http", "handler", "handl"}},
		{"sha256", []string{"sha256", "sha", "256"}},
	} {
		got := Tokens(tc.in)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("Tokens(%q) = %v, lacks %q", tc.in, got, w)
			}
		}
	}
	// parse, parser, parsing, parses and parsed share one stem.
	for _, w := range []string{"parse", "parser", "parsing", "parses", "parsed"} {
		if s := stem(w); s != "pars" {
			t.Errorf("stem(%q) = %q, want pars", w, s)
		}
	}
	// A consonant's y and the plural ies meet (Porter's y → i).
	for _, group := range [][]string{{"copy", "copies", "copying", "copied"}, {"cookie", "cookies"}, {"entry", "entries"}} {
		for _, w := range group[1:] {
			if stem(w) != stem(group[0]) {
				t.Errorf("stem(%q) = %q, stem(%q) = %q: want one stem", w, stem(w), group[0], stem(group[0]))
			}
		}
	}
	// British spellings meet the American ones code uses.
	for w, want := range map[string]string{"serialisation": "serialization", "marshalling": "marshaling", "cancelled": "canceled",
		"called": "called", "filled": "filled", "string": "string"} {
		if got := usSpelling(w); got != want {
			t.Errorf("usSpelling(%q) = %q, want %q", w, got, want)
		}
	}
	if q := parseQuery("marshalling"); len(q.words) != 1 || !slices.Contains(q.words[0].keys, "marshal") {
		t.Errorf("parseQuery(marshalling) = %+v, want the key marshal too", q.words)
	}
	// A plural meets its singular's abbreviations.
	for w, abbr := range map[string]string{"executables": "exec", "channels": "chan", "commands": "cmd"} {
		if q := parseQuery(w); len(q.words) != 1 || !slices.Contains(q.words[0].keys, abbr) {
			t.Errorf("parseQuery(%s) = %+v, want the key %s", w, q.words, abbr)
		}
	}
	// A phrase's abbreviation is a key of each of its words, at the abbreviations' weight;
	// the same words apart are not abbreviated.
	q := parseQuery("square root and power of a reader writer lock")
	for _, tc := range []struct{ word, abbr string }{{"squar", "sqrt"}, {"root", "sqrt"}, {"power", "pow"}, {"reader", "rw"}, {"writer", "rw"}} {
		i := slices.IndexFunc(q.words, func(w queryWord) bool { return w.keys[0] == stem(tc.word) })
		if i < 0 {
			t.Fatalf("parseQuery: no word %s in %+v", tc.word, q.words)
		}
		if j := slices.Index(q.words[i].keys, tc.abbr); j < 0 || q.words[i].weights[j] != abbrevWeight {
			t.Errorf("parseQuery: word %s = %+v, want the key %s at weight %v", tc.word, q.words[i], tc.abbr, abbrevWeight)
		}
	}
	// Code says os where people say "operating system" (os/signal, os.Getenv).
	q = parseQuery("catch operating system signals")
	for _, w := range []string{"operating", "system"} {
		i := slices.IndexFunc(q.words, func(qw queryWord) bool { return qw.keys[0] == stem(w) })
		if i < 0 || !slices.Contains(q.words[i].keys, "os") {
			t.Errorf("parseQuery(catch operating system signals) = %+v: want the key os for %s", q.words, w)
		}
	}
	if q := parseQuery("the root of a square"); slices.Contains(q.keys(), "sqrt") {
		t.Errorf("parseQuery(the root of a square) = %v: not the phrase, no sqrt", q.keys())
	}
	for _, w := range []string{"string", "status", "class", "red"} {
		if s := stem(w); s != w && !(w == "string" && s == "string") {
			t.Errorf("stem(%q) = %q: a word that is no inflection changed", w, s)
		}
	}
}

// The search text has the store's four fields: the path (its name twice) and the
// symbol, both twice, then comment lines, then code lines.
func TestSearchTextFields(t *testing.T) {
	text := SearchText("Reader.Read", "image/png/reader.go", "// Read decodes a PNG image.\nfunc (r *Reader) Read() {\n\treturn // done\n}\n")
	fields := strings.Split(text, " "+store.SearchFieldSep)
	if len(fields) != store.NumFields {
		t.Fatalf("search text %q has %d fields", text, len(fields))
	}
	terms, lens, ok := store.SearchTextStats(text)
	if !ok || len(terms) == 0 {
		t.Fatalf("SearchTextStats(%q) not ok", text)
	}
	field := func(f int) []string { return strings.Fields(fields[f]) }
	count := func(ts []string, w string) (n int) {
		for _, t := range ts {
			if t == w {
				n++
			}
		}
		return n
	}
	if got := field(store.FieldPath); count(got, "reader") != 4 || count(got, "png") != 2 || slices.Contains(got, "go") {
		t.Errorf("path field = %v: want the directories twice, the name (no extension) four times", got)
	}
	if got := field(store.FieldSymbol); !slices.Contains(got, "reader") || !slices.Contains(got, "read") || len(got)%2 != 0 {
		t.Errorf("symbol field = %v", got)
	}
	if got := field(store.FieldDoc); !slices.Contains(got, "decodes") || !slices.Contains(got, "png") || slices.Contains(got, "func") {
		t.Errorf("doc field = %v", got)
	}
	if got := field(store.FieldBody); !slices.Contains(got, "func") || slices.Contains(got, "decodes") {
		t.Errorf("body field = %v", got)
	}
	if lens[store.FieldPath] != int64(len(field(store.FieldPath))) || lens[store.FieldBody] != int64(len(field(store.FieldBody))) {
		t.Errorf("field lengths = %v", lens)
	}
	// A block comment is documentation; the code after it is not.
	text = SearchText("", "a.c", "/* Compute\n   checksums. */\nint crc(void);\n")
	fields = strings.Split(text, " "+store.SearchFieldSep)
	if !strings.Contains(fields[store.FieldDoc], "checksums") || strings.Contains(fields[store.FieldDoc], "crc") ||
		!strings.Contains(fields[store.FieldBody], "crc") {
		t.Errorf("block comment fields = %q", fields)
	}
	// '#' is a comment in Python, not in C.
	if f := strings.Split(SearchText("", "x.py", "# loads config\n"), " "+store.SearchFieldSep); !strings.Contains(f[store.FieldDoc], "loads") {
		t.Errorf("python comment not doc: %q", f)
	}
	if f := strings.Split(SearchText("", "x.c", "#include <stdio.h>\n"), " "+store.SearchFieldSep); !strings.Contains(f[store.FieldBody], "include") {
		t.Errorf("C preprocessor line not code: %q", f)
	}
}

func TestParseQuery(t *testing.T) {
	q := parseQuery("How do I run an external command with HashPassword?")
	var keys [][]string
	for _, w := range q.words {
		keys = append(keys, w.keys)
	}
	want := [][]string{{"run"}, {"external"}, {"command", "cmd"}, {"hashpassword"}, {"hash"}, {"password", "passwd", "pwd"}}
	if len(keys) != len(want) {
		t.Fatalf("words = %v, want %v", keys, want)
	}
	for i := range want {
		if !slices.Equal(keys[i], want[i]) {
			t.Errorf("word %d = %v, want %v", i, keys[i], want[i])
		}
	}
	if q.words[2].weights[1] != abbrevWeight || q.aboutTests {
		t.Errorf("query = %+v", q)
	}
	if !parseQuery("tests for the parser").aboutTests || !parseQuery("example of decoding").aboutTests {
		t.Error("a question about tests or examples is not seen as one")
	}
	if len(parseQuery("how is it").words) == 0 {
		t.Error("a query of stop words only has no words")
	}
}

// statsOf counts texts as the store does.
func statsOf(texts ...string) store.KeywordStats {
	d := store.TermDeltas{}
	for _, t := range texts {
		d.Add(t, 1)
	}
	counts := map[string]int64{}
	for k, v := range d {
		counts[k] = v
	}
	return store.KeywordStatsFrom(counts)
}

// The fields weigh differently: a word in the file's path or in a comment counts more
// than the same word in code, a rare word more than a common one, and a test file less
// than the code it tests.
func TestFieldWeights(t *testing.T) {
	inPath := SearchText("Decode", "image/png/reader.go", "func Decode(r io.Reader) (image.Image, error) {\n\treturn nil, nil\n}")
	inBody := SearchText("Decode", "image/jpeg/reader.go", "func Decode(r io.Reader) (image.Image, error) {\n\tpng := 0\n\treturn nil, nil\n}")
	inDoc := SearchText("Decode", "image/gif/reader.go", "// Decode reads a png-like image.\nfunc Decode(r io.Reader) (image.Image, error) {\n\treturn nil, nil\n}")
	other := SearchText("Encode", "image/bmp/writer.go", "func Encode(w io.Writer, m image.Image) error {\n\treturn nil\n}")
	q := parseQuery("decode a png image")
	sc := newScorer(q, statsOf(inPath, inBody, inDoc, other, other, other))
	p, b, d := sc.score(inPath), sc.score(inBody), sc.score(inDoc)
	if !(p > d && d > b && b > 0) {
		t.Errorf("scores: path %.3f, doc %.3f, body %.3f: want path > doc > body > 0", p, d, b)
	}
	if sc.score(other) >= b {
		t.Errorf("a chunk without the rare word scores %.3f ≥ %.3f", sc.score(other), b)
	}
	// Each word counts once however many of its keys match, the best key deciding.
	words := sc.wordScores(inPath)
	if len(words) != 3 || words[1] == 0 {
		t.Errorf("word scores = %v", words)
	}
	// A text without fields (written before them) is scored as all body.
	if x := sc.score("decode png image"); x <= 0 {
		t.Errorf("a text without fields scores %.3f", x)
	}
	for _, tc := range []struct {
		path  string
		tests bool
		want  float64
	}{
		{"image/png/reader.go", false, 1},
		{"image/png/reader_test.go", false, testPrior},
		{"image/png/reader_test.go", true, 1},
		{"image/png/example_test.go", false, testPrior},
		{"image/png/testdata/x.go", false, testPrior},
		{"go/doc/testdata/benchmark.go", true, testPrior}, // a test's input, even for a question about tests
		{"web/__tests__/app.ts", false, testPrior},
		{"tests/test_loader.py", false, testPrior},
		{"examples/hello/main.go", false, testPrior},
		{"html/template/doc.go", false, docPrior},
		{"html/template/error.go", false, errorFilePrior},
		{"go/scanner/errors.go", false, errorFilePrior},
		{"go/scanner/errors_test.go", false, testPrior},
		{"os/user/lookup_error.go", false, 1},
		{"testing/testing.go", false, 1},
		{"internal/testutil/postgres.go", false, internalPrior}, // no test by its name; internal
		{"os/user/lookup_windows.go", false, variantPrior},
		{"time/zoneinfo_unix.go", false, variantPrior},
		{"math/big/arith_amd64.go", false, variantPrior},
		{"os/root_noopenat.go", false, 1},
		{"os/user/lookup.go", false, 1},
		{"os/signal/signal_unix_test.go", false, testPrior},
	} {
		if got := pathPrior(tc.path, tc.tests, 0); got != tc.want {
			t.Errorf("pathPrior(%q, %v) = %v, want %v", tc.path, tc.tests, got, tc.want)
		}
	}
}

// A file name written together from the question's words ("formdata") matches them in
// the path field; a name that only begins with one of them ("lookup" for look) does not,
// nor does a key of fewer than minCompound letters.
func TestCompoundPathNames(t *testing.T) {
	body := "func f() {\n\treturn\n}"
	joined := SearchText("", "mime/multipart/formdata.go", body)
	other := SearchText("", "mime/multipart/writer.go", body)
	q := parseQuery("parse form data")
	sc := newScorer(q, statsOf(joined, other, other, other))
	words := sc.wordScores(joined)
	if words[1] == 0 || words[2] == 0 {
		t.Errorf("formdata.go's word scores %v: want form and data matched", words)
	}
	if x := sc.score(other); x != 0 {
		t.Errorf("writer.go scores %.3f, want 0", x)
	}
	for _, tc := range []struct{ query, path string }{
		{"look at the user", "os/user/lookup.go"},        // up is not in the question
		{"form the data", "mime/multipart/formdata2.go"}, // 2 is not a key
		{"ip on the net", "net/netip/iptables.go"},       // not the whole name
		{"ip on the net", "net/netip/ipnet.go"},          // ip has two letters
	} {
		text := SearchText("", tc.path, body)
		sc := newScorer(parseQuery(tc.query), statsOf(text, other, other))
		if got := sc.compoundSlots(fileStem(tc.path)); got != nil {
			t.Errorf("%q: %s matched as a compound of keys %v", tc.query, tc.path, got)
		}
	}
	sc = newScorer(parseQuery("start a local http server for tests"), statsOf(other))
	if got := sc.compoundSlots("httptest"); len(got) != 2 {
		t.Errorf("httptest: slots %v, want http's and test's", got)
	}
	// A name of one repeated letter, against keys that split it in many ways, is
	// decided at once (a search that tried every split would not return).
	sc = newScorer(parseQuery("aaa aaaa aaaaa"), statsOf(other))
	if got := sc.compoundSlots(strings.Repeat("a", 300) + "b"); got != nil {
		t.Errorf("a...ab: slots %v, want none", got)
	}
	if got := sc.compoundSlots(strings.Repeat("a", 300)); len(got) < 60 {
		t.Errorf("a...a: %d slots, want a cover", len(got))
	}
}

// A query's candidate paths, found through the paths' token lists, are exactly the
// paths whose text scores: those holding a key or a compound of keys.
func TestPathSetMatchesWhatScores(t *testing.T) {
	ps := &pathSet{paths: []string{"mime/multipart/formdata.go", "mime/multipart/multipart.go", "net/http/httptest/server.go",
		"net/http/server.go", "os/tempfile.go", "os/file.go", "os/user/lookup.go", "image/png/reader.go", "go/parser/parser.go",
		"internal/abc/aaaaaaaaa.go"}}
	var texts []string
	for _, p := range ps.paths {
		ps.texts = append(ps.texts, SearchText("", p, ""))
		texts = append(texts, SearchText("", p, ""))
	}
	ps.indexTokens()
	for _, q := range []string{"parse multipart form data", "form data", "start a local http server for tests", "create temporary files",
		"look up the user", "decode a png image", "parsing go source", "aaa", "nothing here at all"} {
		sc := newScorer(parseQuery(q), statsOf(texts...))
		var want []int32
		for i, text := range ps.texts {
			if sc.score(text) > 0 {
				want = append(want, int32(i))
			}
		}
		if got := ps.matching(sc); !slices.Equal(got, want) {
			t.Errorf("%q: matching paths %v, want %v (those that score)", q, got, want)
		}
	}
}
