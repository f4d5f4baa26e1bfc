package postgres

import (
	"strconv"
	"strings"
)

// The limits of a tsvector (PostgreSQL's ts_type.h): a lexeme keeps at most
// maxLexemePositions positions, and positions past maxPosition count as maxPosition.
const (
	maxPosition        = 16383
	maxLexemePositions = 255
	maxLexemeBytes     = 2047
)

// tsvectorText returns the text form of to_tsvector('simple', text), computed here: the
// server's text parser cost about 120 µs a chunk, most of what writing a chunk's search
// row took, where reading this text form back (tsvector_in) costs a sixth of it.
//
// It covers what search texts are made of, the indexer's tokens (lower-case ASCII
// letters and digits, '_' inside them) between spaces and field separators, and
// reproduces the default parser's reading of them: a run of letters and digits is one
// word, except that a run starting with digits, 'e' and digits ("1e10x") gives the
// number in scientific notation first and then the rest; anything else separates words.
// For any other byte (non-ASCII letters, upper case, punctuation the parser reads as
// part of a host, a path or a version) ok is false and the server parses the text.
func tsvectorText(text string) (out string, ok bool) {
	type lexeme struct {
		word string
		pos  []int
	}
	var lexemes []*lexeme
	byWord := map[string]*lexeme{}
	pos := 0
	emit := func(w string) {
		pos++
		p := min(pos, maxPosition)
		l := byWord[w]
		if l == nil {
			l = &lexeme{word: w}
			byWord[w] = l
			lexemes = append(lexemes, l)
			l.pos = append(l.pos, p)
			return
		}
		if last := l.pos[len(l.pos)-1]; len(l.pos) < maxLexemePositions && last != maxPosition && last != p {
			l.pos = append(l.pos, p)
		}
	}
	start := -1
	for i := 0; i <= len(text); i++ {
		var c byte = ' '
		if i < len(text) {
			c = text[i]
		}
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			if start < 0 {
				start = i
			}
			continue
		case c == ' ' || c == '_' || c == '|' || c == '\n' || c == '\t':
		default:
			return "", false
		}
		if start >= 0 {
			if i-start > maxLexemeBytes {
				return "", false
			}
			splitRun(text[start:i], emit)
			start = -1
		}
	}
	var b strings.Builder
	b.Grow(len(text))
	for i, l := range lexemes {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('\'')
		b.WriteString(l.word)
		b.WriteString("':")
		for j, p := range l.pos {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(p))
		}
	}
	return b.String(), true
}

// splitRun gives the words the default parser reads in run, a run of lower-case ASCII
// letters and digits: the run itself, unless it starts with a number in scientific
// notation ("12e3abc" → 12e3, abc), which is a word of its own.
func splitRun(run string, emit func(string)) {
	for run != "" {
		n := sciPrefix(run)
		if n == 0 || n == len(run) {
			emit(run)
			return
		}
		emit(run[:n])
		run = run[n:]
	}
}

// sciPrefix is the length of the digits, 'e', digits that run starts with, 0 if none.
func sciPrefix(run string) int {
	i := 0
	for i < len(run) && run[i] >= '0' && run[i] <= '9' {
		i++
	}
	if i == 0 || i+1 >= len(run) || run[i] != 'e' || run[i+1] < '0' || run[i+1] > '9' {
		return 0
	}
	i += 2
	for i < len(run) && run[i] >= '0' && run[i] <= '9' {
		i++
	}
	return i
}
