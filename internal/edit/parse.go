package edit

import (
	"fmt"
	"strings"
	"unicode"
)

// Edit is one change the model asked for.
type Edit struct {
	// Path is the file's path as the model wrote it, relative to the workspace root; Apply vets it.
	Path string
	// Search holds the lines to find and Replace the lines to put in their place, each line ending
	// in "\n". An empty Search creates the file (or fills an empty one) with Replace.
	Search  string
	Replace string
	// NewFile marks the whole-file form ("NEW FILE: path" and a fenced block); Replace is the
	// content and Search is empty. It applies like an empty Search.
	NewFile bool
	// Line is the 1-based line of the answer holding the block's SEARCH marker or NEW FILE header,
	// for messages.
	Line int
}

// ParseError is a block Parse could not read. Parse carries on after it, so the other blocks of the
// answer are still returned.
type ParseError struct {
	Line   int    // 1-based line of the answer where the problem is
	Path   string // the file the block was for, when known
	Reason string
}

func (e ParseError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("line %d (%s): %s", e.Line, e.Path, e.Reason)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

// The kinds of marker line.
const (
	notMarker = iota
	searchMarker
	dividerMarker
	replaceMarker
)

// pathLookback is how many non-blank lines above a block are searched for its path. Models put
// prose like "Change the handler:" between the path and the fence often enough to look past it.
const pathLookback = 3

// Parse reads every SEARCH/REPLACE block and whole new file from an LLM's answer, in order. Text
// outside blocks is ignored. The package documentation lists what it tolerates.
func Parse(answer string) ([]Edit, []ParseError) {
	lines := strings.Split(strings.ReplaceAll(answer, "\r\n", "\n"), "\n")
	p := parser{lines: lines}
	p.run()
	return p.edits, p.errs
}

type parser struct {
	lines    []string
	edits    []Edit
	errs     []ParseError
	prevPath string // path of the last block, for blocks that do not name one
	floor    int    // first line the path lookback may use: nothing above belongs to the next block
}

func (p *parser) fail(line int, path, format string, args ...any) {
	p.errs = append(p.errs, ParseError{Line: line + 1, Path: path, Reason: fmt.Sprintf(format, args...)})
}

func (p *parser) run() {
	i := 0
	for i < len(p.lines) {
		line := p.lines[i]
		switch markerKind(line) {
		case searchMarker:
			i = p.block(i)
			continue
		case replaceMarker:
			p.fail(i, "", "%q without a <<<<<<< SEARCH line before it", strings.TrimSpace(line))
			p.floor = i + 1
		}
		if path, isNew := parsePathLine(line); isNew && path != "" {
			i = p.newFile(i, path)
			continue
		}
		i++
	}
}

// block parses the SEARCH/REPLACE block whose SEARCH marker is at line start and returns the line
// to continue from.
func (p *parser) block(start int) int {
	path := p.findPath(start)
	if path != "" {
		// Even if this block turns out broken, the next one without a path continues its file.
		p.prevPath = path
	}
	var search, replace []string
	section := searchMarker
	for i := start + 1; i < len(p.lines); i++ {
		line := p.lines[i]
		kind := markerKind(line)
		switch {
		case kind == notMarker && section == searchMarker:
			search = append(search, line)
		case kind == notMarker:
			replace = append(replace, line)
		case kind == dividerMarker && section == searchMarker:
			section = replaceMarker
		case kind == replaceMarker && section == replaceMarker:
			p.floor = i + 1
			if path == "" {
				p.fail(start, "", "no file path before the block: write the path alone on the line above the opening fence")
				return i + 1
			}
			p.edits = append(p.edits, Edit{Path: path, Search: joinLines(search), Replace: joinLines(replace), Line: start + 1})
			return i + 1
		case kind == searchMarker:
			// Most likely the block was cut short; re-read from the new marker so that block survives,
			// letting it look back into this one for the path the model wrote above it.
			p.fail(start, path, "block is not terminated: a new <<<<<<< SEARCH starts at line %d before this block's %s",
				i+1, missingMarker(section))
			p.floor = start + 1
			return i
		case kind == replaceMarker:
			p.fail(start, path, "block has no ======= line between SEARCH and REPLACE (>>>>>>> REPLACE at line %d)", i+1)
			p.floor = i + 1
			return i + 1
		default: // a second divider
			p.fail(start, path, "block has a second ======= line (line %d); a block holds one SEARCH and one REPLACE section", i+1)
			p.floor = i + 1
			return p.skipTo(i+1, replaceMarker)
		}
	}
	p.fail(start, path, "block is not terminated: the answer ends before %s", missingMarker(section))
	return len(p.lines)
}

// missingMarker names the marker that ends a section.
func missingMarker(section int) string {
	if section == searchMarker {
		return "======="
	}
	return ">>>>>>> REPLACE"
}

// skipTo returns the line after the next marker of the given kind, or the line of the next SEARCH
// marker if that comes first, so one malformed block does not swallow the next.
func (p *parser) skipTo(from, kind int) int {
	for i := from; i < len(p.lines); i++ {
		switch markerKind(p.lines[i]) {
		case kind:
			p.floor = i + 1
			return i + 1
		case searchMarker:
			p.floor = i
			return i
		}
	}
	return len(p.lines)
}

// findPath looks above the SEARCH marker at line start for the file's path, stopping at the end of
// the previous block; without one the block continues the previous block's file.
func (p *parser) findPath(start int) string {
	seen := 0
	for i := start - 1; i >= p.floor && seen < pathLookback; i-- {
		line := strings.TrimSpace(p.lines[i])
		if line == "" || isFence(line) {
			continue
		}
		seen++
		path, _ := parsePathLine(line)
		if path == "" {
			continue
		}
		// A bare word ("Makefile") is a path only right above the block and without a colon, so
		// that prose such as "Changes:" is not mistaken for one.
		if strings.ContainsAny(path, "./") || (seen == 1 && !strings.HasSuffix(line, ":")) {
			return path
		}
	}
	return p.prevPath
}

// newFile parses the whole-file form whose "NEW FILE:" header is at line header and returns the
// line to continue from. When the header is followed by a SEARCH/REPLACE block instead, it returns
// that block's SEARCH marker, and the block finds the path in the header itself. (Jumping straight
// there, rather than to the next line, keeps headers piled up in an unclosed fence linear.)
func (p *parser) newFile(header int, path string) int {
	open := header + 1
	for open < len(p.lines) && strings.TrimSpace(p.lines[open]) == "" {
		open++
	}
	if open == len(p.lines) || !isFence(p.lines[open]) {
		if open < len(p.lines) && markerKind(p.lines[open]) == searchMarker {
			return open
		}
		p.fail(header, path, "NEW FILE is not followed by a fenced code block with the file's content")
		p.floor = header + 1
		return header + 1
	}
	marks := strings.TrimSpace(p.lines[open])
	char := marks[0]
	width := leading(marks, char)
	var body []string
	for i := open + 1; i < len(p.lines); i++ {
		line := p.lines[i]
		if markerKind(line) == searchMarker {
			return i
		}
		if closesFence(line, char, width) {
			p.floor = i + 1
			p.prevPath = path
			p.edits = append(p.edits, Edit{Path: path, Replace: joinLines(body), NewFile: true, Line: header + 1})
			return i + 1
		}
		body = append(body, line)
	}
	p.fail(header, path, "the code block of NEW FILE is not closed")
	return len(p.lines)
}

// markerKind tells which marker line, if any, line is. Counts from 5 to 9 are accepted because
// models miscount the seven characters; the words are matched in any case.
func markerKind(line string) int {
	s := strings.TrimSpace(line)
	if len(s) < 5 {
		return notMarker
	}
	c := s[0]
	n := leading(s, c)
	if n < 5 || n > 9 {
		return notMarker
	}
	rest := strings.TrimSpace(s[n:])
	switch {
	case c == '<' && strings.EqualFold(rest, "SEARCH"):
		return searchMarker
	case c == '=' && rest == "":
		return dividerMarker
	case c == '>' && strings.EqualFold(rest, "REPLACE"):
		return replaceMarker
	}
	return notMarker
}

// leading counts the bytes c at the start of s.
func leading(s string, c byte) int {
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	return n
}

// isFence reports whether line opens or closes a Markdown code block.
func isFence(line string) bool {
	s := strings.TrimSpace(line)
	return strings.HasPrefix(s, "```") || strings.HasPrefix(s, "~~~")
}

// closesFence reports whether line closes a fence opened with width characters c: the same
// character, at least as many, and nothing else.
func closesFence(line string, c byte, width int) bool {
	s := strings.TrimSpace(line)
	return len(s) >= width && strings.Trim(s, string(c)) == ""
}

// parsePathLine strips the decorations models put around a path ("### `a.go`:", "**File: a.go**")
// and returns the path, or "" when the line does not look like one, and whether the line was a
// "NEW FILE:" header.
func parsePathLine(line string) (path string, newFile bool) {
	s := strings.TrimSpace(line)
	if isFence(s) || len(s) > 1024 {
		return "", false
	}
	// The labels models put before a path; "new file " needs its space so that it does not eat
	// the start of "new filename.go".
	labels := []string{"new file:", "new file ", "filename:", "file path:", "filepath:", "file:", "path:"}
	for {
		before := s
		s = strings.TrimSpace(s)
		s = strings.TrimLeft(s, "#")
		s = strings.TrimPrefix(s, "- ")
		s = strings.Trim(s, "*`'\" \t")
		s = strings.TrimSuffix(s, ":")
		for _, label := range labels {
			if len(s) > len(label) && strings.EqualFold(s[:len(label)], label) {
				if strings.HasPrefix(strings.ToLower(label), "new file") {
					newFile = true
				}
				s = s[len(label):]
				break
			}
		}
		if s == before {
			break
		}
	}
	if s == "" || strings.IndexFunc(s, notPathRune) >= 0 {
		return "", newFile
	}
	return s, newFile
}

// notPathRune reports runes that a path the model may write cannot contain. Besides spaces this
// rules out code (calls, operators, quotes) that would otherwise pass for a path when it sits
// right above a block.
func notPathRune(r rune) bool {
	if unicode.IsLetter(r) || unicode.IsDigit(r) {
		return false
	}
	return !strings.ContainsRune("._-/+@~[]", r)
}

// joinLines is the inverse of splitting text into lines: every line ends in "\n".
func joinLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
