package gitops

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRepo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		remote string
		want   Repo
		api    string
	}{
		{"https://github.com/acme/widgets", Repo{"github.com", "acme", "widgets"}, DefaultGitHubAPI},
		{"https://github.com/acme/widgets.git", Repo{"github.com", "acme", "widgets"}, DefaultGitHubAPI},
		{"https://github.com/acme/widgets/", Repo{"github.com", "acme", "widgets"}, DefaultGitHubAPI},
		{"https://x-access-token:secret@github.com/acme/widgets.git", Repo{"github.com", "acme", "widgets"}, DefaultGitHubAPI},
		{"git@github.com:acme/widgets.git", Repo{"github.com", "acme", "widgets"}, DefaultGitHubAPI},
		{"git@github.com:acme/widgets", Repo{"github.com", "acme", "widgets"}, DefaultGitHubAPI},
		{"ssh://git@github.com/acme/widgets", Repo{"github.com", "acme", "widgets"}, DefaultGitHubAPI},
		{"ssh://git@github.com:22/acme/widgets.git", Repo{"github.com", "acme", "widgets"}, DefaultGitHubAPI},
		{"git://github.com/acme/widgets.git", Repo{"github.com", "acme", "widgets"}, DefaultGitHubAPI},
		{"https://GitHub.com/Acme/My.Repo-1_x.git", Repo{"github.com", "Acme", "My.Repo-1_x"}, DefaultGitHubAPI},
		{"https://ghe.example.com/platform/api.git", Repo{"ghe.example.com", "platform", "api"}, "https://ghe.example.com/api/v3"},
		{"git@ghe.example.com:platform/api.git", Repo{"ghe.example.com", "platform", "api"}, "https://ghe.example.com/api/v3"},
		{"file:///srv/git/acme/widgets.git", Repo{"", "acme", "widgets"}, DefaultGitHubAPI},
	}
	for _, tt := range tests {
		t.Run(tt.remote, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRepo(tt.remote)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseRepo = %+v, want %+v", got, tt.want)
			}
			if api := got.APIBaseURL(); api != tt.api {
				t.Errorf("APIBaseURL = %s, want %s", api, tt.api)
			}
		})
	}
	for _, bad := range []string{
		"", "/home/me/project", "./project", "https://github.com/acme", "https://github.com/", "git@github.com:widgets.git",
		"https://github.com/acme/wid gets", "https://x:secret@github.com/acme", "https://github.com/acme/..",
	} {
		t.Run("bad "+bad, func(t *testing.T) {
			t.Parallel()
			_, err := ParseRepo(bad)
			if !errors.Is(err, ErrNotRepoURL) {
				t.Errorf("ParseRepo(%q) err = %v, want ErrNotRepoURL", bad, err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows credentials: %v", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	got := redact("fatal: https://user:pw@host/x and tok123 and ssh://git@host/y", []string{"tok123"})
	if want := "fatal: https://host/x and [REDACTED] and ssh://host/y"; got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
}
