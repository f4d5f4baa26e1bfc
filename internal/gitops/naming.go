package gitops

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// BranchPrefix starts the name of every branch Vibe Coder makes.
const BranchPrefix = "vibecoder/"

// MaxSlugLen bounds the title part of a branch name.
const MaxSlugLen = 40

// BranchName is the branch for a task: vibecoder/<task id>-<slug of its title>. The
// result is always a valid git branch name.
func BranchName(taskID, title string) string {
	id := strings.Trim(keepOnly(strings.ToLower(taskID), func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-'
	}), "-")
	if id == "" {
		id = "task"
	}
	return BranchPrefix + id + "-" + Slug(title)
}

// foldings are letters that Unicode does not decompose into an ASCII letter and a mark.
var foldings = map[rune]string{
	'ß': "ss", 'æ': "ae", 'Æ': "ae", 'ø': "o", 'Ø': "o", 'œ': "oe", 'Œ': "oe", 'đ': "d", 'Đ': "d",
	'ł': "l", 'Ł': "l", 'þ': "th", 'Þ': "th", 'ð': "d", 'Ð': "d", 'ı': "i", 'ħ': "h", 'Ħ': "h",
}

// Slug turns a title into lowercase ASCII words joined by "-", at most MaxSlugLen
// characters, cut between words where it can: "Add rate-limiting to /login (Ünïcode)!"
// becomes "add-rate-limiting-to-login-unicode". Letters with accents lose them; other
// scripts, which have no ASCII spelling, are dropped. A title with nothing left gives
// "task".
func Slug(title string) string {
	var b strings.Builder
	for _, r := range norm.NFKD.String(title) {
		switch {
		case unicode.Is(unicode.Mn, r), r == '\'', r == '’', r == '`':
			// accents vanish; apostrophes join ("don't" → "dont")
		case r >= 'A' && r <= 'Z':
			b.WriteRune(unicode.ToLower(r))
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case foldings[r] != "":
			b.WriteString(foldings[r])
		default:
			b.WriteByte(' ')
		}
	}
	var slug string
	for _, w := range strings.Fields(b.String()) {
		switch {
		case slug == "":
			slug = w[:min(len(w), MaxSlugLen)]
		case len(slug)+1+len(w) <= MaxSlugLen:
			slug += "-" + w
		default:
			return slug
		}
	}
	if slug == "" {
		return "task"
	}
	return slug
}

func keepOnly(s string, keep func(rune) bool) string {
	return strings.Map(func(r rune) rune {
		if keep(r) {
			return r
		}
		return -1
	}, s)
}

// MaxSubjectLen bounds a commit message's subject line.
const MaxSubjectLen = 72

// CommitMessage derives a commit message from a task: a subject from the title (or
// the description's first line), at most MaxSubjectLen characters, capitalised and
// without a trailing period or a leading "Please"; then a blank line and a body made
// of whatever the subject left out of the title and the description, prose wrapped at
// 72 columns (lists, code and indented lines are kept as written).
func CommitMessage(title, description string) string {
	title = normalizeNewlines(title)
	description = normalizeNewlines(description)
	source, rest := title, description
	if strings.TrimSpace(title) == "" {
		source, rest = description, ""
	}
	first, more := firstLine(source)
	subject, cut := subjectLine(first)
	if subject == "" {
		subject = "Apply changes made by Vibe Coder"
	}
	var paras []string
	if cut {
		paras = append(paras, strings.Join(strings.Fields(first), " "))
	}
	if strings.TrimSpace(more) != "" {
		paras = append(paras, more)
	}
	if strings.TrimSpace(rest) != "" {
		paras = append(paras, rest)
	}
	body := wrapText(strings.Join(paras, "\n\n"), 72)
	if body == "" {
		return subject
	}
	return subject + "\n\n" + body
}

func normalizeNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// firstLine returns the first non-blank line of s and what follows it.
func firstLine(s string) (line, rest string) {
	s = strings.TrimLeft(s, " \t\n")
	line, rest, _ = strings.Cut(s, "\n")
	return line, rest
}

// subjectLine tidies a line into a subject; cut reports that words were dropped to fit.
func subjectLine(line string) (subject string, cut bool) {
	s := strings.Join(strings.Fields(line), " ")
	s = strings.TrimLeft(s, "#*->• ")
	for _, p := range []string{"please ", "pls "} {
		if len(s) > len(p) && strings.EqualFold(s[:len(p)], p) {
			s = s[len(p):]
		}
	}
	const trailing = " .,;:!…"
	s = strings.TrimRight(s, trailing)
	if utf8.RuneCountInString(s) > MaxSubjectLen {
		cut = true
		runes := []rune(s)[:MaxSubjectLen+1]
		i := len(runes) - 1
		for i > 0 && runes[i] != ' ' {
			i--
		}
		if i < MaxSubjectLen/2 { // one long word: cut it
			i = MaxSubjectLen
		}
		s = strings.TrimRight(string(runes[:i]), trailing)
	}
	if r, n := utf8.DecodeRuneInString(s); n > 0 && unicode.IsLower(r) {
		s = string(unicode.ToUpper(r)) + s[n:]
	}
	return s, cut
}

// wrapText reflows prose paragraphs to width and keeps structured lines (code fences
// and their contents, indented lines, list items, headings, quotes, tables) as they are.
func wrapText(s string, width int) string {
	var out []string
	var para []string
	flush := func() {
		if len(para) > 0 {
			out = append(out, fill(strings.Join(para, " "), width)...)
			para = nil
		}
	}
	inFence := false
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, " \t")
		trimmed := strings.TrimSpace(line)
		fence := strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")
		switch {
		case inFence || fence:
			flush()
			out = append(out, line)
			if fence {
				inFence = !inFence
			}
		case trimmed == "":
			flush()
			if len(out) > 0 && out[len(out)-1] != "" {
				out = append(out, "")
			}
		case structured(line):
			flush()
			out = append(out, line)
		default:
			para = append(para, trimmed)
		}
	}
	flush()
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

func structured(line string) bool {
	if line[0] == ' ' || line[0] == '\t' {
		return true
	}
	for _, p := range []string{"- ", "* ", "+ ", "#", ">", "|"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	// "1. item" or "1) item"
	i := 0
	for i < len(line) && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	return i > 0 && i+1 < len(line) && (line[i] == '.' || line[i] == ')') && line[i+1] == ' '
}

// fill breaks text into lines of at most width characters between words; a longer word
// (a URL) gets a line of its own.
func fill(text string, width int) []string {
	var lines []string
	var cur strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		wl := utf8.RuneCountInString(w)
		if n > 0 && n+1+wl > width {
			lines = append(lines, cur.String())
			cur.Reset()
			n = 0
		}
		if n > 0 {
			cur.WriteByte(' ')
			n++
		}
		cur.WriteString(w)
		n += wl
	}
	if n > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
