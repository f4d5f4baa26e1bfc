package gitops

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Repo names a repository on GitHub (or GitHub Enterprise).
type Repo struct {
	// Host is the remote's host ("github.com"), empty for a file URL.
	Host  string
	Owner string
	Name  string
}

// FullName is "owner/name".
func (r Repo) FullName() string { return r.Owner + "/" + r.Name }

// DefaultGitHubAPI is GitHub's REST API.
const DefaultGitHubAPI = "https://api.github.com"

// APIBaseURL guesses the REST API of the remote's host: api.github.com for github.com,
// https://<host>/api/v3 for a GitHub Enterprise Server. Configure it where the guess
// is wrong.
func (r Repo) APIBaseURL() string {
	switch h := strings.ToLower(r.Host); h {
	case "github.com", "www.github.com", "":
		return DefaultGitHubAPI
	default:
		return "https://" + h + "/api/v3"
	}
}

// ErrNotRepoURL means a remote does not name an owner and a repository.
var ErrNotRepoURL = errors.New("not an owner/repository URL")

var repoNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ParseRepo returns the owner and name of a remote: https://github.com/o/r(.git),
// git@github.com:o/r.git, ssh://git@github.com/o/r, a GitHub Enterprise host's, and
// any URL whose path ends in owner/repository (file:///srv/git/o/r.git, for a test's
// local remote). A local path is not a URL and is refused.
func ParseRepo(remote string) (Repo, error) {
	var host, p string
	switch {
	case strings.Contains(remote, "://"):
		u, err := url.Parse(remote)
		if err != nil {
			return Repo{}, fmt.Errorf("%w: %q: %v", ErrNotRepoURL, RedactURL(remote), err)
		}
		host, p = u.Hostname(), u.Path
	case scpLikeRE.MatchString(remote):
		m := scpLikeRE.FindStringSubmatch(remote)
		host, p = strings.Trim(m[2], "[]"), m[3]
	default:
		return Repo{}, fmt.Errorf("%w: %q is a local path", ErrNotRepoURL, remote)
	}
	p = strings.TrimSuffix(strings.Trim(p, "/"), "/")
	p = strings.TrimSuffix(p, ".git")
	parts := strings.Split(p, "/")
	if len(parts) < 2 {
		return Repo{}, fmt.Errorf("%w: %q", ErrNotRepoURL, RedactURL(remote))
	}
	owner, name := parts[len(parts)-2], parts[len(parts)-1]
	if !repoNameRE.MatchString(owner) || !repoNameRE.MatchString(name) || name == "." || name == ".." || owner == "." || owner == ".." {
		return Repo{}, fmt.Errorf("%w: %q", ErrNotRepoURL, RedactURL(remote))
	}
	return Repo{Host: strings.ToLower(host), Owner: owner, Name: name}, nil
}
