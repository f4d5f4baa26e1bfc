package index_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/postgres"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
	"github.com/vibecoder/vibecoder/internal/testutil"
	"github.com/vibecoder/vibecoder/test/pglite"
)

// dialects are the stores every index test runs on.
var dialects = []string{"sqlite", "postgres"}

func openStore(t testing.TB, dialect string) store.Store {
	t.Helper()
	var st store.Store
	switch dialect {
	case "sqlite":
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "vc.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		st = s
	case "postgres", "pgvector":
		dsn := ""
		if dialect == "postgres" {
			dsn = testutil.PostgresDSN(t)
		} else {
			dsn = pglite.DSN(t)
		}
		s, err := postgres.Open(t.Context(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		if dialect == "pgvector" && !s.VectorIndex() {
			t.Fatal("PGlite store has no pgvector")
		}
		st = s
	}
	t.Cleanup(func() { _ = st.Close() })
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

func forEachDialect(t *testing.T, fn func(t *testing.T, st store.Store)) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) { fn(t, openStore(t, d)) })
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newProject creates a user and a project of repoURL. The user is an administrator:
// with no local repository roots (the indexer's default policy), only administrators
// may index a local path.
func newProject(t testing.TB, st store.Store, repoURL string) *store.Project {
	t.Helper()
	u := &store.User{Email: "u-" + testutil.RandomSuffix(4) + "@example.com", PasswordHash: "h", IsAdmin: true}
	must(t, st.CreateUser(t.Context(), u))
	p := &store.Project{UserID: u.ID, Name: "fixture", RepoURL: repoURL, DefaultBranch: "main"}
	must(t, st.CreateProject(t.Context(), p))
	return p
}

// copyFixture copies testdata/fixture into a new directory.
func copyFixture(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("testdata/fixture", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/fixture", p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	must(t, err)
	return dst
}

// git runs git in dir for a test.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com",
		"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// gitFixture is the fixture as a git work tree with one commit.
func gitFixture(t *testing.T) string {
	t.Helper()
	dir := copyFixture(t)
	git(t, dir, "init", "-q")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "fixture")
	return dir
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(content), 0o644))
}

func mustRead(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	must(t, err)
	return string(b)
}
