package gitops

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBranchName(t *testing.T) {
	t.Parallel()
	w := newWorkspaces(t)
	const id = "0190d7a2-5b1c-7e3f-9a4b-123456789abc"
	tests := []struct {
		name, taskID, title, want string
	}{
		{"plain", id, "Add rate limiting to the login handler", "vibecoder/" + id + "-add-rate-limiting-to-the-login-handler"},
		{"punctuation", "42", "Fix: /api/v1/login returns 500 (again!)...", "vibecoder/42-fix-api-v1-login-returns-500-again"},
		{"accents", "42", "Crème brûlée für Straße — Ærø", "vibecoder/42-creme-brulee-fur-strasse-aero"},
		{"apostrophes", "42", "Don't crash when the user's name is empty", "vibecoder/42-dont-crash-when-the-users-name-is-empty"},
		{"other scripts dropped", "42", "修复 login 的 bug 🚀", "vibecoder/42-login-bug"},
		{"nothing left", "42", "日本語のタイトル", "vibecoder/42-task"},
		{"empty title", "42", "", "vibecoder/42-task"},
		{"only punctuation", "42", "...///***", "vibecoder/42-task"},
		{"long title cut between words", "42", "Refactor the authentication middleware so that sessions and API keys share one code path",
			"vibecoder/42-refactor-the-authentication-middleware"},
		{"one long word cut", "42", strings.Repeat("a", 60), "vibecoder/42-" + strings.Repeat("a", MaxSlugLen)},
		{"git-hostile", "42", "x.lock ..foo @{bar} ~^:?*[ \\ end.", "vibecoder/42-x-lock-foo-bar-end"},
		{"upper-case id", "ABC-123", "Title", "vibecoder/abc-123-title"},
		{"hostile id", "../../etc", "Title", "vibecoder/etc-title"},
		{"empty id", "", "Title", "vibecoder/task-title"},
		{"fullwidth", "42", "ＡＢＣ ｆｉｘ", "vibecoder/42-abc-fix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := BranchName(tt.taskID, tt.title)
			if got != tt.want {
				t.Errorf("BranchName(%q, %q) = %q, want %q", tt.taskID, tt.title, got, tt.want)
			}
			if slug := strings.TrimPrefix(got, "vibecoder/"); len(slug) > len(tt.taskID)+1+MaxSlugLen && tt.taskID != "" {
				t.Errorf("too long: %q", got)
			}
			if err := w.CheckBranch(t.Context(), got); err != nil {
				t.Errorf("git refuses %q: %v", got, err)
			}
		})
	}
}

func TestSlugLength(t *testing.T) {
	t.Parallel()
	for _, title := range []string{
		strings.Repeat("word ", 30), strings.Repeat("abcdefghij-", 10), "a " + strings.Repeat("b", 50),
	} {
		if s := Slug(title); len(s) > MaxSlugLen || s == "" || strings.HasSuffix(s, "-") || strings.HasPrefix(s, "-") {
			t.Errorf("Slug(%q) = %q", title, s)
		}
	}
}

func TestCommitMessage(t *testing.T) {
	t.Parallel()
	long := "Refactor the authentication middleware so that sessions and API keys share exactly one code path"
	tests := []struct {
		name, title, description, want string
	}{
		{"title only", "add rate limiting to the login handler.", "", "Add rate limiting to the login handler"},
		{"with description", "Add rate limiting", "Limit logins to 5 per minute per IP.\nReturn 429 with Retry-After.",
			"Add rate limiting\n\nLimit logins to 5 per minute per IP. Return 429 with Retry-After."},
		{"please", "Please fix the flaky test!", "", "Fix the flaky test"},
		{"whitespace", "  Fix   the\tbug  ", "", "Fix the bug"},
		{"markdown heading", "## Update docs", "", "Update docs"},
		{"empty", "", "", "Apply changes made by Vibe Coder"},
		{"description only", "", "improve error messages.\n\nThey should name the file.", "Improve error messages\n\nThey should name the file."},
		{"multi-line title", "Fix login\nAlso the logout", "", "Fix login\n\nAlso the logout"},
		{"long title", long, "", "Refactor the authentication middleware so that sessions and API keys\n\n" +
			"Refactor the authentication middleware so that sessions and API keys\nshare exactly one code path"},
		{"structure kept", "Add limiter", "Steps:\n- add a limiter\n- wire it in\n\n```go\nfunc   Limit() {}\n```\n\n\n\nDone.",
			"Add limiter\n\nSteps:\n- add a limiter\n- wire it in\n\n```go\nfunc   Limit() {}\n```\n\nDone."},
		{"crlf", "Fix it\r\n", "Line one\r\nline two\r\n", "Fix it\n\nLine one line two"},
		{"question kept", "Why does login fail?", "", "Why does login fail?"},
		{"unicode", "élargir le cache", "", "Élargir le cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := CommitMessage(tt.title, tt.description)
			if got != tt.want {
				t.Errorf("CommitMessage(%q, %q) =\n%s\nwant\n%s", tt.title, tt.description, got, tt.want)
			}
			subject, _, _ := strings.Cut(got, "\n")
			if n := utf8.RuneCountInString(subject); n > MaxSubjectLen || strings.HasSuffix(subject, ".") || subject == "" {
				t.Errorf("subject %q (%d characters)", subject, n)
			}
		})
	}
}

func TestCommitMessageWraps(t *testing.T) {
	t.Parallel()
	desc := strings.Repeat("lorem ipsum dolor sit amet ", 20) + "https://example.com/" + strings.Repeat("x", 90)
	msg := CommitMessage("Wrap", desc)
	for _, line := range strings.Split(msg, "\n") {
		if utf8.RuneCountInString(line) > 72 && !strings.HasPrefix(line, "https://") {
			t.Errorf("line too long: %q", line)
		}
	}
	if !strings.Contains(msg, "\nhttps://example.com/"+strings.Repeat("x", 90)) {
		t.Errorf("the URL was broken:\n%s", msg)
	}
}
