package edit

import (
	"slices"
	"strings"
)

// MatchKind says how loosely a SEARCH section had to be matched to apply.
type MatchKind int

// The passes, strictest first; each is tried only when the ones before it found nothing.
const (
	MatchExact             MatchKind = iota // the lines as written
	MatchTrailingSpace                      // equal once trailing whitespace is ignored
	MatchIndentShift                        // every line indented by the same amount more or less
	MatchIndentStyle                        // indented with tabs where the file has spaces, or the reverse
	MatchTrimmedBlankLines                  // one of the above after dropping blank lines at the edges
)

func (k MatchKind) String() string {
	switch k {
	case MatchExact:
		return "exact"
	case MatchTrailingSpace:
		return "ignoring trailing whitespace"
	case MatchIndentShift:
		return "with indentation shifted"
	case MatchIndentStyle:
		return "with tabs and spaces exchanged"
	case MatchTrimmedBlankLines:
		return "ignoring blank lines at the edges"
	}
	return "unknown"
}

// match is one place SEARCH was found: lines [at, at+n) of the file, and the REPLACE lines to put
// there, re-indented if the match was shifted.
type match struct {
	at, n   int
	replace []string
	kind    MatchKind
}

// splitLines splits text into lines without their "\n" and reports whether the last one had it.
func splitLines(s string) (lines []string, finalNewline bool) {
	if s == "" {
		return nil, false
	}
	finalNewline = strings.HasSuffix(s, "\n")
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n"), finalNewline
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

func trimRight(s string) string { return strings.TrimRight(s, " \t\r\f\v") }

// locate finds where search goes in file. It returns the match, or all the places found by the
// first pass that found more than one, or neither.
func locate(file, search, replace []string) (m match, ambiguous []match) {
	if m, ambiguous, ok := locateLines(file, search, replace); ok {
		return m, ambiguous
	}
	// Blank lines at the edges: drop them from SEARCH, and as many from REPLACE so a block that
	// meant to keep them still does.
	lead, trail := blankEdges(search)
	if lead+trail == 0 || lead == len(search) {
		return match{at: -1}, nil
	}
	rlead, rtrail := blankEdges(replace)
	rlead, rtrail = min(lead, rlead), min(trail, rtrail)
	m, ambiguous, ok := locateLines(file, search[lead:len(search)-trail], replace[rlead:len(replace)-rtrail])
	if !ok {
		return match{at: -1}, nil
	}
	if m.at >= 0 {
		m.kind = MatchTrimmedBlankLines
	}
	for i := range ambiguous {
		ambiguous[i].kind = MatchTrimmedBlankLines
	}
	return m, ambiguous
}

// locateLines runs the exact, trailing-whitespace, indentation-shift and indentation-style
// passes. ok is false when none found anything.
func locateLines(file, search, replace []string) (m match, ambiguous []match, ok bool) {
	exact := func(a, b string) bool { return a == b }
	loose := func(a, b string) bool { return trimRight(a) == trimRight(b) }
	for _, pass := range []struct {
		kind MatchKind
		eq   func(a, b string) bool
	}{{MatchExact, exact}, {MatchTrailingSpace, loose}} {
		var found []match
		for _, at := range findAll(file, search, pass.eq) {
			found = append(found, match{at: at, n: len(search), replace: replace, kind: pass.kind})
		}
		if m, ambiguous, ok := pick(found); ok {
			return m, ambiguous, true
		}
	}
	for _, pass := range []struct {
		kind MatchKind
		fit  func(window, search, replace []string) ([]string, bool)
	}{{MatchIndentShift, shifted}, {MatchIndentStyle, restyled}} {
		var found []match
		for at := 0; at+len(search) <= len(file); at++ {
			if r, ok := pass.fit(file[at:at+len(search)], search, replace); ok {
				found = append(found, match{at: at, n: len(search), replace: r, kind: pass.kind})
			}
		}
		if m, ambiguous, ok := pick(found); ok {
			return m, ambiguous, true
		}
	}
	return match{at: -1}, nil, false
}

// pick is a pass's outcome: its one match, or all of them when there are several, and whether
// it found anything.
func pick(found []match) (m match, ambiguous []match, ok bool) {
	switch len(found) {
	case 0:
		return match{at: -1}, nil, false
	case 1:
		return found[0], nil, true
	}
	return match{at: -1}, found, true
}

// findAll returns every line index where search starts in file under eq.
func findAll(file, search []string, eq func(a, b string) bool) []int {
	var found []int
	for at := 0; at+len(search) <= len(file); at++ {
		if slices.EqualFunc(file[at:at+len(search)], search, eq) {
			found = append(found, at)
		}
	}
	return found
}

// shifted reports whether window is search with every non-blank line indented by the same amount
// more (or less), ignoring trailing whitespace, and returns replace re-indented by that amount.
func shifted(window, search, replace []string) ([]string, bool) {
	var add, remove string
	decided := false
	for i, s := range search {
		w, s := trimRight(window[i]), trimRight(s)
		if s == "" || w == "" {
			if s != w {
				return nil, false
			}
			continue
		}
		if !decided {
			decided = true
			switch {
			case len(w) > len(s) && strings.HasSuffix(w, s) && isBlank(w[:len(w)-len(s)]):
				add = w[:len(w)-len(s)]
			case len(s) > len(w) && strings.HasSuffix(s, w) && isBlank(s[:len(s)-len(w)]):
				remove = s[:len(s)-len(w)]
			default:
				return nil, false // equal lines are the earlier passes' business
			}
		}
		if w != add+strings.TrimPrefix(s, remove) || !strings.HasPrefix(s, remove) {
			return nil, false
		}
	}
	if !decided {
		return nil, false
	}
	out := make([]string, len(replace))
	for i, r := range replace {
		switch {
		case isBlank(r):
			out[i] = r
		case add != "":
			out[i] = add + r
		case strings.HasPrefix(r, remove):
			out[i] = r[len(remove):]
		default: // less indented than the shift: take off what indentation it has, up to the shift
			indent := len(r) - len(strings.TrimLeft(r, " \t"))
			out[i] = r[min(indent, len(remove)):]
		}
	}
	return out, true
}

// restyled reports whether window is search with its indentation written in tabs where the file
// uses spaces, or the reverse, and returns replace re-indented in the file's style. The tab side
// of each line is a number of tabs T (then, optionally, alignment spaces) and the space side a
// width S; they correspond when S = u*T + c + alignment for one indent unit u (1 to 8 spaces) and
// one offset c (a whole number of levels) across the block, so a block that is also shifted by
// whole levels still matches.
func restyled(window, search, replace []string) ([]string, bool) {
	type pair struct{ st, ss, wt, ws int }
	var pairs []pair
	searchTabs, windowTabs := false, false
	for i, s := range search {
		w, s := trimRight(window[i]), trimRight(s)
		if s == "" || w == "" {
			if s != w {
				return nil, false
			}
			continue
		}
		st, ss, srest, ok1 := indentOf(s)
		wt, ws, wrest, ok2 := indentOf(w)
		if !ok1 || !ok2 || srest != wrest {
			return nil, false
		}
		searchTabs = searchTabs || st > 0
		windowTabs = windowTabs || wt > 0
		pairs = append(pairs, pair{st, ss, wt, ws})
	}
	// One side must use tabs and the other none.
	if searchTabs == windowTabs {
		return nil, false
	}
	pts := make([]indentPoint, len(pairs))
	for i, p := range pairs {
		if searchTabs {
			pts[i] = indentPoint{tabs: p.st, align: p.ss, width: p.ws}
		} else {
			pts[i] = indentPoint{tabs: p.wt, align: p.ws, width: p.ss}
		}
	}
	u, c, ok := indentFit(pts)
	if !ok {
		return nil, false
	}
	out := make([]string, len(replace))
	for i, r := range replace {
		tabs, spaces, rest, ok := indentOf(r)
		switch {
		case isBlank(r) || !ok:
			out[i] = r
		case searchTabs: // to spaces
			out[i] = strings.Repeat(" ", max(0, u*tabs+c+spaces)) + rest
		case tabs > 0: // already tabs: the model mixed styles; leave it
			out[i] = r
		default: // to tabs, what does not make a whole level staying spaces
			width := max(0, spaces-c)
			out[i] = strings.Repeat("\t", width/u) + strings.Repeat(" ", width%u) + rest
		}
	}
	return out, true
}

// indentPoint is one line's indentation on both sides: tabs and alignment spaces on the tab side,
// the width in spaces on the other.
type indentPoint struct{ tabs, align, width int }

// indentFit finds the indent unit u and offset c with width = u*tabs + c + align for every
// point. With a single indentation level in the block the
// offset is taken to be 0.
func indentFit(pts []indentPoint) (u, c int, ok bool) {
	if len(pts) == 0 {
		return 0, 0, false
	}
	a := pts[0]
	u = -1
	for _, b := range pts[1:] {
		if b.tabs != a.tabs {
			dy, dt := (b.width-b.align)-(a.width-a.align), b.tabs-a.tabs
			if dy%dt != 0 {
				return 0, 0, false
			}
			u = dy / dt
			break
		}
	}
	if u == -1 { // one level only
		if a.tabs == 0 || (a.width-a.align)%a.tabs != 0 {
			return 0, 0, false
		}
		u = (a.width - a.align) / a.tabs
	}
	if u < 1 || u > 8 {
		return 0, 0, false
	}
	c = a.width - a.align - u*a.tabs
	if c%u != 0 { // a shift is by whole levels
		return 0, 0, false
	}
	for _, p := range pts {
		if p.width != u*p.tabs+c+p.align {
			return 0, 0, false
		}
	}
	return u, c, true
}

// indentOf splits a line into its leading tabs, the spaces that follow them and the rest. ok is
// false for indentation of another shape (a tab after a space), whose width is anyone's guess.
func indentOf(s string) (tabs, spaces int, rest string, ok bool) {
	tabs = leading(s, '\t')
	spaces = leading(s[tabs:], ' ')
	rest = s[tabs+spaces:]
	return tabs, spaces, rest, rest == "" || (rest[0] != '\t' && rest[0] != ' ')
}

// blankEdges counts the blank lines at the start and end of lines; for all-blank lines lead is
// len(lines).
func blankEdges(lines []string) (lead, trail int) {
	for lead < len(lines) && isBlank(lines[lead]) {
		lead++
	}
	if lead == len(lines) {
		return lead, 0
	}
	for trail < len(lines) && isBlank(lines[len(lines)-1-trail]) {
		trail++
	}
	return lead, trail
}

// Snippet is a window of a file's lines shown to the model.
type Snippet struct {
	Start int      // 1-based number of the first line
	Lines []string // without line endings
	// Similarity to the SEARCH section, from 0 to 1.
	Similarity float64
}

// Closest-match limits: below minSimilarity nothing is worth showing, and past maxClosestWork the
// search is skipped rather than stall the agent. The work is counted in bytes merged: every file
// byte against each SEARCH line, every SEARCH byte against each file line.
const (
	minSimilarity  = 0.5
	maxClosestWork = 128 << 20
)

// closest finds the window of len(search) lines in file most similar to search, comparing line by
// line with a whitespace-blind bigram similarity. It returns nil when nothing comes close.
func closest(file, search []string) *Snippet {
	lead, trail := blankEdges(search)
	if lead < len(search) {
		search = search[lead : len(search)-trail]
	}
	if len(search) == 0 || len(file) == 0 {
		return nil
	}
	fileBytes, searchBytes := 0, 0
	for _, l := range file {
		fileBytes += len(l) + 1
	}
	for _, l := range search {
		searchBytes += len(l) + 1
	}
	if fileBytes*len(search)+searchBytes*len(file) > maxClosestWork {
		return nil
	}
	sg := make([][]uint16, len(search))
	for i, s := range search {
		sg[i] = bigrams(s)
	}
	fg := make([][]uint16, len(file))
	for i, f := range file {
		fg[i] = bigrams(f)
	}
	n := min(len(search), len(file))
	best, bestAt := -1.0, 0
	for at := 0; at+n <= len(file); at++ {
		total := 0.0
		for j := range n {
			total += similarity(file[at+j], search[j], fg[at+j], sg[j])
		}
		if score := total / float64(len(search)); score > best {
			best, bestAt = score, at
		}
	}
	if best < minSimilarity {
		return nil
	}
	return &Snippet{Start: bestAt + 1, Lines: slices.Clone(file[bestAt : bestAt+n]), Similarity: best}
}

// similarity is the Dice coefficient of two lines' character bigrams, ignoring whitespace.
func similarity(a, b string, ag, bg []uint16) float64 {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	switch {
	case a == b:
		return 1
	case len(ag)+len(bg) == 0:
		return 0
	}
	common, i, j := 0, 0, 0
	for i < len(ag) && j < len(bg) {
		switch {
		case ag[i] == bg[j]:
			common++
			i++
			j++
		case ag[i] < bg[j]:
			i++
		default:
			j++
		}
	}
	return 2 * float64(common) / float64(len(ag)+len(bg))
}

// bigrams returns the sorted byte bigrams of s with whitespace removed.
func bigrams(s string) []uint16 {
	s = strings.Join(strings.Fields(s), "")
	if len(s) < 2 {
		return nil
	}
	g := make([]uint16, len(s)-1)
	for i := range g {
		g[i] = uint16(s[i])<<8 | uint16(s[i+1])
	}
	slices.Sort(g)
	return g
}
