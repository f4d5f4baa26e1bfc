package gitops

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSnapshot: a snapshot keeps the committed tree (and only it) after the workspace
// is removed, and reads as an fs.FS that names nothing outside the tree.
func TestSnapshot(t *testing.T) {
	ctx := t.Context()
	tmp := t.TempDir()
	repo := fixtureRepo(t, filepath.Join(tmp, "repo"))
	w := newWorkspaces(t)
	ws, err := w.Create(ctx, repoOf(t, repo), "main", filepath.Join(tmp, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ws.Dir, "site/index.html"), "<h1>hi</h1>\n")
	writeFile(t, filepath.Join(ws.Dir, "site/app.js"), "console.log(1)\n")
	if err := os.Symlink("/etc/passwd", filepath.Join(ws.Dir, "site/passwd")); err != nil {
		t.Fatal(err)
	}
	sha, _, err := ws.Commit(ctx, "vibecoder/t-site", "Add a site", Author{})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(tmp, "previews", "exec-1.git")
	if err := ws.SaveSnapshot(ctx, sha, dst); err != nil {
		t.Fatal(err)
	}
	if err := ws.SaveSnapshot(ctx, sha, dst); err != nil { // a retried step
		t.Fatalf("save again: %v", err)
	}
	if err := ws.Remove(); err != nil {
		t.Fatal(err)
	}
	// Only the last commit: its parent (the fixture's history) is not there.
	if out := gitT(t, dst, "--git-dir="+dst, "cat-file", "-t", sha); out != "commit" {
		t.Fatalf("snapshot lacks the commit: %q", out)
	}
	cmdErr := func() error {
		_, err := w.run(ctx, gitRun{dir: dst, global: []string{"--git-dir=" + dst}, args: []string{"cat-file", "-e", ws.BaseSHA}})
		return err
	}
	if cmdErr() == nil {
		t.Fatalf("the snapshot holds the base commit %s too: it should hold one commit", ws.BaseSHA)
	}

	s, err := w.OpenSnapshot(ctx, dst, sha)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"site/index.html": "<h1>hi</h1>\n", "site/app.js": "console.log(1)\n", "README.md": "# Widgets\n"} {
		b, err := fs.ReadFile(s, name)
		if err != nil || string(b) != want {
			t.Errorf("ReadFile(%q) = %q, %v; want %q", name, b, err, want)
		}
	}
	if st, err := fs.Stat(s, "site"); err != nil || !st.IsDir() {
		t.Errorf("Stat(site) = %v, %v; want a directory", st, err)
	}
	f, err := s.Open("site/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.(io.Seeker).Seek(4, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(f); string(rest) != "hi</h1>\n" {
		t.Errorf("after Seek(4): %q", rest)
	}
	for _, name := range []string{"../repo/README.md", "/etc/passwd", "site/../../x", "site/passwd", "nope.txt", "site/index.html/x",
		"README.md/", "", "a\x00b", "site/./app.js"} {
		if _, err := s.Open(name); err == nil {
			t.Errorf("Open(%q) succeeded", name)
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Open(%q) = %v; want not-exist or invalid", name, err)
		}
	}
	if _, err := w.OpenSnapshot(ctx, dst, strings.Repeat("0", 40)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a commit the snapshot lacks: %v", err)
	}
	if _, err := w.OpenSnapshot(ctx, dst, "HEAD"); err == nil {
		t.Error("a revision expression was accepted as a commit id")
	}

	// Pruning goes by age.
	if n, err := PruneSnapshots(filepath.Dir(dst), time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("prune of fresh snapshots: %d, %v", n, err)
	}
	if n, err := PruneSnapshots(filepath.Dir(dst), time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("prune of old snapshots: %d, %v", n, err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("pruned snapshot still there: %v", err)
	}
}
