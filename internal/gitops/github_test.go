package gitops

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/gitops/githubtest"
)

func newGitHub(t *testing.T, base, token string) *GitHub {
	t.Helper()
	g, err := NewGitHub(GitHubConfig{BaseURL: base, Token: token, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func prRequest() PRRequest {
	return PRRequest{Owner: "acme", Repo: "widgets", Title: "Add rate limiting", Body: "## Review\n\nLooks good.",
		Head: "vibecoder/42-add-rate-limiting", Base: "main"}
}

func TestOpenPullRequest(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	gh := githubtest.NewServer(t, testToken)
	g := newGitHub(t, gh.URL, testToken)

	req := prRequest()
	req.Draft = true
	pr, err := g.OpenPullRequest(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Number != 1 || pr.HTMLURL != gh.URL+"/acme/widgets/pull/1" || pr.State != "open" || !pr.Draft ||
		pr.Head.Ref != req.Head || pr.Base.Ref != "main" || pr.Existing || pr.URL != gh.URL+"/repos/acme/widgets/pulls/1" {
		t.Errorf("pr = %+v", pr)
	}
	reqs := gh.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/repos/acme/widgets/pulls" {
		t.Errorf("request %s %s", r.Method, r.Path)
	}
	for h, want := range map[string]string{
		"Authorization": "Bearer " + testToken, "Accept": "application/vnd.github+json",
		"X-Github-Api-Version": "2022-11-28", "Content-Type": "application/json", "User-Agent": "vibecoder",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["title"] != req.Title || body["head"] != req.Head || body["base"] != "main" || body["body"] != req.Body || body["draft"] != true {
		t.Errorf("body = %v", body)
	}

	// The same head and base again: GitHub says 422, the open one is returned.
	again, err := g.OpenPullRequest(ctx, prRequest())
	if err != nil {
		t.Fatal(err)
	}
	if again.Number != 1 || !again.Existing || again.HTMLURL != pr.HTMLURL {
		t.Errorf("again = %+v", again)
	}
	reqs = gh.Requests()
	if last := reqs[len(reqs)-1]; last.Method != http.MethodGet || last.RawQuery != "base=main&head=acme%3Avibecoder%2F42-add-rate-limiting&state=open" {
		t.Errorf("lookup %s ?%s", last.Method, last.RawQuery)
	}
	if n := len(gh.PullRequests("acme", "widgets")); n != 1 {
		t.Errorf("%d pull requests, want 1", n)
	}
	// Another branch gets its own.
	other := prRequest()
	other.Head = "vibecoder/43-other"
	if pr2, err := g.OpenPullRequest(ctx, other); err != nil || pr2.Number != 2 {
		t.Errorf("second pull request = %+v, %v", pr2, err)
	}
}

func TestGitHubEnterpriseBaseURL(t *testing.T) {
	t.Parallel()
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"number": 7, "html_url": "https://ghe.example.com/acme/widgets/pull/7", "state": "open"}`))
	}))
	defer srv.Close()
	g := newGitHub(t, srv.URL+"/api/v3/", testToken)
	pr, err := g.OpenPullRequest(t.Context(), prRequest())
	if err != nil {
		t.Fatal(err)
	}
	if path != "/api/v3/repos/acme/widgets/pulls" || pr.Number != 7 {
		t.Errorf("path %s, pr %+v", path, pr)
	}
}

func TestGitHubErrors(t *testing.T) {
	t.Parallel()
	reset := time.Now().Add(30 * time.Minute).Unix()
	tests := []struct {
		name      string
		token     string // the client's; the server accepts testToken
		setup     func(*githubtest.Server)
		is        error
		contains  []string
		retryable bool
	}{
		{name: "401 bad credentials", token: "wrong-" + testToken, is: ErrGitHubAuth, contains: []string{"401 Bad credentials"}},
		{name: "403 forbidden", setup: func(s *githubtest.Server) {
			s.FailNext(githubtest.Failure{Status: 403, Message: "Resource not accessible by personal access token"})
		}, is: ErrGitHubAuth, contains: []string{"403 Resource not accessible"}},
		{name: "404 unknown repository", setup: func(s *githubtest.Server) { s.AddRepo("acme/other", "") },
			is: ErrGitHubNotFound, contains: []string{"404 Not Found"}},
		{name: "422 exists but not found", setup: func(s *githubtest.Server) {
			s.FailNext(githubtest.Failure{Status: 422, Body: `{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:vibecoder/42-add-rate-limiting."}]}`})
		}, is: ErrPullRequestExists, contains: []string{"422 Validation Failed: A pull request already exists for acme:vibecoder/42-add-rate-limiting."}},
		{name: "422 invalid head", setup: func(s *githubtest.Server) {
			s.FailNext(githubtest.Failure{Status: 422, Body: `{"message":"Validation Failed","errors":[{"resource":"PullRequest","field":"head","code":"invalid"}]}`})
		}, contains: []string{"422 Validation Failed: PullRequest head invalid"}},
		{name: "500", setup: func(s *githubtest.Server) {
			s.FailNext(githubtest.Failure{Status: 500, Body: "<html>oops</html>"})
		}, contains: []string{"500 <html>oops</html>"}, retryable: true},
		{name: "502 empty body", setup: func(s *githubtest.Server) {
			s.FailNext(githubtest.Failure{Status: 502, Body: " "})
		}, contains: []string{"502 Bad Gateway"}, retryable: true},
		{name: "403 primary rate limit", setup: func(s *githubtest.Server) {
			s.FailNext(githubtest.Failure{Status: 403, Message: "API rate limit exceeded for user ID 1.",
				Header: http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {strconv.FormatInt(reset, 10)}}})
		}, is: ErrGitHubRateLimited, contains: []string{"rate limited until " + time.Unix(reset, 0).UTC().Format(time.RFC3339)}, retryable: true},
		{name: "429 secondary rate limit", setup: func(s *githubtest.Server) {
			s.FailNext(githubtest.Failure{Status: 429, Message: "You have exceeded a secondary rate limit.", Header: http.Header{"Retry-After": {"60"}}})
		}, is: ErrGitHubRateLimited, contains: []string{"retry after 1m0s"}, retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gh := githubtest.NewServer(t, testToken)
			if tt.setup != nil {
				tt.setup(gh)
			}
			token := tt.token
			if token == "" {
				token = testToken
			}
			_, err := newGitHub(t, gh.URL, token).OpenPullRequest(t.Context(), prRequest())
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			for _, sentinel := range []error{ErrGitHubAuth, ErrGitHubNotFound, ErrGitHubRateLimited, ErrPullRequestExists} {
				if sentinel != tt.is && errors.Is(err, sentinel) {
					t.Errorf("err = %v also matches %v", err, sentinel)
				}
			}
			for _, c := range tt.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("err = %q, want it to contain %q", err, c)
				}
			}
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err %T is not an *APIError", err)
			}
			if apiErr.Retryable() != tt.retryable {
				t.Errorf("Retryable = %v", apiErr.Retryable())
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func TestGitHubTimeout(t *testing.T) {
	t.Parallel()
	gh := githubtest.NewServer(t, testToken)
	gh.FailNext(githubtest.Failure{Status: 500, Delay: 10 * time.Second})
	g, err := NewGitHub(GitHubConfig{BaseURL: gh.URL, Token: testToken, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.OpenPullRequest(t.Context(), prRequest())
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 100ms") {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error shows the token: %v", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := g.OpenPullRequest(ctx, prRequest()); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
}

func TestNewGitHubValidates(t *testing.T) {
	t.Parallel()
	for _, cfg := range []GitHubConfig{
		{Token: ""},
		{Token: "t", BaseURL: "ftp://example.com"},
		{Token: "t", BaseURL: "https://user:secret@example.com"},
		{Token: "t", BaseURL: "not a url"},
	} {
		if _, err := NewGitHub(cfg); err == nil {
			t.Errorf("NewGitHub(%+v) succeeded", cfg)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("error shows credentials: %v", err)
		}
	}
	g, err := NewGitHub(GitHubConfig{Token: "t"})
	if err != nil || g.base.String() != DefaultGitHubAPI {
		t.Errorf("default base = %v, %v", g, err)
	}
	if _, err := g.OpenPullRequest(t.Context(), PRRequest{Owner: "a", Repo: "b"}); err == nil {
		t.Error("an incomplete request was sent")
	}
}

// The fake server validates what it is sent the way GitHub does.
func TestGitHubTestServerValidates(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	project := fixtureRepo(t, tmp+"/project")
	bare := bareRemote(t, project, tmp+"/acme/widgets.git")
	gh := githubtest.NewServer(t, testToken)
	gh.AddRepo("acme/widgets", bare)
	g := newGitHub(t, gh.URL, testToken)

	req := prRequest() // the head branch was never pushed
	_, err := g.OpenPullRequest(t.Context(), req)
	if err == nil || !strings.Contains(err.Error(), "PullRequest head invalid") {
		t.Errorf("unpushed head: err = %v", err)
	}
	req.Head = "main"
	if _, err := g.OpenPullRequest(t.Context(), req); err == nil || !strings.Contains(err.Error(), "No commits between main and main") {
		t.Errorf("head = base: err = %v", err)
	}

	for _, tc := range []struct {
		name   string
		mutate func(*http.Request)
		status int
	}{
		{"no user agent", func(r *http.Request) { r.Header.Set("User-Agent", "") }, 403},
		{"bad api version", func(r *http.Request) { r.Header.Set("X-GitHub-Api-Version", "2099-01-01") }, 400},
		{"bad json", func(r *http.Request) {}, 400},
	} {
		body := `{"title":"x","head":"a","base":"main"}`
		if tc.name == "bad json" {
			body = `{"title":`
		}
		r, _ := http.NewRequest(http.MethodPost, gh.URL+"/repos/acme/widgets/pulls", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+testToken)
		r.Header.Set("User-Agent", "test")
		tc.mutate(r)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
}
