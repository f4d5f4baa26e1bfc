package store

import "strings"

// A chunk's SearchText is lower-case tokens separated by spaces, in fields: the file's
// path, the chunk's symbol, its comments and its code, in that order, each field ended
// by a SearchFieldSep token except the last ("auth password | hashpassword hash
// password | hashes a password | func hashpassword ..."). The separator is no word to
// either dialect's text parser, so it never reaches the keyword index; both dialects
// keep per-project statistics of these fields for BM25 (KeywordStats).
const (
	FieldPath = iota
	FieldSymbol
	FieldDoc
	FieldBody
	NumFields
)

// SearchFieldSep separates the fields of a SearchText.
const SearchFieldSep = "|"

// KeywordStats are a project's keyword statistics: the chunks counted, their tokens per
// field, and per asked term the number of counted chunks holding it.
type KeywordStats struct {
	Chunks      int64
	FieldTokens [NumFields]int64
	DocFreq     map[string]int64
}

// The statistics are kept as rows of (term, count); these reserved terms, which no
// token can be (they hold the separator), carry the chunk count and field lengths.
const statChunks = "|chunks"

var statFields = [NumFields]string{"|path", "|symbol", "|doc", "|body"}

// SearchTextStats returns the distinct tokens of a SearchText and its tokens per field.
// ok is false for a text without fields (written before fields existed): such a chunk
// is searched but not counted in the statistics.
func SearchTextStats(text string) (terms []string, lens [NumFields]int64, ok bool) {
	if !strings.Contains(text, SearchFieldSep) {
		return nil, lens, false
	}
	seen := map[string]bool{}
	f := 0
	for _, t := range strings.Fields(text) {
		if t == SearchFieldSep {
			f++
			if f >= NumFields {
				return nil, lens, false
			}
			continue
		}
		lens[f]++
		if !seen[t] {
			seen[t] = true
			terms = append(terms, t)
		}
	}
	return terms, lens, f == NumFields-1
}

// TermDeltas accumulates changes to a project's keyword statistics, term → change in
// count, reserved terms included; a dialect adds them to its stored counts.
type TermDeltas map[string]int64

// Add counts a chunk's search text in (sign 1) or out (sign -1).
func (d TermDeltas) Add(searchText string, sign int64) {
	terms, lens, ok := SearchTextStats(searchText)
	if !ok {
		return
	}
	d[statChunks] += sign
	for f, n := range lens {
		d[statFields[f]] += sign * n
	}
	for _, t := range terms {
		d[t] += sign
	}
}

// Compact drops the terms whose changes cancelled out.
func (d TermDeltas) Compact() {
	for t, n := range d {
		if n == 0 {
			delete(d, t)
		}
	}
}

// StatTerms are the terms to read for KeywordStats: the reserved ones, then terms.
func StatTerms(terms []string) []string {
	out := make([]string, 0, 1+NumFields+len(terms))
	out = append(out, statChunks)
	out = append(out, statFields[:]...)
	return append(out, CleanTerms(terms)...)
}

// KeywordStatsFrom builds KeywordStats from stored (term, count) rows.
func KeywordStatsFrom(counts map[string]int64) KeywordStats {
	st := KeywordStats{Chunks: counts[statChunks], DocFreq: map[string]int64{}}
	for f, name := range statFields {
		st.FieldTokens[f] = counts[name]
	}
	for t, n := range counts {
		if !strings.HasPrefix(t, SearchFieldSep) {
			st.DocFreq[t] = n
		}
	}
	return st
}
