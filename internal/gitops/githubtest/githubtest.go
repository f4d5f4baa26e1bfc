// Package githubtest runs a local HTTP server that speaks the part of GitHub's REST API
// Vibe Coder uses (opening and listing pull requests), so tests drive the production
// client against GitHub's wire format without a network.
package githubtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// APIVersion is the only X-GitHub-Api-Version the server accepts (when one is sent).
const APIVersion = "2022-11-28"

// Request is a request the server received.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// PullRequest is a pull request the server holds.
type PullRequest struct {
	Owner, Repo string
	Number      int
	Title       string
	Body        string
	Head        string // branch name (the part after "owner:")
	HeadOwner   string
	Base        string
	HeadSHA     string
	Draft       bool
	State       string
	HTMLURL     string
	CreatedAt   time.Time
}

type repo struct {
	gitDir string // when set, heads and bases are checked against this repository
}

// Failure is a canned error response; see FailNext.
type Failure struct {
	Status int
	// Body is sent as is when set; otherwise {"message": Message}.
	Message string
	Body    string
	Header  http.Header
	// Delay holds the response back (to make a client time out).
	Delay time.Duration
}

// Server is the fake GitHub. Its URL is the API base URL to configure a client with.
type Server struct {
	URL   string
	Token string

	srv *httptest.Server

	mu       sync.Mutex
	requests []Request
	repos    map[string]*repo // "owner/name"; empty means every repository exists
	pulls    []*PullRequest
	nextNum  map[string]int
	failures []Failure
	stop     chan struct{}
}

// NewServer starts a server that accepts token (as "Bearer" or "token") and stops it
// when the test ends.
func NewServer(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{Token: token, repos: map[string]*repo{}, nextNum: map[string]int{}, stop: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /repos/{owner}/{repo}/pulls", s.createPull)
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls", s.listPulls)
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}", s.getPull)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, http.StatusNotFound, "Not Found") })
	s.srv = httptest.NewServer(s.middleware(mux))
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	s.srv.Close()
}

// AddRepo declares a repository ("owner/name"). Once one is declared, requests for any
// other get a 404. With gitDir (a bare repository, the test's remote), a pull
// request's head and base must be branches there, as on GitHub.
func (s *Server) AddRepo(fullName, gitDir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[strings.ToLower(fullName)] = &repo{gitDir: gitDir}
}

// FailNext makes the next request get f instead of its normal answer. Several calls
// queue several failures.
func (s *Server) FailNext(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f)
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// PullRequests returns the pull requests opened on owner/repo, oldest first.
func (s *Server) PullRequests(owner, repo string) []PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PullRequest
	for _, p := range s.pulls {
		if strings.EqualFold(p.Owner, owner) && strings.EqualFold(p.Repo, repo) {
			out = append(out, *p)
		}
	}
	return out
}

func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		var fail *Failure
		if len(s.failures) > 0 {
			f := s.failures[0]
			s.failures = s.failures[1:]
			fail = &f
		}
		s.mu.Unlock()

		h := w.Header()
		h.Set("X-GitHub-Media-Type", "github.v3; format=json")
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Remaining", "4999")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
		h.Set("X-RateLimit-Resource", "core")

		if fail != nil {
			select {
			case <-time.After(fail.Delay):
			case <-r.Context().Done():
				return
			case <-s.stop:
				return
			}
			for k, vs := range fail.Header {
				h[k] = vs
			}
			if fail.Body != "" {
				h.Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(fail.Status)
				_, _ = io.WriteString(w, fail.Body)
				return
			}
			writeError(w, fail.Status, fail.Message)
			return
		}
		if r.Header.Get("User-Agent") == "" {
			writeError(w, http.StatusForbidden, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.")
			return
		}
		auth := r.Header.Get("Authorization")
		if s.Token == "" || (auth != "Bearer "+s.Token && auth != "token "+s.Token) {
			writeError(w, http.StatusUnauthorized, "Bad credentials")
			return
		}
		if v := r.Header.Get("X-GitHub-Api-Version"); v != "" && v != APIVersion {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("API version %s is not supported.", v))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// repoFor returns the repository a request names, or writes a 404.
func (s *Server) repoFor(w http.ResponseWriter, r *http.Request) (owner, name string, rp *repo, ok bool) {
	owner, name = r.PathValue("owner"), r.PathValue("repo")
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.repos) == 0 {
		return owner, name, &repo{}, true
	}
	rp, ok = s.repos[strings.ToLower(owner+"/"+name)]
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
	}
	return owner, name, rp, ok
}

type fieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

func (s *Server) createPull(w http.ResponseWriter, r *http.Request) {
	owner, name, rp, ok := s.repoFor(w, r)
	if !ok {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "Unsupported 'Content-Type' header")
		return
	}
	var in struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
		Head  *string `json:"head"`
		Base  *string `json:"base"`
		Draft *bool   `json:"draft"`
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	var missing []fieldError
	for _, f := range []struct {
		name string
		v    *string
	}{{"title", in.Title}, {"head", in.Head}, {"base", in.Base}} {
		if f.v == nil || *f.v == "" {
			missing = append(missing, fieldError{Resource: "PullRequest", Field: f.name, Code: "missing_field"})
		}
	}
	if len(missing) > 0 {
		validationFailed(w, missing...)
		return
	}
	headOwner, head := owner, *in.Head
	if o, b, found := strings.Cut(head, ":"); found {
		headOwner, head = o, b
	}
	base := *in.Base
	var headSHA string
	if rp.gitDir != "" {
		var baseSHA string
		headSHA = revParse(rp.gitDir, head)
		baseSHA = revParse(rp.gitDir, base)
		switch {
		case headSHA == "":
			validationFailed(w, fieldError{Resource: "PullRequest", Field: "head", Code: "invalid"})
			return
		case baseSHA == "":
			validationFailed(w, fieldError{Resource: "PullRequest", Field: "base", Code: "invalid"})
			return
		case headSHA == baseSHA:
			validationFailed(w, fieldError{Resource: "PullRequest", Code: "custom", Message: fmt.Sprintf("No commits between %s and %s", base, head)})
			return
		}
	} else if head == base && strings.EqualFold(headOwner, owner) {
		validationFailed(w, fieldError{Resource: "PullRequest", Code: "custom", Message: fmt.Sprintf("No commits between %s and %s", base, head)})
		return
	}

	s.mu.Lock()
	for _, p := range s.pulls {
		if p.State == "open" && strings.EqualFold(p.Owner, owner) && strings.EqualFold(p.Repo, name) &&
			strings.EqualFold(p.HeadOwner, headOwner) && p.Head == head && p.Base == base {
			s.mu.Unlock()
			validationFailed(w, fieldError{Resource: "PullRequest", Code: "custom",
				Message: fmt.Sprintf("A pull request already exists for %s:%s.", headOwner, head)})
			return
		}
	}
	key := strings.ToLower(owner + "/" + name)
	s.nextNum[key]++
	p := &PullRequest{
		Owner: owner, Repo: name, Number: s.nextNum[key], Title: *in.Title,
		Head: head, HeadOwner: headOwner, Base: base, HeadSHA: headSHA, State: "open",
		CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	if in.Body != nil {
		p.Body = *in.Body
	}
	if in.Draft != nil {
		p.Draft = *in.Draft
	}
	p.HTMLURL = fmt.Sprintf("%s/%s/%s/pull/%d", s.URL, owner, name, p.Number)
	s.pulls = append(s.pulls, p)
	out := s.render(p)
	s.mu.Unlock()

	w.Header().Set("Location", out["url"].(string))
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	owner, name, _, ok := s.repoFor(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	headOwner, head, hasHead := "", "", q.Get("head") != ""
	if hasHead {
		headOwner, head, _ = strings.Cut(q.Get("head"), ":")
		if head == "" { // GitHub wants user:ref; a bare ref matches nothing
			headOwner, head = "", "\x00"
		}
	}
	base := q.Get("base")
	s.mu.Lock()
	var out []map[string]any
	for i := len(s.pulls) - 1; i >= 0; i-- { // newest first, GitHub's default order
		p := s.pulls[i]
		if !strings.EqualFold(p.Owner, owner) || !strings.EqualFold(p.Repo, name) ||
			(state != "all" && p.State != state) ||
			(hasHead && (!strings.EqualFold(p.HeadOwner, headOwner) || p.Head != head)) ||
			(base != "" && p.Base != base) {
			continue
		}
		out = append(out, s.render(p))
	}
	s.mu.Unlock()
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getPull(w http.ResponseWriter, r *http.Request) {
	owner, name, _, ok := s.repoFor(w, r)
	if !ok {
		return
	}
	n, _ := strconv.Atoi(r.PathValue("number"))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pulls {
		if strings.EqualFold(p.Owner, owner) && strings.EqualFold(p.Repo, name) && p.Number == n {
			writeJSON(w, http.StatusOK, s.render(p))
			return
		}
	}
	writeError(w, http.StatusNotFound, "Not Found")
}

// render is the pull request in GitHub's JSON shape (the fields clients commonly read).
func (s *Server) render(p *PullRequest) map[string]any {
	api := fmt.Sprintf("%s/repos/%s/%s", s.URL, p.Owner, p.Repo)
	repoJSON := func(owner string) map[string]any {
		return map[string]any{
			"name": p.Repo, "full_name": owner + "/" + p.Repo, "private": false,
			"owner":    map[string]any{"login": owner, "type": "User"},
			"html_url": fmt.Sprintf("%s/%s/%s", s.URL, owner, p.Repo),
			"url":      fmt.Sprintf("%s/repos/%s/%s", s.URL, owner, p.Repo),
		}
	}
	ts := p.CreatedAt.Format(time.RFC3339)
	return map[string]any{
		"url":        fmt.Sprintf("%s/pulls/%d", api, p.Number),
		"id":         1000 + p.Number,
		"node_id":    fmt.Sprintf("PR_kwDO%08d", p.Number),
		"html_url":   p.HTMLURL,
		"diff_url":   p.HTMLURL + ".diff",
		"patch_url":  p.HTMLURL + ".patch",
		"number":     p.Number,
		"state":      p.State,
		"locked":     false,
		"title":      p.Title,
		"body":       p.Body,
		"draft":      p.Draft,
		"user":       map[string]any{"login": p.HeadOwner, "type": "User"},
		"created_at": ts,
		"updated_at": ts,
		"closed_at":  nil,
		"merged_at":  nil,
		"head": map[string]any{
			"label": p.HeadOwner + ":" + p.Head, "ref": p.Head, "sha": p.HeadSHA,
			"user": map[string]any{"login": p.HeadOwner}, "repo": repoJSON(p.HeadOwner),
		},
		"base": map[string]any{
			"label": p.Owner + ":" + p.Base, "ref": p.Base,
			"user": map[string]any{"login": p.Owner}, "repo": repoJSON(p.Owner),
		},
		"mergeable_state": "unknown",
	}
}

func revParse(gitDir, branch string) string {
	cmd := exec.Command("git", "--git-dir="+gitDir, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch+"^{commit}")
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func validationFailed(w http.ResponseWriter, errs ...fieldError) {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message":           "Validation Failed",
		"errors":            errs,
		"documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
		"status":            "422",
	})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{
		"message":           msg,
		"documentation_url": "https://docs.github.com/rest",
		"status":            strconv.Itoa(status),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
