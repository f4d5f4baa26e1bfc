package edit

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vibecoder/vibecoder/internal/safefs"
)

// maxFileSize bounds the files Apply reads: source files are far smaller, and a model has no business
// editing a multi-megabyte blob through SEARCH/REPLACE.
const maxFileSize = 8 << 20

// Result is what Apply did.
type Result struct {
	Applied []Applied // in the order of the edits
	Failed  []Failure // in the order of the edits
	// Files lists the files written or deleted, relative to the root with symbolic links
	// resolved, in the order first edited.
	Files []string
}

// Applied is an edit that was written.
type Applied struct {
	Edit Edit
	Line int       // 1-based line of the file where the replacement starts
	How  MatchKind // how loosely SEARCH matched; MatchExact for new files
}

// Failure is an edit that was not applied and why, worded for the model.
type Failure struct {
	Edit   Edit
	Reason string
	// NotFound is set when SEARCH matched nowhere in the file; Closest is then the window of the
	// file most like it, if anything came close.
	NotFound bool
	Closest  *Snippet
}

// Apply applies edits to the files under root, in order; edits of the same file apply one after
// another to its content in memory, and the file is then written once, via a temporary file renamed
// over it, so it is never left half-written. Edits that fail are reported in the Result and the
// others still apply. A file with mostly CRLF line endings is matched as LF and written back with
// CRLF throughout. The error is for a root that cannot be used at all.
func Apply(root string, edits []Edit) (Result, error) {
	realRoot, err := resolveRoot(root)
	if err != nil {
		return Result{}, err
	}
	r, err := os.OpenRoot(realRoot)
	if err != nil {
		return Result{}, fmt.Errorf("open workspace root: %w", err)
	}
	defer r.Close()

	var res Result
	failed := make(map[int]Failure) // by index in edits, so the Result keeps the edits' order
	applied := make(map[int]Applied)
	byFile := make(map[string][]int)
	var files []string
	for i, e := range edits {
		full, err := safePath(realRoot, e.Path)
		if err != nil {
			failed[i] = Failure{Edit: e, Reason: err.Error()}
			continue
		}
		rel, err := filepath.Rel(realRoot, full)
		if err != nil {
			failed[i] = Failure{Edit: e, Reason: err.Error()}
			continue
		}
		if _, ok := byFile[rel]; !ok {
			files = append(files, rel)
		}
		byFile[rel] = append(byFile[rel], i)
	}
	for _, rel := range files {
		if applyFile(r, rel, edits, byFile[rel], applied, failed) {
			res.Files = append(res.Files, filepath.ToSlash(rel))
		}
	}
	for _, i := range slices.Sorted(maps.Keys(applied)) {
		res.Applied = append(res.Applied, applied[i])
	}
	for _, i := range slices.Sorted(maps.Keys(failed)) {
		res.Failed = append(res.Failed, failed[i])
	}
	return res, nil
}

// applyFile applies the edits at indexes idx, all for the file rel, and writes the file if any
// applied (or removes it, if the last of them deleted it). It reports whether the file changed.
func applyFile(r *os.Root, rel string, edits []Edit, idx []int, applied map[int]Applied, failed map[int]Failure) bool {
	failAll := func(reason string) {
		for _, i := range idx {
			failed[i] = Failure{Edit: edits[i], Reason: reason}
		}
	}
	content, perm, exists, err := readFile(r, rel)
	if err != nil {
		failAll(err.Error())
		return false
	}
	crlf := strings.Count(content, "\r\n")*2 > strings.Count(content, "\n")
	if crlf {
		content = strings.ReplaceAll(content, "\r\n", "\n")
	}
	original, existed := content, exists
	var done, unmatched []int
	for _, i := range idx {
		next, a, f := applyOne(content, exists, edits[i])
		switch {
		case f != nil:
			failed[i] = *f
		case a == nil:
			unmatched = append(unmatched, i)
		default:
			content, exists = next, !edits[i].Delete
			applied[i] = *a
			done = append(done, i)
		}
	}
	written := false
	// An empty new file is still a file, and a deleted one a change.
	if len(done) > 0 && (content != original || exists != existed) {
		var err error
		if exists {
			out := content
			if crlf {
				out = strings.ReplaceAll(out, "\n", "\r\n")
			}
			err = writeFile(r, rel, out, perm)
		} else {
			err = unwrapPath(r.Remove(rel))
		}
		if err != nil {
			for _, i := range done {
				delete(applied, i)
				failed[i] = Failure{Edit: edits[i], Reason: fmt.Sprintf("the edit matched but the file could not be written: %v", err)}
			}
			content = original
		} else {
			written = true
		}
	}
	// The model is asked to retry against the file as it is now, so line numbers and the closest
	// lines come from that, not from the content when the edit's turn came.
	for _, i := range unmatched {
		failed[i] = diagnose(content, edits[i])
	}
	return written
}

// readFile reads rel through the root. A missing file is not an error: it reads as empty with
// exists false.
func readFile(r *os.Root, rel string) (content string, perm fs.FileMode, exists bool, err error) {
	info, err := r.Stat(rel)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", 0o644, false, nil
	case err != nil:
		return "", 0, false, fmt.Errorf("cannot read the file: %v", unwrapPath(err))
	case info.IsDir():
		return "", 0, false, errors.New("the path is a directory, not a file")
	case !info.Mode().IsRegular():
		return "", 0, false, errors.New("the path is not a regular file")
	}
	// Opened without blocking and checked again on the open file: what the name
	// means may have changed since the Stat.
	data, info, err := safefs.ReadIn(r, rel, maxFileSize)
	switch {
	case errors.Is(err, safefs.ErrTooLarge):
		return "", 0, false, fmt.Errorf("the file is too large to edit (over %d bytes)", maxFileSize)
	case errors.Is(err, safefs.ErrNotRegular):
		return "", 0, false, errors.New("the path is not a regular file")
	case err != nil:
		return "", 0, false, fmt.Errorf("cannot read the file: %v", unwrapPath(err))
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return "", 0, false, errors.New("the file is binary and cannot be edited with SEARCH/REPLACE")
	}
	return string(data), info.Mode().Perm(), true, nil
}

// unwrapPath drops the *PathError wrapper, whose absolute path means nothing to the model.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// applyOne applies one edit to a file's content (LF line endings) and returns the new content. It
// returns a failure for an edit that cannot apply, and neither a failure nor an Applied when
// SEARCH is not found once, for [diagnose] to explain.
func applyOne(content string, exists bool, e Edit) (string, *Applied, *Failure) {
	fail := func(reason string) (string, *Applied, *Failure) {
		return "", nil, &Failure{Edit: e, Reason: reason}
	}
	diff := e.Format == FormatDiff
	switch {
	case e.Delete:
		if !exists {
			return fail("the diff deletes the file (+++ /dev/null), but there is no such file")
		}
		return "", &Applied{Edit: e, Line: 1, How: MatchExact}, nil
	case e.Format == FormatWholeFile:
		if strings.TrimSpace(content) != "" {
			if strings.TrimSpace(e.Replace) == "" {
				return fail("the code block under the path is empty; it would erase the file. To remove lines, use a SEARCH/REPLACE block")
			}
			if l := elision(e.Replace); l != "" {
				return fail(fmt.Sprintf("the file was written whole but with code left out (%q); a file written whole must be complete. "+
					"To change part of a file, use SEARCH/REPLACE blocks", l))
			}
		}
		return e.Replace, &Applied{Edit: e, Line: 1, How: MatchExact}, nil
	}
	// A SEARCH of blank lines only means nothing too: models put an empty line there.
	if strings.TrimSpace(e.Search) == "" {
		if strings.TrimSpace(content) != "" {
			switch {
			case diff && e.NewFile:
				return fail("the diff creates the file (--- /dev/null), but it already exists and is not empty; write the diff against its current content")
			case diff:
				return fail("the hunk has no context or removed lines to find its place by; include the unchanged lines around the change")
			}
			return fail("the file already exists and is not empty; to change it, put the lines to replace in the SEARCH section")
		}
		return e.Replace, &Applied{Edit: e, Line: 1, How: MatchExact}, nil
	}
	if !exists {
		if diff {
			return fail("the file does not exist; a diff that creates a file starts with --- /dev/null")
		}
		return fail("the file does not exist; to create it, leave the SEARCH section empty or use NEW FILE")
	}
	file, finalNewline := splitLines(content)
	search, _ := splitLines(e.Search)
	replace, _ := splitLines(e.Replace)
	m, ambiguous := locate(file, search, replace)
	if m.at < 0 && e.Hint > 0 {
		m = nearest(ambiguous, e.Hint)
	}
	if m.at < 0 {
		return "", nil, nil
	}
	out := slices.Concat(file[:m.at], m.replace, file[m.at+m.n:])
	next := strings.Join(out, "\n")
	// Keep the file's final newline (or its absence), unless the edit removed everything.
	if len(out) > 0 && finalNewline {
		next += "\n"
	}
	return next, &Applied{Edit: e, Line: m.at + 1, How: m.kind}, nil
}

// nearest picks, of the places a diff hunk matches equally well, the one nearest the line its @@
// header names; none when two are as near.
func nearest(ms []match, hint int) match {
	best, bestDist, tie := match{at: -1}, -1, false
	for _, m := range ms {
		d := m.at + 1 - hint
		if d < 0 {
			d = -d
		}
		switch {
		case bestDist < 0 || d < bestDist:
			best, bestDist, tie = m, d, false
		case d == bestDist:
			tie = true
		}
	}
	if tie {
		return match{at: -1}
	}
	return best
}

// elision returns the first line of a file written whole that stands for code the model left
// out, such as "// ... rest of the file unchanged ...", or "".
func elision(content string) string {
	for line := range strings.SplitSeq(content, "\n") {
		t := strings.TrimSpace(line)
		comment := false
		for _, c := range []string{"//", "#", "/*", "<!--", "--", ";", "*"} {
			if strings.HasPrefix(t, c) {
				comment = true
				break
			}
		}
		if !comment || (!strings.Contains(t, "...") && !strings.Contains(t, "…")) {
			continue
		}
		lower := strings.ToLower(t)
		for _, w := range []string{"existing", "unchanged", "rest of", "remain", "same as", "omitted", "as before"} {
			if strings.Contains(lower, w) {
				return t
			}
		}
	}
	return ""
}

// diagnose explains why e's SEARCH section (or diff hunk) did not match, against content, the
// file's final state.
func diagnose(content string, e Edit) Failure {
	file, _ := splitLines(content)
	search, _ := splitLines(e.Search)
	m, ambiguous := locate(file, search, nil)
	what := "the SEARCH section"
	if e.Format == FormatDiff {
		what = "the hunk"
	}
	switch {
	case len(ambiguous) > 0:
		lines := make([]string, len(ambiguous))
		for i, a := range ambiguous {
			lines[i] = fmt.Sprint(a.at + 1)
		}
		return Failure{Edit: e, Reason: fmt.Sprintf(
			"%s matches %d places (starting at lines %s); add surrounding lines so it matches exactly one",
			what, len(ambiguous), strings.Join(lines, ", "))}
	case m.at >= 0:
		// Only when an edit after this one in the answer produced the lines.
		return Failure{Edit: e, Reason: fmt.Sprintf(
			"%s did not match when its turn came (edits apply in the order given); it now matches line %d", what, m.at+1)}
	}
	reason := "the SEARCH section does not match the file; it must copy the current lines exactly"
	if e.Format == FormatDiff {
		reason = "the hunk does not apply: its context and removed lines (those starting with a space or -) do not match the file; " +
			"they must copy the current lines exactly (the @@ line numbers are not used)"
	}
	return Failure{Edit: e, Reason: reason, NotFound: true, Closest: closest(file, search)}
}

// writeFile replaces rel with content: written to a temporary file in the same directory, synced,
// then renamed over rel, so readers see the old file or the new one and nothing in between.
func writeFile(r *os.Root, rel, content string, perm fs.FileMode) (err error) {
	dir := filepath.Dir(rel)
	if dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return unwrapPath(err)
		}
	}
	tmp := filepath.Join(dir, "."+filepath.Base(rel)+"."+rand.Text()[:12]+".tmp")
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return unwrapPath(err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = r.Remove(tmp)
			err = unwrapPath(err)
		}
	}()
	if _, err = f.WriteString(content); err != nil {
		return err
	}
	// The umask may have narrowed perm; an edited file keeps the mode it had.
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return r.Rename(tmp, rel)
}
