package gitops

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newWorkspaces(t *testing.T) *Workspaces {
	t.Helper()
	w, err := NewWorkspaces(slog.New(slog.DiscardHandler), Config{Timeout: 30 * time.Second, NetworkTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// gitT runs git for a test's fixtures, isolated from the developer's configuration,
// and returns its trimmed output.
func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Fixture", "-c", "user.email=fixture@example.com",
		"-c", "init.defaultBranch=main", "-c", "commit.gpgSign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = gitEnv(os.Environ())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fixtureRepo makes a repository at dir with two commits on main and returns dir.
func fixtureRepo(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gitT(t, dir, "init", "--quiet", "--initial-branch=main")
	writeFile(t, filepath.Join(dir, "README.md"), "# Widgets\n")
	writeFile(t, filepath.Join(dir, ".gitignore"), "*.log\n")
	gitT(t, dir, "add", "-A")
	gitT(t, dir, "commit", "--quiet", "-m", "Initial commit")
	writeFile(t, filepath.Join(dir, "login.go"), "package widgets\n\nfunc Login() {}\n")
	writeFile(t, filepath.Join(dir, "old.txt"), "to be deleted\n")
	gitT(t, dir, "add", "-A")
	gitT(t, dir, "commit", "--quiet", "-m", "Add login")
	return dir
}

// newProject makes a fixture repository (fixtureRepo) at project in a fresh temporary
// directory and returns both.
func newProject(t *testing.T) (tmp, project string) {
	t.Helper()
	tmp = t.TempDir()
	return tmp, fixtureRepo(t, filepath.Join(tmp, "project"))
}

// newWorkspace creates a workspace of repo at dir (Workspaces.Create) and removes it
// when the test ends.
func newWorkspace(t *testing.T, w *Workspaces, repo *Repository, defaultBranch, dir string) *Workspace {
	t.Helper()
	ws, err := w.Create(t.Context(), repo, defaultBranch, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Remove() })
	return ws
}

// testPolicy lets an administrator use any local path and remotes on loopback (the
// tests' servers), with token for HTTPS.
func testPolicy(token string) *RepoPolicy {
	return &RepoPolicy{AllowPrivateRemotes: true, GitHubToken: token}
}

// repoOf resolves raw under testPolicy(token), for an administrator.
func repoOf(t *testing.T, raw string, token ...string) *Repository {
	t.Helper()
	r, err := testPolicy(strings.Join(token, "")).Resolve(t.Context(), raw, Owner{Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checked is repoOf for a repository that need not exist (RepoPolicy.Check).
func checked(t *testing.T, raw string) *Repository {
	t.Helper()
	r, err := testPolicy("").Check(t.Context(), raw, Owner{Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// bareRemote makes a bare copy of repo at dir (a project's remote, as on GitHub).
func bareRemote(t *testing.T, repo, dir string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	gitT(t, filepath.Dir(dir), "clone", "--quiet", "--bare", repo, dir)
	return dir
}

// editWorkspace changes login.go, adds a new file, deletes old.txt, and writes an
// ignored log file.
func editWorkspace(t *testing.T, dir string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "login.go"), "package widgets\n\n// Login is rate limited.\nfunc Login() {}\n")
	writeFile(t, filepath.Join(dir, "ratelimit/limiter.go"), "package ratelimit\n\ntype Limiter struct{}\n")
	if err := os.Remove(filepath.Join(dir, "old.txt")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "test.log"), "ignored\n")
}

// assertNoSecret fails when secret appears in any file under dir.
func assertNoSecret(t *testing.T, dir, secret string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("%s contains the token", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
