package edit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// ParseFailures turns parse errors into failures so that one [FailureReport] covers both.
func ParseFailures(errs []ParseError) []Failure {
	out := make([]Failure, len(errs))
	for i, e := range errs {
		out[i] = Failure{
			Edit:   Edit{Path: e.Path, Line: e.Line},
			Reason: fmt.Sprintf("the block at line %d of your answer could not be read: %s", e.Line, e.Reason),
		}
	}
	return out
}

// FailureReport words failures as the message that goes back to the model: each failed edit with
// its reason, the SEARCH section (or the diff hunk's expected lines) it sent and, when those were
// not found, the closest lines of the file with their numbers, in the order of the answer. It returns "" when there are no failures.
func FailureReport(failures []Failure) string {
	if len(failures) == 0 {
		return ""
	}
	failures = slices.Clone(failures)
	slices.SortStableFunc(failures, func(a, b Failure) int { return cmp.Compare(a.Edit.Line, b.Edit.Line) })
	var b strings.Builder
	if len(failures) == 1 {
		b.WriteString("1 edit failed and was not applied.")
	} else {
		fmt.Fprintf(&b, "%d edits failed and were not applied.", len(failures))
	}
	b.WriteString(" Edits not listed here were applied; do not send them again.\n" +
		"Send corrected SEARCH/REPLACE blocks for the failed edits only, written against the file as it is now.\n")
	for i, f := range failures {
		path := f.Edit.Path
		if path == "" {
			path = "(no path)"
		}
		fmt.Fprintf(&b, "\n## Failed edit %d: %s\n%s\n", i+1, path, f.Reason)
		switch {
		case f.Edit.Search == "" || f.Edit.Delete:
		case f.Edit.Format == FormatDiff:
			b.WriteString("\nThe lines your hunk expects in the file (its context and removed lines):\n")
			writeFenced(&b, strings.Split(strings.TrimSuffix(f.Edit.Search, "\n"), "\n"), 0)
		default:
			b.WriteString("\nYour SEARCH section:\n")
			writeFenced(&b, strings.Split(strings.TrimSuffix(f.Edit.Search, "\n"), "\n"), 0)
		}
		switch c := f.Closest; {
		case c != nil:
			fmt.Fprintf(&b, "\nThe closest lines in %s are lines %d-%d (line numbers are not part of the file):\n",
				path, c.Start, c.Start+len(c.Lines)-1)
			writeFenced(&b, c.Lines, c.Start)
		case f.NotFound:
			fmt.Fprintf(&b, "\nNothing in %s comes close; check the path and the file's current content.\n", path)
		}
	}
	return b.String()
}

// writeFenced writes lines in a code fence long enough not to be closed by any of them, numbered
// from start when start > 0.
func writeFenced(b *strings.Builder, lines []string, start int) {
	marks := fence
	for _, l := range lines {
		for strings.Contains(l, marks) {
			marks += "`"
		}
	}
	width := len(fmt.Sprint(start + len(lines) - 1))
	b.WriteString(marks + "\n")
	for i, l := range lines {
		if start > 0 {
			fmt.Fprintf(b, "%*d | ", width, start+i)
		}
		b.WriteString(l + "\n")
	}
	b.WriteString(marks + "\n")
}
