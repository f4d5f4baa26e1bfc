package gitops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Errors a GitHub call can be tested for with errors.Is; the error itself is an
// *APIError with GitHub's message.
var (
	// ErrGitHubAuth means GitHub refused the token (401) or what it may do (403).
	ErrGitHubAuth = errors.New("github: not authorized")
	// ErrGitHubNotFound means the repository does not exist or the token cannot see it.
	ErrGitHubNotFound = errors.New("github: not found")
	// ErrGitHubRateLimited means a primary or secondary rate limit was hit; the
	// APIError says when to try again.
	ErrGitHubRateLimited = errors.New("github: rate limited")
	// ErrPullRequestExists means an open pull request already has the same head and base.
	ErrPullRequestExists = errors.New("github: pull request already exists")
)

// GitHubAPIVersion is the REST API version requested.
const GitHubAPIVersion = "2022-11-28"

// GitHubConfig configures the GitHub client.
type GitHubConfig struct {
	// BaseURL is the REST API: DefaultGitHubAPI, or https://<host>/api/v3 for GitHub
	// Enterprise Server.
	BaseURL string
	// Token authenticates every request (a personal access token, or an app's).
	Token string
	// Timeout bounds one request (default 30 seconds).
	Timeout time.Duration
	// HTTPClient sends the requests (default: a client of its own).
	HTTPClient *http.Client
	// UserAgent names the caller, which GitHub requires (default "vibecoder").
	UserAgent string
}

// GitHub is a small client for the part of GitHub's REST API that opens pull requests.
type GitHub struct {
	base  *url.URL
	token string
	cfg   GitHubConfig
	hc    *http.Client
}

// NewGitHub validates cfg and returns a client.
func NewGitHub(cfg GitHubConfig) (*GitHub, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultGitHubAPI
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" || base.User != nil {
		return nil, fmt.Errorf("github: base URL %q must be an http(s) URL without credentials", RedactURL(cfg.BaseURL))
	}
	if cfg.Token == "" {
		return nil, errors.New("github: a token is required")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "vibecoder"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &GitHub{base: base, token: cfg.Token, cfg: cfg, hc: hc}, nil
}

// PRRequest asks for a pull request of Head into Base in Owner/Repo.
type PRRequest struct {
	Owner string
	Repo  string
	Title string
	Body  string
	// Head is the branch with the changes; "user:branch" for another owner's fork.
	Head  string
	Base  string
	Draft bool
}

// PRRef is one side of a pull request.
type PRRef struct {
	Label string `json:"label"`
	Ref   string `json:"ref"`
	SHA   string `json:"sha"`
}

// PR is a pull request as GitHub reports it.
type PR struct {
	Number  int    `json:"number"`
	HTMLURL string `json:"html_url"`
	URL     string `json:"url"`
	State   string `json:"state"`
	Title   string `json:"title"`
	Body    string `json:"body"`
	Draft   bool   `json:"draft"`
	Head    PRRef  `json:"head"`
	Base    PRRef  `json:"base"`
	// Existing reports a pull request that was already open for the head and base,
	// returned instead of a new one.
	Existing bool `json:"-"`
}

// OpenPullRequest opens a pull request. When one is already open for the same head and
// base it is returned (Existing set) rather than an error.
func (g *GitHub) OpenPullRequest(ctx context.Context, req PRRequest) (*PR, error) {
	if req.Owner == "" || req.Repo == "" || req.Title == "" || req.Head == "" || req.Base == "" {
		return nil, errors.New("github: a pull request needs an owner, a repository, a title, a head and a base")
	}
	body := struct {
		Title string `json:"title"`
		Body  string `json:"body,omitempty"`
		Head  string `json:"head"`
		Base  string `json:"base"`
		Draft bool   `json:"draft,omitempty"`
	}{req.Title, req.Body, req.Head, req.Base, req.Draft}
	var pr PR
	err := g.do(ctx, http.MethodPost, repoPath(req.Owner, req.Repo, "pulls"), nil, body, &pr)
	if errors.Is(err, ErrPullRequestExists) {
		existing, ferr := g.FindPullRequest(ctx, req.Owner, req.Repo, req.Head, req.Base)
		if ferr == nil && existing != nil {
			existing.Existing = true
			return existing, nil
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	return &pr, nil
}

// FindPullRequest returns the open pull request of head into base (any base when
// empty), or nil when there is none.
func (g *GitHub) FindPullRequest(ctx context.Context, owner, repo, head, base string) (*PR, error) {
	if !strings.Contains(head, ":") {
		head = owner + ":" + head
	}
	q := url.Values{"head": {head}, "state": {"open"}}
	if base != "" {
		q.Set("base", base)
	}
	var prs []PR
	if err := g.do(ctx, http.MethodGet, repoPath(owner, repo, "pulls"), q, nil, &prs); err != nil {
		return nil, err
	}
	if len(prs) == 0 {
		return nil, nil
	}
	return &prs[0], nil
}

func repoPath(owner, repo, rest string) string {
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) + "/" + rest
}

// maxResponse bounds what is read of a response.
const maxResponse = 8 << 20

func (g *GitHub) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	u := *g.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("github: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("github: %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", GitHubAPIVersion)
	req.Header.Set("User-Agent", g.cfg.UserAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil && context.Cause(ctx) == context.DeadlineExceeded {
			return fmt.Errorf("github: %s %s: timed out after %s: %w", method, path, g.cfg.Timeout, context.DeadlineExceeded)
		}
		// *url.Error names the URL, which holds no credentials (NewGitHub refuses them).
		return fmt.Errorf("github: %s %s: %w", method, path, redactErr(err, g.token))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("github: %s %s: reading the response: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newAPIError(method, path, resp, data, g.token)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("github: %s %s: decoding the response: %w", method, path, err)
		}
	}
	return nil
}

func redactErr(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(redact(err.Error(), []string{token}))
}

// APIError is an error response from GitHub.
type APIError struct {
	StatusCode int
	Method     string
	Path       string
	// Message is GitHub's message; Details are the messages or codes of its errors list
	// ("A pull request already exists for o:b.").
	Message          string
	Details          []string
	DocumentationURL string
	// RateLimitRemaining is X-RateLimit-Remaining (-1 when absent); RateLimitReset is
	// X-RateLimit-Reset; RetryAfter is Retry-After, which a secondary limit sends.
	RateLimitRemaining int
	RateLimitReset     time.Time
	RetryAfter         time.Duration
}

func newAPIError(method, path string, resp *http.Response, data []byte, token string) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, Method: method, Path: path, RateLimitRemaining: -1}
	var body struct {
		Message          string `json:"message"`
		DocumentationURL string `json:"documentation_url"`
		Errors           []json.RawMessage
	}
	if json.Unmarshal(data, &body) == nil {
		e.Message, e.DocumentationURL = body.Message, body.DocumentationURL
		for _, raw := range body.Errors {
			var item struct {
				Message  string `json:"message"`
				Resource string `json:"resource"`
				Field    string `json:"field"`
				Code     string `json:"code"`
			}
			var s string
			switch {
			case json.Unmarshal(raw, &s) == nil:
				e.Details = append(e.Details, s)
			case json.Unmarshal(raw, &item) == nil && item.Message != "":
				e.Details = append(e.Details, item.Message)
			case json.Unmarshal(raw, &item) == nil:
				e.Details = append(e.Details, strings.TrimSpace(item.Resource+" "+item.Field+" "+item.Code))
			}
		}
	} else {
		e.Message = strings.TrimSpace(string(data[:min(len(data), 200)]))
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Message = redact(e.Message, []string{token})
	for i := range e.Details {
		e.Details[i] = redact(e.Details[i], []string{token})
	}
	if v, err := strconv.Atoi(resp.Header.Get("X-RateLimit-Remaining")); err == nil {
		e.RateLimitRemaining = v
	}
	if v, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		e.RateLimitReset = time.Unix(v, 0).UTC()
	}
	if v, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && v >= 0 {
		e.RetryAfter = time.Duration(v) * time.Second
	}
	return e
}

func (e *APIError) rateLimited() bool {
	if e.StatusCode == http.StatusTooManyRequests {
		return true
	}
	return e.StatusCode == http.StatusForbidden &&
		(e.RateLimitRemaining == 0 || e.RetryAfter > 0 || strings.Contains(strings.ToLower(e.Message), "rate limit"))
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "github: %s %s: %d %s", e.Method, e.Path, e.StatusCode, e.Message)
	if len(e.Details) > 0 {
		b.WriteString(": " + strings.Join(e.Details, "; "))
	}
	if e.rateLimited() {
		switch {
		case e.RetryAfter > 0:
			fmt.Fprintf(&b, " (rate limited; retry after %s)", e.RetryAfter)
		case !e.RateLimitReset.IsZero():
			fmt.Fprintf(&b, " (rate limited until %s)", e.RateLimitReset.Format(time.RFC3339))
		default:
			b.WriteString(" (rate limited)")
		}
	}
	return b.String()
}

// Is matches the package's GitHub sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrGitHubRateLimited:
		return e.rateLimited()
	case ErrGitHubAuth:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden && !e.rateLimited()
	case ErrGitHubNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrPullRequestExists:
		if e.StatusCode != http.StatusUnprocessableEntity {
			return false
		}
		for _, d := range append([]string{e.Message}, e.Details...) {
			if strings.Contains(strings.ToLower(d), "pull request already exists") {
				return true
			}
		}
	}
	return false
}

// Retryable reports an error worth retrying later: a rate limit or a server error.
func (e *APIError) Retryable() bool {
	return e.rateLimited() || e.StatusCode >= 500
}

// RetryAt says when a rate-limited request may be retried (zero when unknown or not
// rate limited).
func (e *APIError) RetryAt(now time.Time) time.Time {
	switch {
	case !e.rateLimited():
		return time.Time{}
	case e.RetryAfter > 0:
		return now.Add(e.RetryAfter)
	default:
		return e.RateLimitReset
	}
}
