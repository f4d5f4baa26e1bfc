package index

import (
	"math"
	"path"
	"slices"
	"strings"

	"github.com/vibecoder/vibecoder/internal/store"
)

// The ranking is BM25F (Robertson, Zaragoza and Taylor 2004) over the search text's
// fields, computed here in Go from the store's per-project statistics, so that both
// dialects rank alike: the database only finds the candidates.
const (
	bm25K1 = 1.2
	// abbrevWeight is what a match on a query word's abbreviation counts ("cmd" for
	// "command"), against 1 for the word itself.
	abbrevWeight = 0.8
)

// fieldWeight and fieldB are each field's weight and length normalisation. Comments say
// what code is for in the words people ask with, so they weigh most within the text.
//
// The path and the symbol saturate apart from the text (separateField): BM25F caps a
// word's contribution however many fields hold it, so a word said often in a body
// would otherwise leave nothing for the file or function that is named after it.
var (
	fieldWeight   = [store.NumFields]float64{store.FieldPath: 1.2, store.FieldSymbol: 0.5, store.FieldDoc: 4, store.FieldBody: 1}
	fieldB        = [store.NumFields]float64{store.FieldPath: 0.3, store.FieldSymbol: 0.5, store.FieldDoc: 0.75, store.FieldBody: 0.75}
	separateField = [store.NumFields]bool{store.FieldPath: true, store.FieldSymbol: true}
)

// queryWord is one word of a query: the keys that stand for it in a search text (its
// stem first, then abbreviations), with what a match on each counts.
type queryWord struct {
	keys    []string
	weights []float64
}

// query is a parsed search query.
type query struct {
	words []queryWord
	// aboutTests is set when the query asks about tests or examples: they are then not
	// ranked down.
	aboutTests bool
}

// parseQuery splits a query into words without stop words; an identifier's parts are
// words of their own after the whole ("HashPassword" → hashpassword, hash, password).
func parseQuery(q string) query {
	var out query
	seen := map[string]bool{}
	phrases := phraseAbbreviationsIn(q)
	add := func(w string) {
		w = strings.ToLower(w)
		if strings.Trim(w, "_") == "" || stopWords[w] {
			return
		}
		if testWords[w] {
			out.aboutTests = true
		}
		key := stem(w)
		if seen[key] {
			return
		}
		seen[key] = true
		qw := queryWord{keys: []string{key}, weights: []float64{1}}
		if us := stem(usSpelling(w)); us != key && !seen[us] {
			qw.keys = append(qw.keys, us)
			qw.weights = append(qw.weights, 1)
		}
		for _, a := range append(abbreviationsOf(w), phrases[w]...) {
			if !seen[a] && !slices.Contains(qw.keys, a) {
				qw.keys = append(qw.keys, a)
				qw.weights = append(qw.weights, abbrevWeight)
			}
		}
		out.words = append(out.words, qw)
	}
	forEachWord(q, func(w string) {
		add(w)
		if parts := splitIdent(w); len(parts) > 1 {
			for _, p := range parts {
				add(p)
			}
		}
	})
	if len(out.words) == 0 { // a query of stop words only ("how is it") still searches
		for _, t := range Tokens(q) {
			if !seen[t] {
				seen[t] = true
				out.words = append(out.words, queryWord{keys: []string{t}, weights: []float64{1}})
			}
		}
	}
	return out
}

// keys are every key of the query.
func (q query) keys() []string {
	var out []string
	for _, w := range q.words {
		out = append(out, w.keys...)
	}
	return out
}

// wordOf returns the index of the query's word that key stands for and the weight of a
// match on it (the first word holding it; 0 and 1 for a key of none).
func (q query) wordOf(key string) (int, float64) {
	for i, w := range q.words {
		if j := slices.Index(w.keys, key); j >= 0 {
			return i, w.weights[j]
		}
	}
	return 0, 1
}

// groups are the query's words as the store's keyword groups: a chunk matches a group
// when it holds any of the word's keys.
func (q query) groups() [][]string {
	out := make([][]string, len(q.words))
	for i, w := range q.words {
		out[i] = w.keys
	}
	return out
}

// scorer scores search texts against a query with BM25F. It keeps its counts between
// calls, so one goroutine uses it (a search makes its own).
type scorer struct {
	q      query
	avgLen [store.NumFields]float64
	slot   map[string]int // key → index into the per-text counts
	keys   []string       // the keys of slot, in the query's order
	// slotIDF is each slot's key's IDF; wordSlots[i] the slots of the i-th word's keys.
	slotIDF   []float64
	wordSlots [][]int
	tf        [][store.NumFields]float64 // count's counts, per slot and field
	// joined caches, for a path token that is no key, the slots of the keys it is
	// written together from (compoundSlots); heads are the first minCompound bytes of
	// the keys that can begin one, which rule out most tokens without a map lookup.
	joined map[string][]int
	heads  []uint32
	// maybe has a bit set for every key's tokenSig: a token whose bit is clear is no
	// key, known without hashing it into slot (most tokens of a text are none).
	maybe [1 << 16 / 64]uint64
}

// tokenSig is a 16-bit signature of a token from its length and first and last bytes.
func tokenSig(t string) uint32 {
	x := uint32(t[0]) | uint32(t[len(t)-1])<<8 | uint32(len(t))<<16
	return (x * 2654435761) >> 16
}

// idf is key's IDF (0 for a key of no word of the query).
func (s *scorer) idf(key string) float64 {
	if i, ok := s.slot[key]; ok {
		return s.slotIDF[i]
	}
	return 0
}

// mayBeKey reports whether t can be a key of the query (false: it is none).
func (s *scorer) mayBeKey(t string) bool {
	sig := tokenSig(t)
	return s.maybe[sig/64]&(1<<(sig%64)) != 0
}

func newScorer(q query, st store.KeywordStats) *scorer {
	s := &scorer{q: q, slot: map[string]int{}}
	n := float64(max(st.Chunks, 1))
	for f := range s.avgLen {
		s.avgLen[f] = max(float64(st.FieldTokens[f])/n, 1)
	}
	for _, k := range q.keys() {
		if _, ok := s.slot[k]; ok {
			continue
		}
		s.slot[k] = len(s.slot)
		s.keys = append(s.keys, k)
		if k != "" {
			sig := tokenSig(k)
			s.maybe[sig/64] |= 1 << (sig % 64)
		}
		if len(k) >= minCompound && !slices.Contains(s.heads, head(k)) {
			s.heads = append(s.heads, head(k))
		}
		df := float64(min(st.DocFreq[k], st.Chunks))
		s.slotIDF = append(s.slotIDF, math.Log(1+(n-df+0.5)/(df+0.5)))
	}
	s.wordSlots = make([][]int, len(q.words))
	for i, w := range q.words {
		for _, k := range w.keys {
			s.wordSlots[i] = append(s.wordSlots[i], s.slot[k])
		}
	}
	return s
}

// score is the BM25F score of a search text (one without fields counts as all body),
// computed without allocating.
func (s *scorer) score(text string) float64 {
	lens, hit := s.count(text)
	if !hit {
		return 0
	}
	norm := s.norms(lens)
	total := 0.0
	for i := range s.q.words {
		total += s.wordScore(i, &norm)
	}
	return total
}

// wordScores are the BM25F scores of a search text for each word of the query.
func (s *scorer) wordScores(text string) []float64 {
	lens, hit := s.count(text)
	out := make([]float64, len(s.q.words))
	if !hit {
		return out
	}
	norm := s.norms(lens)
	for i := range s.q.words {
		out[i] = s.wordScore(i, &norm)
	}
	return out
}

// count fills s.tf with the text's count of each key in each field, and returns the
// fields' lengths in tokens and whether any key was counted.
func (s *scorer) count(text string) (lens [store.NumFields]float64, hit bool) {
	if s.tf == nil {
		s.tf = make([][store.NumFields]float64, len(s.slot))
	} else {
		clear(s.tf)
	}
	tf := s.tf
	f := store.FieldBody
	if strings.Contains(text, store.SearchFieldSep) {
		f = store.FieldPath
	}
	// Tokens are separated by single spaces; this loop is most of a search's time in Go.
	for len(text) > 0 {
		end := strings.IndexByte(text, ' ')
		if end < 0 {
			end = len(text)
		}
		t := text[:end]
		text = text[min(end+1, len(text)):]
		switch {
		case t == "":
		case t == store.SearchFieldSep:
			f = min(f+1, store.NumFields-1)
		default:
			lens[f]++
			if s.mayBeKey(t) {
				if i, ok := s.slot[t]; ok {
					tf[i][f]++
					hit = true
					continue
				}
			}
			if f == store.FieldPath {
				for _, i := range s.compoundSlots(t) {
					tf[i][f]++
					hit = true
				}
			}
		}
	}
	return lens, hit
}

// norms are BM25's length normalisations of fields of the given lengths.
func (s *scorer) norms(lens [store.NumFields]float64) [store.NumFields]float64 {
	var norm [store.NumFields]float64
	for f := range norm {
		norm[f] = 1 - fieldB[f] + fieldB[f]*lens[f]/s.avgLen[f]
	}
	return norm
}

// wordScore is the score of the query's i-th word in the text last counted: its best
// key's.
func (s *scorer) wordScore(i int, norm *[store.NumFields]float64) float64 {
	w := &s.q.words[i]
	best := 0.0
	for j, slot := range s.wordSlots[i] {
		x, head := 0.0, 0.0
		for f, c := range s.tf[slot] {
			if c == 0 {
				continue
			}
			if separateField[f] {
				head += fieldWeight[f] * saturate(c/norm[f])
			} else {
				x += fieldWeight[f] * c / norm[f]
			}
		}
		if x == 0 && head == 0 {
			continue
		}
		best = max(best, w.weights[j]*s.slotIDF[slot]*(saturate(x)+head))
	}
	return best
}

// compoundSlots are the slots of the query keys a path token is written together from
// ("formdata" from form and data, "httptest" from http and test, "tempfile" from temp
// and file): Go's file and package names join, in lower case, words that a question
// says apart. Only a token made wholly of keys of at least minCompound letters counts
// ("lookup" is not matched by look alone), each key once for it.
func (s *scorer) compoundSlots(t string) []int {
	if len(t) < 2*minCompound || !slices.Contains(s.heads, head(t)) {
		return nil
	}
	if out, ok := s.joined[t]; ok {
		return out
	}
	out := s.cover(t)
	if s.joined == nil {
		s.joined = map[string][]int{}
	}
	s.joined[t] = out
	return out
}

// minCompound is the fewest letters a key needs to count as part of a compound.
const minCompound = 3

// head is the first minCompound (3) bytes of a string of at least that many, as a number
// (comparing strings was most of compoundSlots' time).
func head(s string) uint32 { return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 }

// cover returns the slots of keys that, one after another, make up all of t, or nil.
// It walks t's positions in order, each reached by the first key (in the query's order)
// that ends there, so a token splits the same way every time, and in time linear in
// its length for any keys: a name of repeated letters cannot make it try every split.
func (s *scorer) cover(t string) []int {
	// from[j] is 1 + the position the key ending at j starts at, 0 if j is not reached;
	// by[j] is that key's slot.
	from := make([]int, len(t)+1)
	by := make([]int, len(t)+1)
	from[0] = 1
	for i := 0; i < len(t); i++ {
		if from[i] == 0 {
			continue
		}
		for _, k := range s.keys {
			j := i + len(k)
			if len(k) >= minCompound && j <= len(t) && from[j] == 0 && t[i:j] == k {
				from[j], by[j] = i+1, s.slot[k]
			}
		}
	}
	if from[len(t)] == 0 {
		return nil
	}
	var out []int
	for j := len(t); j > 0; j = from[j] - 1 {
		out = append(out, by[j])
	}
	slices.Reverse(out)
	return out
}

// fieldScores scores a text of one field of its own (tokens separated by single spaces)
// for each word of the query: weight × idf × saturated term frequency, normalised for
// length with b against avgLen. It is nil when no word matches.
func (s *scorer) fieldScores(text string, weight, b, avgLen float64) []float64 {
	tf := make([]float64, len(s.slot))
	n := 0.0
	hit := false
	for t := range strings.SplitSeq(text, " ") {
		n++
		if i, ok := s.slot[t]; ok {
			tf[i]++
			hit = true
		}
	}
	if !hit {
		return nil
	}
	norm := 1 - b + b*n/avgLen
	out := make([]float64, len(s.q.words))
	for i, w := range s.q.words {
		for j, slot := range s.wordSlots[i] {
			if c := tf[slot]; c > 0 {
				out[i] = max(out[i], weight*w.weights[j]*s.slotIDF[slot]*saturate(c/norm))
			}
		}
	}
	return out
}

// saturate is BM25's term-frequency saturation, from 0 towards k1+1.
func saturate(x float64) float64 { return x * (bm25K1 + 1) / (x + bm25K1) }

// Priors on what kind of file a path is: tests, examples and test data answer "how is X
// used", rarely "where is X" (test data not even a question about tests); a package's
// doc.go describes what its code does, and its error.go repeats it in every message; a
// platform's copy or a part of a file (kindSibling), and an internal package's copy of
// a public file (kindInternalCopy), are where a reader goes after the general file; so,
// less so, is any internal package (internalPrior): its code is the implementation of
// what a public package offers, and a question in plain words is mostly about that
// offer (in a repository whose code is all internal, it weighs every file alike); the
// file named after its package (kindPackageFile) is where a reader starts.
const (
	testPrior         = 0.3
	docPrior          = 0.7
	variantPrior      = 0.85
	internalCopyPrior = 0.7
	internalPrior     = 0.85
	packageFilePrior  = 1.1
	errorFilePrior    = 0.8
)

// errorFileNames name the files that hold a package's error types and messages: they
// repeat what the code does in every message, and a question is about the code.
var errorFileNames = map[string]bool{"error": true, "errors": true}

// pathPrior is the factor a chunk's score is multiplied by for the kind of file it is
// in, from its path and its layout facts (layoutKinds).
func pathPrior(p string, aboutTests bool, kind pathKind) float64 {
	if !aboutTests && isTestPath(p) || isTestDataPath(p) {
		return testPrior
	}
	x := 1.0
	switch {
	case kind&kindPackageFile != 0:
		x = packageFilePrior // go/doc/doc.go is package doc's own code
	case path.Base(p) == "doc.go":
		x = docPrior
	case errorFileNames[fileStem(p)]:
		x = errorFilePrior
	case isVariantPath(p) || kind&kindSibling != 0:
		x = variantPrior
	}
	if kind&kindInternalCopy != 0 {
		x *= internalCopyPrior
	} else if isInternalPath(p) {
		x *= internalPrior
	}
	return x
}

// variantSuffixes end the names of files that are one platform's or one architecture's
// copy of a file (Go's build-constraint file names, and the usual fallbacks): for a
// question in plain words the general file is the answer, and a question that names the
// platform still finds the copy by its name.
var variantSuffixes = []string{"_windows", "_linux", "_darwin", "_unix", "_plan9", "_js", "_wasm", "_wasip1", "_freebsd",
	"_openbsd", "_netbsd", "_dragonfly", "_solaris", "_illumos", "_aix", "_ios", "_android", "_hurd", "_zos", "_bsd",
	"_amd64", "_arm64", "_386", "_arm", "_mips", "_mipsx", "_mips64x", "_mipsle", "_mips64", "_ppc64", "_ppc64x", "_ppc64le",
	"_riscv64", "_s390x", "_loong64", "_wasm32", "_other", "_stub", "_stubs", "_nocgo", "_cgo", "_fallback", "_noasm"}

// fileStem is a path's file name in lower case without its extension.
func fileStem(p string) string {
	base := strings.ToLower(path.Base(p))
	return strings.TrimSuffix(base, path.Ext(base))
}

// isVariantPath reports a platform's or an architecture's copy of a file by its name.
func isVariantPath(p string) bool {
	name := fileStem(p)
	for _, suf := range variantSuffixes {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// isTestPath reports a test, an example, a benchmark or test data, by the usual names.
func isTestPath(p string) bool {
	name := fileStem(p)
	if strings.HasSuffix(name, "_test") || strings.HasPrefix(name, "test_") || strings.HasSuffix(name, ".test") ||
		strings.HasSuffix(name, ".spec") || strings.HasPrefix(name, "example") || strings.HasSuffix(name, "_bench") {
		return true
	}
	for dir := range strings.SplitSeq(path.Dir(strings.ToLower(p)), "/") {
		switch dir {
		case "test", "tests", "testdata", "__tests__", "spec", "example", "examples", "benchmarks":
			return true
		}
	}
	return false
}

// isTestDataPath reports a file under a testdata directory: a test's input, which
// even a question about tests does not ask for.
func isTestDataPath(p string) bool {
	return strings.HasPrefix(p, "testdata/") || strings.Contains(p, "/testdata/")
}

// testWords in a query mean it is about tests or examples.
var testWords = map[string]bool{"test": true, "tests": true, "tested": true, "testing": true, "example": true,
	"examples": true, "benchmark": true, "benchmarks": true, "fixture": true, "fixtures": true, "mock": true, "mocks": true}

// britishSuffixes are British spellings' endings with their American forms, which code
// mostly uses: a question about "serialisation" or "marshalling" meets Serialization
// and marshal.go. A doubled l counts only in longer words (cancelled, labelled), not in
// called or filled.
var britishSuffixes = [][2]string{{"isation", "ization"}, {"isations", "izations"}, {"ise", "ize"}, {"ised", "ized"},
	{"ises", "izes"}, {"ising", "izing"}, {"iser", "izer"}, {"isers", "izers"}, {"lling", "ling"}, {"lled", "led"}, {"ller", "ler"}}

// usSpelling is w in American spelling when it ends like a British one, else w.
func usSpelling(w string) string {
	for _, s := range britishSuffixes {
		if strings.HasSuffix(w, s[0]) && (s[0][0] != 'l' || len(w) >= 8 && strings.ContainsRune("aeiou", rune(w[len(w)-len(s[0])-1]))) {
			return strings.TrimSuffix(w, s[0]) + s[1]
		}
	}
	return w
}

// abbreviationsOf are w's abbreviations, or its singular's when w is a plural the table
// does not list ("executables" → exec).
func abbreviationsOf(w string) []string {
	if a, ok := abbreviations[w]; ok {
		return a
	}
	return abbreviations[strings.TrimSuffix(w, "s")]
}

// phraseAbbreviationsIn returns, for each word of q that is part of a phrase code
// abbreviates ("square root" → sqrt), the abbreviations of its phrases: each word of
// the phrase carries them.
func phraseAbbreviationsIn(q string) map[string][]string {
	var words []string
	forEachWord(q, func(w string) { words = append(words, strings.ToLower(w)) })
	out := map[string][]string{}
	for i := range words {
		for n := 2; n <= 3 && i+n <= len(words); n++ {
			for _, a := range phraseAbbreviations[strings.Join(words[i:i+n], " ")] {
				for _, w := range words[i : i+n] {
					out[w] = append(out[w], a)
				}
			}
		}
	}
	return out
}

// phraseAbbreviations are the short forms code uses for phrases of two or three words,
// C's and Unix's names among them (atoi is "ascii to integer").
var phraseAbbreviations = map[string][]string{
	"square root": {"sqrt"}, "cube root": {"cbrt"}, "ascii to integer": {"atoi"}, "integer to ascii": {"itoa"},
	"string to integer": {"atoi"}, "integer to string": {"itoa"}, "float to string": {"ftoa"}, "string to float": {"atof"},
	"file descriptor": {"fd"}, "make directory": {"mkdir"}, "remove directory": {"rmdir"}, "change directory": {"chdir"},
	"working directory": {"wd", "cwd"}, "current directory": {"cwd"}, "read write": {"rw"}, "reader writer": {"rw"},
	"round trip": {"rt"}, "time to live": {"ttl"}, "standard input": {"stdin"}, "standard output": {"stdout"},
	"standard error": {"stderr"}, "process id": {"pid"}, "user id": {"uid"}, "group id": {"gid"},
	"least significant": {"lsb"}, "most significant": {"msb"}, "greatest common divisor": {"gcd"},
	"least common multiple": {"lcm"}, "floating point": {"float"}, "natural logarithm": {"log"},
	"domain name": {"dns"}, "command line": {"cmdline", "cli"}, "operating system": {"os"},
}

// abbreviations are the short forms code uses for common words: a query in plain words
// ("run an external command") meets the identifiers and file names that abbreviate them
// (exec.go, Cmd).
var abbreviations = func() map[string][]string {
	m := map[string][]string{}
	for _, line := range strings.FieldsFunc(`address addr|allocate alloc|allocation alloc|argument arg args|arguments args arg
		attribute attr|attributes attrs attr|authentication auth|authenticate auth|authorization authz auth|buffer buf
		buffered buf|calculate calc|certificate cert|certificates cert certs|channel chan|character char|characters chars char
		command cmd|commands cmd|compare cmp|concatenate concat|configuration config cfg conf|connection conn
		connections conn conns|context ctx|cryptographic crypto|cryptography crypto|database db|decrement dec
		definition def|delete del|description desc|destination dst dest|dictionary dict|directory dir|directories dir dirs
		document doc|documentation doc docs|element elem|elements elems elem|environment env|error err|errors err errs
		execute exec|executes exec|execution exec|executable exec|expression expr|expressions expr|function func fn
		functions func funcs|generate gen|generator gen|hexadecimal hex|identifier ident id|increment inc|index idx
		information info|initialize init|initialization init|integer int|integers int ints|iterator iter|iterators iter
		iterate iter|length len|library lib|manager mgr|maximum max|memory mem|message msg|messages msg msgs
		minimum min|multiple multi|natural nat|number num|numbers num nums|object obj|operation op|operations op ops
		option opt|options opts opt|package pkg|packages pkg pkgs|parameter param|parameters params param|pointer ptr
		pointers ptr|position pos|previous prev|random rand|receive recv|reference ref|references refs ref|register reg
		regular regexp|repository repo|request req|requests req|response resp|sequence seq|signal sig|signature sig
		source src|specification spec|standard std|statement stmt|statements stmt|string str|synchronization sync
		synchronize sync|system sys|table tab|temporary tmp temp|transaction tx txn|utility util|utilities util
		value val|values vals val|variable var|variables vars var|window win|power pow|absolute abs|average avg
		application app|asynchronous async|binary bin|boolean bool|callback cb|column col|columns cols col|constant const
		current cur|delimiter delim|difference diff|extension ext|format fmt|frequency freq|header hdr|headers hdr hdrs
		image img|images img imgs|implementation impl|interface iface|language lang|logarithm log|miscellaneous misc
		modulo mod|multiply mul|multiplication mul|divide div|division div|quotient quo|remainder rem|negative neg
		network net|original orig|password passwd pwd|property prop|properties props prop
		record rec|records recs rec|rectangle rect|remove rm|result res|results res|return ret|second sec|seconds sec secs
		segment seg|server srv|service svc|socket sock|sockets sock socks|statistics stats stat|status stat|structure struct
		subtract sub|subtraction sub|template tmpl tpl|templates tmpl tpl|terminal term tty|text txt|timestamp ts
		token tok|tokens toks tok|version ver|vector vec|vectors vec vecs|exponent exp|exponential exp
		trigonometric trig|concatenation concat|instruction instr|instructions instr|accumulator acc|coordinate coord
		coordinates coords coord|temperature temp|administrator admin|pixel px|pixels px`, func(r rune) bool { return r == '|' || r == '\n' }) {
		f := strings.Fields(line)
		m[f[0]] = f[1:]
	}
	return m
}()

// isInternalPath reports a file of a Go internal package (a directory named internal on
// its path), which, by the language's rule, only the tree above that directory may
// import.
func isInternalPath(p string) bool {
	return strings.HasPrefix(p, "internal/") || strings.Contains(p, "/internal/")
}
