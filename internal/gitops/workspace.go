package gitops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Author is who a commit is attributed to, as author and committer.
type Author struct {
	Name  string
	Email string
}

// DefaultAuthor signs commits when no author is configured.
var DefaultAuthor = Author{Name: "Vibe Coder", Email: "vibecoder@localhost"}

func (a Author) validate() error {
	if strings.TrimSpace(a.Name) == "" || strings.TrimSpace(a.Email) == "" {
		return errors.New("author needs a name and an email")
	}
	if strings.ContainsAny(a.Name+a.Email, "<>\n\r\x00") {
		return fmt.Errorf("author %q <%s>: name and email cannot contain <, > or line breaks", a.Name, a.Email)
	}
	if !strings.Contains(a.Email, "@") {
		return fmt.Errorf("author email %q has no @", a.Email)
	}
	return nil
}

// Workspace is an isolated working copy of a project's repository, cloned at its
// default branch. Its repository lives in GitDir, beside Dir rather than inside it:
// mount Dir alone into a sandbox. A Workspace is not safe for concurrent use.
type Workspace struct {
	// Dir is the working copy. It holds the project's files and nothing of git's.
	Dir string
	// GitDir is the workspace's repository, Dir + ".git".
	GitDir string
	// Source is where the workspace was cloned from: the project's real path, or
	// its URL without credentials.
	Source string
	// Local reports a project given as a local path.
	Local bool
	// BaseBranch and BaseSHA are the branch cloned and its commit, which diffs and
	// commits are made against.
	BaseBranch string
	BaseSHA    string

	ws     *Workspaces
	repo   *Repository // cloned from; nil for a reopened workspace
	only   []string    // Restrict's paths; nil: every change
	branch string      // the branch Commit made, and its commit
	head   string
}

// Create clones repo (resolved by a RepoPolicy) at defaultBranch (the remote's
// default branch when empty, or when the named branch does not exist) into dir, which
// must not exist; the repository goes into dir + ".git". A local repository is copied
// (no hard links), never worked in.
func (w *Workspaces) Create(ctx context.Context, repo *Repository, defaultBranch, dir string) (*Workspace, error) {
	if repo == nil || repo.raw == "" {
		return nil, errors.New("create workspace: no repository")
	}
	if defaultBranch != "" {
		if err := w.CheckBranch(ctx, defaultBranch); err != nil {
			return nil, fmt.Errorf("create workspace: default branch: %w", err)
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("create workspace: %w", err)
	}
	ws := &Workspace{Dir: dir, GitDir: dir + ".git", ws: w, repo: repo, Source: repo.String(), Local: repo.IsPath()}
	if repo.IsPath() {
		ws.Source = repo.Path()
	}
	for _, p := range []string{ws.Dir, ws.GitDir} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("create workspace %s: %w", p, fs.ErrExist)
		}
	}
	if repo.IsPath() {
		st, err := os.Stat(repo.Path())
		if err != nil {
			return nil, fmt.Errorf("create workspace: repository %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("create workspace: repository %s is not a directory", repo.Path())
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return nil, fmt.Errorf("create workspace: %w", err)
	}
	if err := ws.clone(ctx, defaultBranch); err != nil {
		_ = ws.Remove()
		return nil, fmt.Errorf("create workspace from %s: %w", ws.Source, err)
	}
	w.log.Info("workspace created", slog.String("dir", ws.Dir), slog.String("source", ws.Source),
		slog.String("branch", ws.BaseBranch), slog.String("base", ws.BaseSHA))
	return ws, nil
}

func (ws *Workspace) clone(ctx context.Context, branch string) error {
	args := []string{"clone", "--quiet", "--no-tags", "--single-branch", "--separate-git-dir=" + ws.GitDir}
	if ws.Local {
		args = append(args, "--no-hardlinks")
	} else if d := ws.ws.cfg.CloneDepth; d > 0 {
		args = append(args, "--depth", fmt.Sprint(d))
	}
	clone := func(branch string) error {
		a := args
		if branch != "" {
			a = append(a, "--branch", branch)
		}
		_, err := ws.ws.remote(ctx, ws.repo, gitRun{
			dir: filepath.Dir(ws.Dir), args: append(a, "--", ws.repo.url(), ws.Dir),
			timeout: ws.ws.cfg.NetworkTimeout,
		})
		return err
	}
	err := clone(branch)
	if err != nil && branch != "" && ctx.Err() == nil && strings.Contains(err.Error(), "not found in upstream") {
		// The project's branch (often the default "main") is not in the repository:
		// take its default branch rather than fail, as the indexer does.
		ws.ws.log.Warn("branch not found in the repository; cloning its default branch",
			slog.String("branch", branch), slog.String("source", ws.Source))
		_ = ws.Remove()
		err = clone("")
	}
	if err != nil {
		return err
	}
	// Every command names the repository explicitly; a .git file in the working copy
	// would only invite the code run there to redirect it.
	if err := os.Remove(filepath.Join(ws.Dir, ".git")); err != nil {
		return err
	}
	if ws.Source != ws.repo.url() {
		if _, err := ws.git(ctx, "remote", "set-url", "origin", ws.Source); err != nil {
			return err
		}
	}
	sha, err := ws.git(ctx, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
	if err != nil {
		return errors.New("the repository has no commits")
	}
	ws.BaseSHA = sha
	ws.BaseBranch, err = ws.git(ctx, "symbolic-ref", "--short", "HEAD")
	return err
}

// git runs a git command in the workspace and returns its output, trimmed.
func (ws *Workspace) git(ctx context.Context, args ...string) (string, error) {
	out, err := ws.ws.run(ctx, ws.cmd(args...))
	return strings.TrimSpace(string(out)), err
}

func (ws *Workspace) cmd(args ...string) gitRun {
	return gitRun{
		dir:    ws.Dir,
		global: []string{"--git-dir=" + ws.GitDir, "--work-tree=" + ws.Dir},
		args:   args,
	}
}

// Remove deletes the workspace: its working copy and its repository. Removing a
// removed workspace does nothing.
func (ws *Workspace) Remove() error {
	return errors.Join(os.RemoveAll(ws.Dir), os.RemoveAll(ws.GitDir))
}

// Restrict limits what Diff, ChangedFiles and Commit take from the working copy to
// paths (slash-separated, relative to Dir): the files the agent changed, as they are
// now — changed, new or deleted. Anything else in the working copy (what the test
// command wrote: caches, bytecode, build output) stays out of the diff and the commit,
// so the commit is exactly the change that was tested and reviewed. nil (the default)
// takes every change, honouring the project's .gitignore.
func (ws *Workspace) Restrict(paths []string) { ws.only = paths }

// stage records the change in the index: the restricted paths over the base commit,
// or every change in the working copy.
func (ws *Workspace) stage(ctx context.Context) error {
	if ws.only == nil {
		_, err := ws.git(ctx, "add", "--all", "--", ".")
		return err
	}
	if _, err := ws.git(ctx, "read-tree", ws.BaseSHA); err != nil {
		return err
	}
	if len(ws.only) == 0 {
		return nil
	}
	var list strings.Builder
	for _, p := range ws.only {
		list.WriteString(p)
		list.WriteByte(0)
	}
	c := ws.cmd("update-index", "--add", "--remove", "-z", "--stdin")
	c.stdin = strings.NewReader(list.String())
	_, err := ws.ws.run(ctx, c)
	return err
}

// Diff returns the unified diff of the working copy against the base commit, new and
// deleted files included ("" when nothing changed).
func (ws *Workspace) Diff(ctx context.Context) (string, error) {
	if err := ws.stage(ctx); err != nil {
		return "", fmt.Errorf("diff workspace: %w", err)
	}
	out, err := ws.ws.run(ctx, ws.cmd("diff", "--cached", "--no-color", "--no-ext-diff", "--no-textconv",
		"--find-renames", "--src-prefix=a/", "--dst-prefix=b/", ws.BaseSHA, "--"))
	if err != nil {
		return "", fmt.Errorf("diff workspace: %w", err)
	}
	return string(out), nil
}

// ChangedFiles returns the paths (slash-separated, relative to the working copy) that
// differ from the base commit: added, modified and deleted, a rename as both names.
func (ws *Workspace) ChangedFiles(ctx context.Context) ([]string, error) {
	if err := ws.stage(ctx); err != nil {
		return nil, fmt.Errorf("changed files: %w", err)
	}
	files, err := ws.names(ctx, "--cached", ws.BaseSHA)
	if err != nil {
		return nil, fmt.Errorf("changed files: %w", err)
	}
	return files, nil
}

func (ws *Workspace) names(ctx context.Context, revs ...string) ([]string, error) {
	args := append([]string{"diff", "--name-only", "-z", "--no-renames", "--no-ext-diff"}, revs...)
	out, err := ws.ws.run(ctx, ws.cmd(append(args, "--")...))
	if err != nil {
		return nil, err
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}

// Commit commits every change in the working copy as one commit on branch, created
// from (or reset to) the base commit, attributed to author as author and committer
// (DefaultAuthor when zero). It returns the commit and the files it changes, and
// ErrNothingToCommit when the working copy equals the base. Committing again with
// nothing new returns the same commit, so a retried step is harmless. No hook runs.
func (ws *Workspace) Commit(ctx context.Context, branch, message string, author Author) (sha string, files []string, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("commit on %s: %w", branch, err)
		}
	}()
	if err := ws.ws.CheckBranch(ctx, branch); err != nil {
		return "", nil, err
	}
	if author == (Author{}) {
		author = DefaultAuthor
	}
	if err := author.validate(); err != nil {
		return "", nil, err
	}
	message = strings.TrimSpace(message)
	if message == "" {
		return "", nil, errors.New("empty commit message")
	}
	if err := ws.stage(ctx); err != nil {
		return "", nil, err
	}
	tree, err := ws.git(ctx, "write-tree")
	if err != nil {
		return "", nil, err
	}
	if ws.head != "" && ws.branch == branch {
		if headTree, err := ws.git(ctx, "rev-parse", ws.head+"^{tree}"); err == nil && headTree == tree {
			files, err := ws.names(ctx, ws.BaseSHA, ws.head)
			return ws.head, files, err
		}
	}
	baseTree, err := ws.git(ctx, "rev-parse", ws.BaseSHA+"^{tree}")
	if err != nil {
		return "", nil, err
	}
	if tree == baseTree {
		return "", nil, ErrNothingToCommit
	}
	c := ws.cmd("commit-tree", "--no-gpg-sign", "-p", ws.BaseSHA, "-F", "-", tree)
	c.stdin = strings.NewReader(message + "\n")
	c.env = []string{
		"GIT_AUTHOR_NAME=" + author.Name, "GIT_AUTHOR_EMAIL=" + author.Email,
		"GIT_COMMITTER_NAME=" + author.Name, "GIT_COMMITTER_EMAIL=" + author.Email,
	}
	out, err := ws.ws.run(ctx, c)
	if err != nil {
		return "", nil, err
	}
	sha = strings.TrimSpace(string(out))
	if _, err := ws.git(ctx, "update-ref", "-m", "vibecoder: commit", "refs/heads/"+branch, sha); err != nil {
		return "", nil, err
	}
	if _, err := ws.git(ctx, "symbolic-ref", "HEAD", "refs/heads/"+branch); err != nil {
		return "", nil, err
	}
	ws.branch, ws.head = branch, sha
	if files, err = ws.names(ctx, ws.BaseSHA, sha); err != nil {
		return "", nil, err
	}
	ws.ws.log.Info("workspace committed", slog.String("dir", ws.Dir), slog.String("branch", branch),
		slog.String("sha", sha), slog.Int("files", len(files)))
	return sha, files, nil
}

// PushOption adjusts Push.
type PushOption func(*pushOptions)

type pushOptions struct{ force bool }

// Force replaces the remote branch even when it holds commits the pushed one does not
// contain, for re-running a task onto its existing branch.
func Force() PushOption { return func(o *pushOptions) { o.force = true } }

// Push pushes branch (made by Commit) to repo under the same name; a nil repo means
// the one the workspace was cloned from. A local repository keeps the branch beside
// its other branches (its checked-out branch and working tree are untouched); an
// HTTPS remote gets the policy's token, which is not written anywhere. A remote that
// refuses the update yields ErrPushRejected.
func (ws *Workspace) Push(ctx context.Context, repo *Repository, branch string, opts ...PushOption) error {
	var o pushOptions
	for _, opt := range opts {
		opt(&o)
	}
	if repo == nil {
		repo = ws.repo
	}
	if repo == nil {
		return fmt.Errorf("push %s: no repository to push to", branch)
	}
	shown := repo.String()
	if repo.IsPath() {
		shown = repo.Path()
	}
	if err := ws.ws.CheckBranch(ctx, branch); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	ref := "refs/heads/" + branch
	if _, err := ws.git(ctx, "rev-parse", "--verify", "--quiet", ref); err != nil {
		return fmt.Errorf("push %s: no such branch in the workspace (commit first)", branch)
	}
	spec := ref + ":" + ref
	if o.force {
		spec = "+" + spec
	}
	c := ws.cmd("push", "--quiet", "--no-verify", "--", repo.url(), spec)
	c.timeout = ws.ws.cfg.NetworkTimeout
	if _, err := ws.ws.remote(ctx, repo, c); err != nil {
		return fmt.Errorf("push %s to %s: %w", branch, shown, err)
	}
	ws.ws.log.Info("branch pushed", slog.String("branch", branch), slog.String("remote", shown))
	return nil
}

// Discard removes what a workspace at dir left behind (after a crash, say): dir and
// dir + ".git".
func (w *Workspaces) Discard(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	return errors.Join(os.RemoveAll(dir), os.RemoveAll(dir+".git"))
}
