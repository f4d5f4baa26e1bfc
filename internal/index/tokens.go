package index

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Tokens returns the code-aware keyword tokens of text, in order: every identifier-like
// word lower-cased whole, followed by its parts when it is camelCase, PascalCase,
// snake_case or has digits ("HashPassword" → hashpassword hash password; "user_id" →
// user_id user id), and a light English stem of each where it differs ("hashed" → hash),
// so that "where are passwords hashed" meets func HashPassword.
func Tokens(text string) []string {
	var out []string
	forEachWord(text, func(w string) {
		out = appendWord(out, w)
	})
	return out
}

// QueryTerms turns a search query into terms: the same tokens as Tokens, without
// English stop words and repeats.
func QueryTerms(q string) []string {
	seen := map[string]bool{}
	var out []string
	forEachWord(q, func(w string) {
		if stopWords[strings.ToLower(w)] {
			return
		}
		for _, t := range appendWord(nil, w) {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	})
	if len(out) == 0 { // a query of stop words only ("how is it") still searches
		for _, t := range Tokens(q) {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// SearchText builds a chunk's keyword text in the store's fields (see store.FieldPath):
// the tokens of the file's path (its directories and name, without the extension), of
// the chunk's symbol, of its comment lines and of its code lines.
func SearchText(symbol, path, content string) string {
	var b strings.Builder
	b.Grow(2 * len(content))
	put := func(ts []string) {
		for _, t := range ts {
			b.WriteString(t)
			b.WriteByte(' ')
		}
	}
	// The path and the symbol go in twice: the database finds the candidates that BM25F
	// ranks by its own text rank over the whole text, and a match there should count
	// more there too (BM25F's field weights allow for the repetition).
	head := Tokens(pathWords(path))
	put(head)
	put(head)
	b.WriteString(store.SearchFieldSep + " ")
	sym := Tokens(strings.TrimPrefix(symbol, "package "))
	put(sym)
	put(sym)
	b.WriteString(store.SearchFieldSep + " ")
	var doc, code strings.Builder
	inBlock := false
	hashComments := hashCommentLanguages[Language(path)]
	for line := range strings.Lines(content) {
		l := strings.TrimSpace(line)
		isDoc := inBlock
		switch {
		case inBlock:
			inBlock = !strings.Contains(l, "*/")
		case strings.HasPrefix(l, "/*"):
			isDoc, inBlock = true, !strings.Contains(l[2:], "*/")
		case strings.HasPrefix(l, "//"), strings.HasPrefix(l, "--"), hashComments && strings.HasPrefix(l, "#"):
			isDoc = true
		}
		if isDoc {
			doc.WriteString(line)
		} else {
			code.WriteString(line)
		}
	}
	put(Tokens(doc.String()))
	b.WriteString(store.SearchFieldSep)
	for _, t := range Tokens(code.String()) {
		b.WriteByte(' ')
		b.WriteString(t)
	}
	return b.String()
}

// hashCommentLanguages are those whose line comments start with '#'.
var hashCommentLanguages = map[string]bool{"python": true, "shell": true, "ruby": true, "perl": true, "r": true,
	"yaml": true, "toml": true, "make": true, "dockerfile": true, "elixir": true, "powershell": true}

// pathWords is a path's directories and its file name without the extension, twice:
// the name says more of what a file holds than the directories around it.
func pathWords(p string) string {
	base := path.Base(p)
	if ext := path.Ext(base); ext != "" && len(ext) < len(base) {
		base = strings.TrimSuffix(base, ext)
	}
	if dir := path.Dir(p); dir != "." {
		return dir + " " + base + " " + base
	}
	return base + " " + base
}

// maxWordLen bounds a token: longer runs are data (base64, hex), not identifiers.
const maxWordLen = 64

func forEachWord(text string, fn func(string)) {
	start := -1
	for i, r := range text {
		word := r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
		if word && start < 0 {
			start = i
		} else if !word && start >= 0 {
			if i-start <= maxWordLen {
				fn(text[start:i])
			}
			start = -1
		}
	}
	if start >= 0 && len(text)-start <= maxWordLen {
		fn(text[start:])
	}
}

func appendWord(out []string, w string) []string {
	whole := strings.ToLower(w)
	if strings.Trim(whole, "_") == "" {
		return out
	}
	out = appendStemmed(out, whole)
	parts := splitIdent(w)
	if len(parts) > 1 {
		for _, p := range parts {
			out = appendStemmed(out, strings.ToLower(p))
		}
	}
	return out
}

func appendStemmed(out []string, w string) []string {
	out = append(out, w)
	if s := stem(w); s != w {
		out = append(out, s)
	}
	return out
}

// splitIdent splits an identifier at underscores, lower→upper case changes, the end of
// an upper-case run before a capitalised word ("HTTPServer" → HTTP Server) and
// letter/digit changes.
func splitIdent(w string) []string {
	var parts []string
	for _, seg := range strings.Split(w, "_") {
		if seg == "" {
			continue
		}
		rs := []rune(seg)
		start := 0
		for i := 1; i < len(rs); i++ {
			prev, cur := rs[i-1], rs[i]
			cut := false
			switch {
			case unicode.IsLower(prev) && unicode.IsUpper(cur):
				cut = true
			case unicode.IsUpper(prev) && unicode.IsUpper(cur) && i+1 < len(rs) && unicode.IsLower(rs[i+1]):
				cut = true
			case unicode.IsDigit(prev) != unicode.IsDigit(cur):
				cut = true
			}
			if cut {
				parts = append(parts, string(rs[start:i]))
				start = i
			}
		}
		parts = append(parts, string(rs[start:]))
	}
	return parts
}

// stem strips common English inflections (plural s, -es, -ed, -ing, -er) from a
// lower-case word; code is not prose, so it stays deliberately light.
func stem(w string) string {
	if !isASCIIAlpha(w) {
		return w
	}
	return yToI(stemSuffix(w))
}

// yToI ends a stem in i where it ends in a consonant and y, as Porter's stemmer does, so
// that copy, copies and copying, or cookie and cookies, share one stem.
func yToI(w string) string {
	n := len(w)
	if n >= 4 && w[n-1] == 'y' && !strings.ContainsRune("aeiouy", rune(w[n-2])) {
		return w[:n-1] + "i"
	}
	return w
}

func stemSuffix(w string) string {
	n := len(w)
	if n <= 4 {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies") && n > 5:
		return w[:n-3] + "y"
	case strings.HasSuffix(w, "sses"):
		return w[:n-2]
	case strings.HasSuffix(w, "ing") && n > 5 && hasVowel(w[:n-3]):
		return undouble(w[:n-3])
	case strings.HasSuffix(w, "ed") && n > 4 && hasVowel(w[:n-2]):
		return undouble(w[:n-2])
	case strings.HasSuffix(w, "er") && n > 5 && hasVowel(w[:n-2]):
		return undouble(w[:n-2])
	case strings.HasSuffix(w, "shes") || strings.HasSuffix(w, "ches") || strings.HasSuffix(w, "xes") || strings.HasSuffix(w, "zes"):
		return w[:n-2]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		return dropE(w[:n-1])
	}
	return dropE(w)
}

// dropE makes "route", "handle" and "parse" meet "router", "handler" and "parsing".
func dropE(w string) string {
	if len(w) > 4 && w[len(w)-1] == 'e' {
		return w[:len(w)-1]
	}
	return w
}

// hasVowel keeps "string" and "red" whole: a stem needs a vowel.
func hasVowel(w string) bool { return strings.ContainsAny(w, "aeiouy") }

// undouble turns "runn" (from running) into "run".
func undouble(w string) string {
	n := len(w)
	if n >= 3 && w[n-1] == w[n-2] && !strings.ContainsRune("aeiouslz", rune(w[n-1])) {
		return w[:n-1]
	}
	return w
}

func isASCIIAlpha(w string) bool {
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return utf8.ValidString(w)
}

var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about an and any are as at be been being but by can could did do does doing
		for from had has have how i if in into is it its me my of on or our so some than that the their them then there
		these they this those to was we were what when where which while who whom why will with would you your
		done happen happens get gets find show shows`) {
		m[w] = true
	}
	return m
}()
