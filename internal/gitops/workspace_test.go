package gitops

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vibecoder/vibecoder/internal/gitops/githubtest"
)

const testToken = "ghp_testtoken0123456789abcdefSECRET"

// TestPipeline is the pr step end to end: a workspace cloned from the project's remote,
// changed, committed on a task branch, pushed to the remote (a local bare repository),
// and a pull request opened on a local server speaking GitHub's REST API.
func TestPipeline(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tmp, project := newProject(t)
	bare := bareRemote(t, project, filepath.Join(tmp, "remotes", "acme", "widgets.git"))
	remoteURL := "file://" + bare
	w := newWorkspaces(t)

	ws, err := w.Create(ctx, repoOf(t, remoteURL), "main", filepath.Join(tmp, "data", "workspaces", "exec-1"))
	if err != nil {
		t.Fatal(err)
	}
	if want := gitT(t, bare, "rev-parse", "main"); ws.BaseSHA != want || ws.BaseBranch != "main" {
		t.Fatalf("base = %s %s, want main %s", ws.BaseBranch, ws.BaseSHA, want)
	}
	if _, err := os.Lstat(filepath.Join(ws.Dir, ".git")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the working copy has a .git entry (%v); the repository belongs outside it", err)
	}
	if got := readFile(t, filepath.Join(ws.Dir, "README.md")); got != "# Widgets\n" {
		t.Errorf("README.md = %q", got)
	}

	editWorkspace(t, ws.Dir)
	diff, err := ws.Diff(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"diff --git a/login.go b/login.go", "+// Login is rate limited.",
		"diff --git a/ratelimit/limiter.go b/ratelimit/limiter.go", "new file mode", "+type Limiter struct{}",
		"diff --git a/old.txt b/old.txt", "deleted file mode",
	} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if strings.Contains(diff, "test.log") {
		t.Errorf("diff includes an ignored file:\n%s", diff)
	}
	files, err := ws.ChangedFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{"login.go", "old.txt", "ratelimit/limiter.go"}
	if !slices.Equal(files, wantFiles) {
		t.Errorf("ChangedFiles = %q, want %q", files, wantFiles)
	}

	taskID := "0190d7a2-5b1c-7e3f-9a4b-123456789abc"
	title := "Add rate limiting to the login handler."
	branch := BranchName(taskID, title)
	if branch != "vibecoder/0190d7a2-5b1c-7e3f-9a4b-123456789abc-add-rate-limiting-to-the-login-handler" {
		t.Errorf("branch = %s", branch)
	}
	msg := CommitMessage(title, "Logins are limited to 5 per minute per IP.")
	author := Author{Name: "Ada Agent", Email: "ada@example.com"}
	sha, committed, err := ws.Commit(ctx, branch, msg, author)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(committed, wantFiles) {
		t.Errorf("committed files = %q, want %q", committed, wantFiles)
	}
	// A retried step gets the same commit.
	if again, _, err := ws.Commit(ctx, branch, msg, author); err != nil || again != sha {
		t.Errorf("second Commit = %s, %v; want %s", again, err, sha)
	}

	if err := ws.Push(ctx, nil, branch); err != nil {
		t.Fatal(err)
	}
	if got := gitT(t, bare, "rev-parse", "refs/heads/"+branch); got != sha {
		t.Errorf("remote %s = %s, want %s", branch, got, sha)
	}
	if got := gitT(t, bare, "log", "-1", "--format=%an|%ae|%cn|%ce|%P", sha); got != "Ada Agent|ada@example.com|Ada Agent|ada@example.com|"+ws.BaseSHA {
		t.Errorf("commit identity and parent = %q", got)
	}
	if got := gitT(t, bare, "log", "-1", "--format=%B", sha); got != msg {
		t.Errorf("commit message = %q, want %q", got, msg)
	}
	if got := gitT(t, bare, "ls-tree", "-r", "--name-only", sha); got != ".gitignore\nREADME.md\nlogin.go\nratelimit/limiter.go" {
		t.Errorf("committed tree:\n%s", got)
	}

	repo, err := ParseRepo(remoteURL)
	if err != nil {
		t.Fatal(err)
	}
	gh := githubtest.NewServer(t, testToken)
	gh.AddRepo(repo.FullName(), bare)
	client, err := NewGitHub(GitHubConfig{BaseURL: gh.URL, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	review := "Reviewer verdict: approve. The limiter is applied before the password check."
	pr, err := client.OpenPullRequest(ctx, PRRequest{
		Owner: repo.Owner, Repo: repo.Name, Title: strings.SplitN(msg, "\n", 2)[0],
		Body: "Task: " + title + "\n\n## Review\n\n" + review, Head: branch, Base: ws.BaseBranch,
	})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Number != 1 || pr.HTMLURL != gh.URL+"/acme/widgets/pull/1" || pr.State != "open" || pr.Head.Ref != branch ||
		pr.Head.SHA != sha || pr.Base.Ref != "main" || pr.Existing {
		t.Errorf("pull request = %+v", pr)
	}
	prs := gh.PullRequests("acme", "widgets")
	if len(prs) != 1 || prs[0].Head != branch || prs[0].Base != "main" || prs[0].Title != "Add rate limiting to the login handler" ||
		!strings.Contains(prs[0].Body, review) {
		t.Errorf("server holds %+v", prs)
	}

	// The token went nowhere on disk (a file:// push does not use it at all).
	assertNoSecret(t, ws.GitDir, testToken)

	if err := ws.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ws.Dir, ws.GitDir} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists after Remove (%v)", p, err)
		}
	}
	if err := ws.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

// A project given as a local path: the workspace is a copy, and without a remote the
// branch is pushed into the project's repository, its checked-out branch untouched.
func TestLocalProject(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tmp, project := newProject(t)
	writeFile(t, filepath.Join(project, "wip.txt"), "the user's uncommitted work\n")
	mainBefore := gitT(t, project, "rev-parse", "main")

	ws := newWorkspace(t, newWorkspaces(t), repoOf(t, project), "main", filepath.Join(tmp, "ws"))
	if !ws.Local || ws.Source != project || ws.BaseSHA != mainBefore {
		t.Errorf("workspace = %+v", ws)
	}
	if _, err := os.Stat(filepath.Join(ws.Dir, "wip.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("uncommitted work of the project leaked into the workspace")
	}
	editWorkspace(t, ws.Dir)
	if got := readFile(t, filepath.Join(project, "login.go")); strings.Contains(got, "rate limited") {
		t.Fatal("editing the workspace changed the project")
	}
	branch := BranchName("task-42", "Rate limit logins")
	sha, _, err := ws.Commit(ctx, branch, CommitMessage("Rate limit logins", ""), Author{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Push(ctx, nil, branch); err != nil {
		t.Fatal(err)
	}
	if got := gitT(t, project, "rev-parse", "refs/heads/"+branch); got != sha {
		t.Errorf("project %s = %s, want %s", branch, got, sha)
	}
	if got := gitT(t, project, "log", "-1", "--format=%an <%ae>", sha); got != "Vibe Coder <vibecoder@localhost>" {
		t.Errorf("default author = %q", got)
	}
	if got := gitT(t, project, "symbolic-ref", "--short", "HEAD"); got != "main" {
		t.Errorf("project HEAD = %s, want main", got)
	}
	if got := gitT(t, project, "rev-parse", "main"); got != mainBefore {
		t.Errorf("project main moved to %s", got)
	}
	if got := gitT(t, project, "status", "--porcelain"); got != "?? wip.txt" {
		t.Errorf("project status = %q", got)
	}
	if got := readFile(t, filepath.Join(project, "login.go")); strings.Contains(got, "rate limited") {
		t.Error("the push changed the project's working tree")
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tmp, project := newProject(t)
	w := newWorkspaces(t)

	t.Run("missing branch falls back to the default", func(t *testing.T) {
		ws := newWorkspace(t, w, repoOf(t, "file://"+project), "develop", filepath.Join(tmp, "fallback"))
		if ws.BaseBranch != "main" {
			t.Errorf("base branch = %s", ws.BaseBranch)
		}
	})
	t.Run("empty branch takes the default", func(t *testing.T) {
		ws := newWorkspace(t, w, repoOf(t, project), "", filepath.Join(tmp, "nobranch"))
		if ws.BaseBranch != "main" {
			t.Errorf("base branch = %s", ws.BaseBranch)
		}
	})
	t.Run("existing directory", func(t *testing.T) {
		dir := filepath.Join(tmp, "taken")
		writeFile(t, filepath.Join(dir, "x"), "x")
		if _, err := w.Create(ctx, repoOf(t, project), "main", dir); !errors.Is(err, fs.ErrExist) {
			t.Errorf("err = %v, want ErrExist", err)
		}
		if got := readFile(t, filepath.Join(dir, "x")); got != "x" {
			t.Error("Create touched an existing directory")
		}
	})
	t.Run("missing repository leaves nothing behind", func(t *testing.T) {
		dir := filepath.Join(tmp, "missing")
		if _, err := w.Create(ctx, checked(t, "file://"+filepath.Join(tmp, "nope")), "main", dir); err == nil {
			t.Fatal("no error")
		}
		for _, p := range []string{dir, dir + ".git"} {
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s left behind", p)
			}
		}
	})
	t.Run("empty repository", func(t *testing.T) {
		empty := filepath.Join(tmp, "empty")
		if err := os.MkdirAll(empty, 0o755); err != nil {
			t.Fatal(err)
		}
		gitT(t, empty, "init", "--quiet")
		_, err := w.Create(ctx, repoOf(t, empty), "", filepath.Join(tmp, "fromempty"))
		if err == nil || !strings.Contains(err.Error(), "no commits") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := w.Create(cctx, repoOf(t, project), "main", filepath.Join(tmp, "canceled")); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("discard", func(t *testing.T) {
		dir := filepath.Join(tmp, "crashed")
		if _, err := w.Create(ctx, repoOf(t, project), "main", dir); err != nil {
			t.Fatal(err)
		}
		if err := w.Discard(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Create(ctx, repoOf(t, project), "main", dir); err != nil {
			t.Fatalf("Create after Discard: %v", err)
		}
	})
}

func TestCommit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tmp, project := newProject(t)
	ws := newWorkspace(t, newWorkspaces(t), repoOf(t, project), "main", filepath.Join(tmp, "ws"))

	if _, _, err := ws.Commit(ctx, "vibecoder/x-nothing", "Nothing", Author{}); !errors.Is(err, ErrNothingToCommit) {
		t.Errorf("unchanged workspace: err = %v, want ErrNothingToCommit", err)
	}
	writeFile(t, filepath.Join(ws.Dir, "ignored.log"), "x")
	if _, _, err := ws.Commit(ctx, "vibecoder/x-nothing", "Nothing", Author{}); !errors.Is(err, ErrNothingToCommit) {
		t.Errorf("only ignored files: err = %v, want ErrNothingToCommit", err)
	}
	writeFile(t, filepath.Join(ws.Dir, "a.txt"), "a\n")
	for _, bad := range []string{"", "-x", "has space", "a..b", "x.lock", "@{-1}", "ends/"} {
		if _, _, err := ws.Commit(ctx, bad, "msg", Author{}); !errors.Is(err, ErrInvalidBranch) {
			t.Errorf("branch %q: err = %v, want ErrInvalidBranch", bad, err)
		}
	}
	if _, _, err := ws.Commit(ctx, "vibecoder/x", "msg", Author{Name: "Evil\nName", Email: "e@x"}); err == nil {
		t.Error("an author name with a newline was accepted")
	}
	if _, _, err := ws.Commit(ctx, "vibecoder/x", "  \n", Author{}); err == nil {
		t.Error("an empty message was accepted")
	}
	first, _, err := ws.Commit(ctx, "vibecoder/x", "First", Author{})
	if err != nil {
		t.Fatal(err)
	}
	// More changes after a commit: the branch is remade from the base with all of them.
	writeFile(t, filepath.Join(ws.Dir, "b.txt"), "b\n")
	second, files, err := ws.Commit(ctx, "vibecoder/x", "Second", Author{})
	if err != nil {
		t.Fatal(err)
	}
	if second == first || !slices.Equal(files, []string{"a.txt", "b.txt"}) {
		t.Errorf("second commit %s files %q", second, files)
	}
	if got := gitT(t, ws.Dir, "--git-dir="+ws.GitDir, "rev-parse", "vibecoder/x^"); got != ws.BaseSHA {
		t.Errorf("parent = %s, want the base %s", got, ws.BaseSHA)
	}
	if got := gitT(t, ws.Dir, "--git-dir="+ws.GitDir, "--work-tree="+ws.Dir, "status", "--porcelain"); got != "" {
		t.Errorf("status after commit = %q", got)
	}
}

func TestPushRejectedAndForce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tmp, project := newProject(t)
	bare := bareRemote(t, project, filepath.Join(tmp, "remote.git"))
	w := newWorkspaces(t)
	branch := BranchName("t1", "Same task twice")

	run := func(name, content string) *Workspace {
		ws := newWorkspace(t, w, repoOf(t, bare), "main", filepath.Join(tmp, name))
		writeFile(t, filepath.Join(ws.Dir, "f.txt"), content)
		if _, _, err := ws.Commit(ctx, branch, "Same task", Author{}); err != nil {
			t.Fatal(err)
		}
		return ws
	}
	first := run("one", "1")
	second := run("two", "2")
	if err := first.Push(ctx, nil, branch); err != nil {
		t.Fatal(err)
	}
	// Pushing the same commit again (a retried step) succeeds.
	if err := first.Push(ctx, nil, branch); err != nil {
		t.Errorf("re-push: %v", err)
	}
	err := second.Push(ctx, nil, branch)
	if !errors.Is(err, ErrPushRejected) {
		t.Fatalf("err = %v, want ErrPushRejected", err)
	}
	if err := second.Push(ctx, nil, branch, Force()); err != nil {
		t.Fatal(err)
	}
	if got, want := gitT(t, bare, "rev-parse", branch), gitT(t, second.Dir, "--git-dir="+second.GitDir, "rev-parse", branch); got != want {
		t.Errorf("remote = %s, want %s", got, want)
	}
	if err := second.Push(ctx, nil, "vibecoder/never-committed"); err == nil {
		t.Error("pushing a branch that was never committed succeeded")
	}
}

// The remote's default branch moves on after the (shallow) clone; the push still works.
func TestPushAfterRemoteMoved(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tmp, project := newProject(t)
	bare := bareRemote(t, project, filepath.Join(tmp, "remote.git"))
	ws := newWorkspace(t, newWorkspaces(t), repoOf(t, "file://"+bare), "main", filepath.Join(tmp, "ws"))
	if got := gitT(t, ws.Dir, "--git-dir="+ws.GitDir, "rev-list", "--count", "HEAD"); got != "1" {
		t.Errorf("clone depth = %s commits, want 1", got)
	}
	writeFile(t, filepath.Join(project, "later.txt"), "later\n")
	gitT(t, project, "add", "-A")
	gitT(t, project, "commit", "--quiet", "-m", "Later")
	gitT(t, project, "push", "--quiet", bare, "main")

	writeFile(t, filepath.Join(ws.Dir, "x.txt"), "x\n")
	sha, _, err := ws.Commit(ctx, "vibecoder/moved", "Change", Author{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Push(ctx, repoOf(t, "file://"+bare), "vibecoder/moved"); err != nil {
		t.Fatal(err)
	}
	if got := gitT(t, bare, "rev-parse", "vibecoder/moved"); got != sha {
		t.Errorf("remote = %s, want %s", got, sha)
	}
	gitT(t, bare, "fsck", "--no-progress")
}

// A developer's configuration (global excludes that hide *.go, a hook path, a GIT_DIR
// left in the environment) cannot change what a workspace commits.
func TestIgnoresUserConfig(t *testing.T) {
	tmp, project := newProject(t) // before HOME changes
	home := filepath.Join(tmp, "home")
	writeFile(t, filepath.Join(home, ".gitconfig"), "[core]\n\texcludesFile = "+filepath.Join(home, "ignore")+
		"\n\thooksPath = "+filepath.Join(home, "hooks")+"\n[user]\n\tname = Global User\n\temail = global@example.com\n"+
		"[commit]\n\tgpgSign = true\n[init]\n\tdefaultBranch = trunk\n")
	writeFile(t, filepath.Join(home, "ignore"), "*.go\n")
	writeFile(t, filepath.Join(home, ".config/git/ignore"), "*.txt\n")
	writeFile(t, filepath.Join(home, "hooks/pre-commit"), "#!/bin/sh\nexit 1\n")
	if err := os.Chmod(filepath.Join(home, "hooks/pre-commit"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_DIR", filepath.Join(tmp, "nowhere"))
	t.Setenv("GIT_AUTHOR_NAME", "Env Author")

	ctx := t.Context()
	ws := newWorkspace(t, newWorkspaces(t), repoOf(t, project), "main", filepath.Join(tmp, "ws"))
	writeFile(t, filepath.Join(ws.Dir, "new.go"), "package widgets\n")
	writeFile(t, filepath.Join(ws.Dir, "notes.txt"), "notes\n")
	sha, files, err := ws.Commit(ctx, "vibecoder/cfg", "Config", Author{Name: "Ada", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(files, []string{"new.go", "notes.txt"}) {
		t.Errorf("files = %q", files)
	}
	if got := gitT(t, project, "--git-dir="+ws.GitDir, "log", "-1", "--format=%an", sha); got != "Ada" {
		t.Errorf("author = %q", got)
	}
}

// gitHTTPServer serves repositories under root over git's smart HTTP protocol, and
// answers 401 unless a request carries the token the way Push sends it.
func gitHTTPServer(t *testing.T, root, token string) (url string, seen func() []string) {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	backend := &cgi.Handler{
		Path: gitPath, Args: []string{"http-backend"},
		Env:    []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + os.DevNull},
		Stderr: io.Discard,
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		// http-backend accepts pushes only from an authenticated user.
		b := *backend
		b.Env = append(slices.Clone(backend.Env), "REMOTE_USER=x-access-token")
		b.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(auths)
	}
}

// Over HTTPS (HTTP on loopback here) the token authenticates clone and push through
// a header, and appears in no URL, file, or error.
func TestTokenOverHTTP(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tmp, project := newProject(t)
	root := filepath.Join(tmp, "srv")
	bareRemote(t, project, filepath.Join(root, "acme", "widgets.git"))
	base, seen := gitHTTPServer(t, root, testToken)
	remote := base + "/acme/widgets.git"
	w := newWorkspaces(t)

	if _, err := w.Create(ctx, repoOf(t, remote), "main", filepath.Join(tmp, "noauth")); err == nil {
		t.Fatal("clone without a token succeeded")
	} else if strings.Contains(err.Error(), testToken) {
		t.Errorf("error shows the token: %v", err)
	}
	_, err := w.Create(ctx, repoOf(t, remote, "wrong-"+testToken), "main", filepath.Join(tmp, "wrong"))
	if err == nil {
		t.Fatal("clone with a wrong token succeeded")
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error shows the token: %v", err)
	}

	ws := newWorkspace(t, w, repoOf(t, remote, testToken), "main", filepath.Join(tmp, "ws"))
	writeFile(t, filepath.Join(ws.Dir, "x.txt"), "x\n")
	sha, _, err := ws.Commit(ctx, "vibecoder/http", "Over HTTP", Author{})
	if err != nil {
		t.Fatal(err)
	}
	err = ws.Push(ctx, repoOf(t, remote, "bad-"+testToken), "vibecoder/http")
	if err == nil {
		t.Fatal("push with a wrong token succeeded")
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error shows the token: %v", err)
	}
	if err := ws.Push(ctx, nil, "vibecoder/http"); err != nil {
		t.Fatal(err)
	}
	if got := gitT(t, root, "--git-dir="+filepath.Join(root, "acme", "widgets.git"), "rev-parse", "vibecoder/http"); got != sha {
		t.Errorf("remote = %s, want %s", got, sha)
	}
	if len(seen()) == 0 {
		t.Fatal("the server saw no requests")
	}
	assertNoSecret(t, ws.GitDir, testToken)
	assertNoSecret(t, ws.GitDir, base64.StdEncoding.EncodeToString([]byte("x-access-token:"+testToken)))
	assertNoSecret(t, ws.Dir, testToken)
	if cfg := readFile(t, filepath.Join(ws.GitDir, "config")); !strings.Contains(cfg, "url = "+remote) {
		t.Errorf("config:\n%s", cfg)
	}
}

// Credentials in a project's URL are used for the clone but not kept in the
// workspace's configuration or shown in errors.
func TestURLCredentialsNotKept(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tmp, project := newProject(t)
	root := filepath.Join(tmp, "srv")
	bareRemote(t, project, filepath.Join(root, "acme", "widgets.git"))
	base, _ := gitHTTPServer(t, root, testToken)
	withCreds := strings.Replace(base, "http://", "http://x-access-token:"+testToken+"@", 1) + "/acme/widgets.git"
	w := newWorkspaces(t)
	ws := newWorkspace(t, w, repoOf(t, withCreds), "main", filepath.Join(tmp, "ws"))
	if strings.Contains(ws.Source, testToken) {
		t.Errorf("Source = %s", ws.Source)
	}
	assertNoSecret(t, ws.GitDir, testToken)

	_, err := w.Create(ctx, repoOf(t, strings.Replace(withCreds, "widgets", "missing", 1)), "main", filepath.Join(tmp, "ws2"))
	if err == nil || strings.Contains(err.Error(), testToken) {
		t.Errorf("err = %v", err)
	}
}

// Code run in the working copy (the project's tests) may write anything there,
// including a .git directory with hooks and configuration; git never reads it.
func TestPlantedGitDirIgnored(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tmp, project := newProject(t)
	ws := newWorkspace(t, newWorkspaces(t), repoOf(t, project), "main", filepath.Join(tmp, "ws"))
	pwned := filepath.Join(tmp, "pwned")
	script := "#!/bin/sh\ntouch " + pwned + "\n"
	writeFile(t, filepath.Join(ws.Dir, ".git/config"), "[core]\n\tfsmonitor = "+filepath.Join(ws.Dir, ".git/hooks/pre-commit")+
		"\n\thooksPath = "+filepath.Join(ws.Dir, ".git/hooks")+"\n[user]\n\tname = Planted\n")
	for _, hook := range []string{"pre-commit", "commit-msg", "post-commit", "pre-push", "reference-transaction"} {
		writeFile(t, filepath.Join(ws.Dir, ".git/hooks", hook), script)
		if err := os.Chmod(filepath.Join(ws.Dir, ".git/hooks", hook), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(ws.Dir, "change.txt"), "x\n")
	sha, files, err := ws.Commit(ctx, "vibecoder/planted", "Planted", Author{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(files, []string{"change.txt"}) {
		t.Errorf("files = %q", files)
	}
	if err := ws.Push(ctx, nil, "vibecoder/planted"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("a planted hook ran")
	}
	if got := gitT(t, project, "log", "-1", "--format=%an", sha); got != DefaultAuthor.Name {
		t.Errorf("author = %q", got)
	}
}

// TestRestrict: with the paths the agent wrote named, the diff and the commit hold
// those (changed, new and deleted) and nothing else the working copy gained.
func TestRestrict(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tmp, project := newProject(t)
	ws := newWorkspace(t, newWorkspaces(t), repoOf(t, project), "main", filepath.Join(tmp, "ws"))
	writeFile(t, filepath.Join(ws.Dir, "login.go"), "package widgets\n\nfunc Login() error { return nil }\n")
	writeFile(t, filepath.Join(ws.Dir, "new.go"), "package widgets\n")
	if err := os.Remove(filepath.Join(ws.Dir, "old.txt")); err != nil {
		t.Fatal(err)
	}
	// What a test run leaves: not asked for.
	writeFile(t, filepath.Join(ws.Dir, "__pycache__", "login.cpython-311.pyc"), "bytecode")
	writeFile(t, filepath.Join(ws.Dir, "coverage.out"), "mode: set\n")
	ws.Restrict([]string{"login.go", "new.go", "old.txt", "never-existed.go"})
	diff, err := ws.Diff(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"b/login.go", "b/new.go", "a/old.txt"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %s:\n%s", want, diff)
		}
	}
	if strings.Contains(diff, "__pycache__") || strings.Contains(diff, "coverage.out") {
		t.Errorf("diff holds what nobody asked for:\n%s", diff)
	}
	_, files, err := ws.Commit(ctx, "vibecoder/restricted", "Restricted", Author{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(files, []string{"login.go", "new.go", "old.txt"}) {
		t.Errorf("commit files %q", files)
	}
}
