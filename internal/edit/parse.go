package edit

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"
)

// Format is the form the model wrote an edit in.
type Format int

// The accepted forms. SEARCH/REPLACE is the one [Instructions] asks for; the others are what
// models answer with anyway.
const (
	FormatSearchReplace Format = iota // a SEARCH/REPLACE block, or NEW FILE and a fenced block
	FormatWholeFile                   // a fenced block headed by the file's path: its complete new content
	FormatDiff                        // one hunk of a unified diff, or a diff that deletes a file
)

// Edit is one change the model asked for.
type Edit struct {
	// Path is the file's path as the model wrote it, relative to the workspace root; Apply vets it.
	Path string
	// Search holds the lines to find and Replace the lines to put in their place, each line ending
	// in "\n". An empty Search creates the file (or fills an empty one) with Replace. A diff hunk
	// becomes an edit whose Search is its context and removed lines and whose Replace is its
	// context and added lines. A whole file has its content in Replace and no Search.
	Search  string
	Replace string
	// NewFile marks an edit that creates a file: "NEW FILE: path" and a fenced block, or a diff
	// from /dev/null. Replace is the content and Search is empty. It applies like an empty
	// Search: an existing non-empty file is never overwritten by it.
	NewFile bool
	// Format is the form the edit was written in.
	Format Format
	// Delete marks a diff to /dev/null: the file is removed. Search holds the lines the diff
	// shows removed, for messages only.
	Delete bool
	// Hint is, for a diff hunk, the line its @@ header says it starts at (0 when it says
	// nothing). Models get these numbers wrong, so it only chooses among several places where
	// the hunk matches equally well.
	Hint int
	// Line is the 1-based line of the answer holding the block's SEARCH marker, NEW FILE header,
	// whole file's path or the diff hunk's @@ header, for messages.
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

// Parse reads every SEARCH/REPLACE block, whole file and unified diff from an LLM's answer, in
// order. Text outside them is ignored. The package documentation lists what it tolerates.
func Parse(answer string) ([]Edit, []ParseError) {
	lines := strings.Split(strings.ReplaceAll(answer, "\r\n", "\n"), "\n")
	p := parser{lines: lines, fences: pairFences(lines), fenceEnd: -1}
	p.run()
	return p.edits, p.errs
}

type parser struct {
	lines    []string
	edits    []Edit
	errs     []ParseError
	prevPath string // path of the last block, for blocks that do not name one
	floor    int    // first line the path lookback may use: nothing above belongs to the next block
	// fences maps the line of each Markdown code fence that opens a block to the line that
	// closes it, pairing them as a Markdown reader would; fenceEnd is the closing line of the
	// last block run entered.
	fences   map[int]int
	fenceEnd int
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
		if strings.HasPrefix(line, "--- ") && i+1 < len(p.lines) && strings.HasPrefix(p.lines[i+1], "+++ ") {
			i = p.diff(i)
			continue
		}
		if end, ok := p.fences[i]; ok {
			if next, taken := p.fenced(i, end); taken {
				i = next
				continue
			}
			p.fenceEnd = end
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

// fenced reads the code block from the fence at line open to its closing fence at line end as
// a whole file, or as a diff made only of @@ hunks, when a path heads it: in the fence's info
// string ("```go calc.go", "```calc.go") or alone on the line right above the fence. A block
// holding SEARCH/REPLACE markers or a diff with ---/+++ headers is left to the rest of the
// parser, and so is one without such a path: that is an example, not a file. It returns the line
// to continue from and whether it took the block.
func (p *parser) fenced(open, end int) (int, bool) {
	marks := strings.TrimSpace(p.lines[open])
	width := leading(marks, marks[0])
	info := strings.TrimSpace(marks[width:])
	body := p.lines[open+1 : end]
	for _, l := range body {
		if k := markerKind(l); k == searchMarker || k == replaceMarker {
			return 0, false
		}
		// Only a fence with an info string can be here (a bare one would have closed the
		// block): a block that opens another inside it is not one file.
		if strings.HasPrefix(strings.TrimSpace(l), marks[:width]) {
			return 0, false
		}
	}
	path, pathLine := infoPath(info), open
	if path == "" && open > p.floor {
		path, pathLine = headerPath(p.lines[open-1]), open-1
	}
	if path == "" {
		return 0, false
	}
	lang, _, _ := strings.Cut(info, " ")
	if isDiffLang(lang) || diffHeaderIn(body) {
		first := ""
		for _, l := range body {
			if first = strings.TrimSpace(l); first != "" {
				break
			}
		}
		if diffHeaderIn(body) || !strings.HasPrefix(first, "@@") {
			return 0, false
		}
		hunks, _ := p.hunks(open+1, end, true)
		p.floor, p.prevPath = end+1, path
		for _, h := range hunks {
			p.edits = append(p.edits, h.edit(path))
		}
		return end + 1, true
	}
	p.floor, p.prevPath = end+1, path
	p.edits = append(p.edits, Edit{Path: path, Replace: joinLines(body), Format: FormatWholeFile, Line: pathLine + 1})
	return end + 1, true
}

// pairFences pairs the opening and closing lines of Markdown code blocks: a fence opens a block
// that the next fence of the same character, at least as long and with nothing after it,
// closes. A block that is never closed is left out.
func pairFences(lines []string) map[int]int {
	pairs := make(map[int]int)
	for i := 0; i < len(lines); i++ {
		if !isFence(lines[i]) {
			continue
		}
		marks := strings.TrimSpace(lines[i])
		char := marks[0]
		width := leading(marks, char)
		j := i + 1
		for j < len(lines) && !closesFence(lines[j], char, width) {
			j++
		}
		if j == len(lines) {
			break
		}
		pairs[i] = j
		i = j
	}
	return pairs
}

// infoPath returns the path a fence's info string names: "go calc.go", "calc.go", "go:calc.go"
// or "go title=calc.go". A lone word must have an extension, so that a language name such as
// "dockerfile" is not taken for a file.
func infoPath(info string) string {
	fields := strings.Fields(info)
	for i, f := range fields {
		if i > 1 {
			break
		}
		if _, after, ok := strings.Cut(f, "="); ok {
			f = after
		} else if _, after, ok := strings.Cut(f, ":"); ok && i == 0 {
			f = after
		}
		f = strings.Trim(f, `"'`+"`")
		if looksLikeFile(f) && (i == 1 || strings.Contains(path.Base(f), ".")) {
			return f
		}
	}
	return ""
}

// headerPath returns the path a line right above a fence names ("calc.go", "`calc.go`",
// "**calc.go**", "# calc.go", "File: calc.go"), or "" when the line is anything else.
func headerPath(line string) string {
	p, isNew := parsePathLine(line)
	if isNew || !looksLikeFile(p) {
		return ""
	}
	return p
}

// knownNames are file names without an extension that are still plainly files.
var knownNames = map[string]bool{
	"Makefile": true, "GNUmakefile": true, "makefile": true, "Dockerfile": true, "Containerfile": true,
	"Jenkinsfile": true, "Procfile": true, "Gemfile": true, "Rakefile": true, "Vagrantfile": true,
	"Justfile": true, "justfile": true, "Caddyfile": true, "LICENSE": true, "README": true,
	"CODEOWNERS": true, "BUILD": true, "WORKSPACE": true,
}

// looksLikeFile reports whether p reads as a file path: path characters only, and a base name
// with an extension (letters in it, and not in mixed case, which is a qualified identifier such
// as fmt.Println) or one of the known names.
func looksLikeFile(p string) bool {
	if p == "" || strings.IndexFunc(p, notPathRune) >= 0 {
		return false
	}
	base := path.Base(p)
	if knownNames[base] {
		return true
	}
	dot := strings.LastIndexByte(base, '.')
	if dot < 0 || dot == len(base)-1 {
		return false
	}
	ext := base[dot+1:]
	hasLetter := strings.IndexFunc(ext, unicode.IsLetter) >= 0
	mixed := strings.IndexFunc(ext, unicode.IsUpper) >= 0 && strings.IndexFunc(ext, unicode.IsLower) >= 0
	return hasLetter && !mixed
}

// isDiffLang reports whether a fence's language says its content is a diff.
func isDiffLang(lang string) bool {
	switch strings.ToLower(lang) {
	case "diff", "patch", "udiff":
		return true
	}
	return false
}

// diffHeaderIn reports whether lines hold a unified diff's file header: a "--- " line right
// above a "+++ " line.
func diffHeaderIn(lines []string) bool {
	for i := 0; i+1 < len(lines); i++ {
		if strings.HasPrefix(lines[i], "--- ") && strings.HasPrefix(lines[i+1], "+++ ") {
			return true
		}
	}
	return false
}

// diff parses the unified diff of one file whose "--- " header is at line start (the "+++ "
// line follows it) and returns the line to continue from. The @@ headers' line numbers and
// counts are not trusted: a hunk runs as long as its lines look like hunk lines.
func (p *parser) diff(start int) int {
	oldPath, oldNull := diffHeaderPath(p.lines[start][4:])
	newPath, newNull := diffHeaderPath(p.lines[start+1][4:])
	end := len(p.lines)
	fenced := start < p.fenceEnd
	if fenced {
		end = p.fenceEnd
	}
	hunks, next := p.hunks(start+2, end, fenced)
	p.floor = next
	path := newPath
	switch {
	case oldNull && newNull:
		p.fail(start, "", "the diff goes from /dev/null to /dev/null")
		return next
	case newNull:
		path = oldPath
	case !oldNull && oldPath != newPath:
		p.fail(start, newPath, "the diff renames %s to %s, which is not supported: create the new file and delete the old one", oldPath, newPath)
		return next
	}
	if path == "" || strings.IndexFunc(path, notPathRune) >= 0 {
		p.fail(start, "", "the diff's file name %q is not a path relative to the repository root (no spaces or quotes)", path)
		return next
	}
	p.prevPath = path
	switch {
	case newNull:
		var removed []string
		for _, h := range hunks {
			removed = append(removed, h.search...)
		}
		p.edits = append(p.edits, Edit{Path: path, Search: joinLines(removed), Delete: true, Format: FormatDiff, Line: start + 1})
	case oldNull:
		var added []string
		for _, h := range hunks {
			added = append(added, h.replace...)
		}
		p.edits = append(p.edits, Edit{Path: path, Replace: joinLines(added), NewFile: true, Format: FormatDiff, Line: start + 1})
	case len(hunks) == 0:
		p.fail(start, path, "the diff has no @@ hunks")
	default:
		for _, h := range hunks {
			p.edits = append(p.edits, h.edit(path))
		}
	}
	return next
}

// hunk is one @@ section of a diff: the lines it expects (context and removed) and the lines it
// leaves (context and added).
type hunk struct {
	search, replace []string
	hint, line      int // the start line its header claims, and the answer's line of the header
}

func (h hunk) edit(path string) Edit {
	return Edit{Path: path, Search: joinLines(h.search), Replace: joinLines(h.replace), Format: FormatDiff, Hint: h.hint, Line: h.line}
}

// hunks reads the hunks of one file's diff from line from, stopping before line end, the next
// file's header, a fence or the first line that is not part of a hunk, and returns them with the
// line it stopped at. Inside a fenced diff a line without a prefix is taken as a context line
// whose leading space the model dropped; an empty line is a blank context line wherever more of
// the hunk follows it.
func (p *parser) hunks(from, end int, fenced bool) ([]hunk, int) {
	var hs []hunk
	blanks := 0
	i := from
	for ; i < end; i++ {
		l := p.lines[i]
		if strings.HasPrefix(l, "--- ") && i+1 < end && strings.HasPrefix(p.lines[i+1], "+++ ") ||
			strings.HasPrefix(l, "diff --git ") || isFence(l) {
			break
		}
		if strings.HasPrefix(l, "@@") {
			hs = append(hs, hunk{hint: hunkStart(l), line: i + 1})
			blanks = 0
			continue
		}
		if l == "" {
			blanks++
			continue
		}
		if len(hs) == 0 {
			// A hunk without an @@ header begins at its first change line.
			if !strings.ContainsRune(" -+", rune(l[0])) {
				if fenced {
					continue // git's "index" and "new file mode" lines and the like
				}
				break
			}
			hs = append(hs, hunk{line: i + 1})
			blanks = 0
		}
		if !fenced && !strings.ContainsRune(" -+\\", rune(l[0])) {
			break
		}
		h := &hs[len(hs)-1]
		for ; blanks > 0; blanks-- {
			h.search, h.replace = append(h.search, ""), append(h.replace, "")
		}
		switch l[0] {
		case ' ':
			h.search, h.replace = append(h.search, l[1:]), append(h.replace, l[1:])
		case '-':
			h.search = append(h.search, l[1:])
		case '+':
			h.replace = append(h.replace, l[1:])
		case '\\': // "\ No newline at end of file"
		default:
			h.search, h.replace = append(h.search, l), append(h.replace, l)
		}
	}
	return hs, i
}

// hunkStart returns the line an @@ header says the hunk starts at in the new file (which is
// where it starts in the file once the hunks above it are applied), or in the old file when the
// new side is missing, or 0.
func hunkStart(header string) int {
	start := 0
	for _, f := range strings.Fields(strings.Trim(header, "@ ")) {
		if len(f) < 2 || (f[0] != '-' && f[0] != '+') {
			continue
		}
		num, _, _ := strings.Cut(f[1:], ",")
		if n, err := strconv.Atoi(num); err == nil && n > 0 {
			start = n
			if f[0] == '+' {
				return start
			}
		}
	}
	return start
}

// diffHeaderPath reads the path of a "--- " or "+++ " line (without those four bytes): a
// timestamp after a tab is dropped, and so is git's "a/" or "b/" prefix. null reports
// /dev/null.
func diffHeaderPath(s string) (path string, null bool) {
	s, _, _ = strings.Cut(s, "\t")
	s = strings.TrimSpace(s)
	if s == "/dev/null" {
		return "", true
	}
	if strings.HasPrefix(s, "a/") || strings.HasPrefix(s, "b/") {
		s = s[2:]
	}
	return s, false
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
