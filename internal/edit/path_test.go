package edit

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// escapeFixture is a workspace next to a directory it must never write to, with links from the
// one to the other.
type escapeFixture struct {
	parent, root, outside string
}

func newEscapeFixture(t testing.TB) escapeFixture {
	t.Helper()
	parent := t.TempDir()
	f := escapeFixture{parent: parent, root: filepath.Join(parent, "root"), outside: filepath.Join(parent, "outside")}
	for name, content := range map[string]string{
		"root/a.go":           "package a\n",
		"root/.git/config":    "[core]\n",
		"root/sub/keep":       "",
		"outside/secret.txt":  "secret\n",
		"outside/dir/keep.go": "package keep\n",
	} {
		p := filepath.Join(parent, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"root/linkdir":     f.outside,                 // absolute link to a directory outside
		"root/tmplink":     os.TempDir(),              // a link to /tmp
		"root/relup":       "..",                      // relative link to the parent
		"root/linkfile":    f.outside + "/secret.txt", // a file that is a link outside
		"root/dangling":    f.outside + "/nothing",    // a dangling link outside
		"root/sub/deeper":  "../../outside/dir",       // relative, from a subdirectory
		"root/gitlink":     ".git",                    // inside, but into .git
		"root/gitfilelink": ".git/config",
	} {
		if err := os.Symlink(target, filepath.Join(parent, link)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// snapshot records everything outside the workspace: every path under parent but not under
// root, with its content or link target.
func (f escapeFixture) snapshot(t testing.TB) map[string]string {
	t.Helper()
	snap := make(map[string]string)
	err := filepath.WalkDir(f.parent, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == f.root {
			return filepath.SkipDir
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			snap[path] = "link:" + target
			return err
		case d.IsDir():
			snap[path] = "dir"
		default:
			b, err := os.ReadFile(path)
			snap[path] = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestSafePathRefuses(t *testing.T) {
	tests := []struct {
		name, path, wantIn string
	}{
		{"absolute", "/etc/passwd", "absolute"},
		{"absolute into the workspace's own parent", "/tmp/x", "absolute"},
		{"backslash absolute", `\etc\passwd`, "absolute"},
		{"parent", "../x", `".."`},
		{"parent after a detour", "a/../../x", `".."`},
		{"just ..", "..", `".."`},
		{"git config", ".git/config", ".git"},
		{"git, other case, deeper", "sub/.GIT/hooks/x", ".git"},
		{"git with a trailing dot", ".git./config", ".git"},
		{"git reached by cleaning", "sub/../.git/HEAD", ".git"},
		{"link to a directory outside", "linkdir/secret.txt", "symbolic link"},
		{"link to a directory outside, new file", "linkdir/new.go", "symbolic link"},
		{"link to a directory outside, new subdirectory", "linkdir/x/y/new.go", "symbolic link"},
		{"link to /tmp", "tmplink/vibecoder-edit-escape.go", "symbolic link"},
		{"relative link to the parent", "relup/outside/secret.txt", "symbolic link"},
		{"relative link from a subdirectory", "sub/deeper/keep.go", "symbolic link"},
		{"file that is a link outside", "linkfile", "symbolic link"},
		{"dangling link outside", "dangling", "symbolic link"},
		{"link into .git", "gitlink/config", ".git"},
		{"file link into .git", "gitfilelink", ".git"},
		{"NUL byte", "a.go\x00/../../etc/passwd", "NUL"},
		{"empty", "", "empty"},
		{"blank", "  ", "empty"},
		{"root itself", ".", "root"},
		{"root by cleaning", "sub/..", "root"},
		{"directory", "sub/", "directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newEscapeFixture(t)
			before := f.snapshot(t)
			got, err := SafePath(f.root, tt.path)
			if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("SafePath(%q) = %q, %v; want ErrUnsafePath", tt.path, got, err)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not mention %q", err, tt.wantIn)
			}

			// Apply refuses it too, whether creating or editing, and writes nothing outside.
			gitConfig := mustRead(t, filepath.Join(f.root, ".git/config"))
			res, err := Apply(f.root, []Edit{
				{Path: tt.path, Replace: "pwned\n"},
				{Path: tt.path, Replace: "pwned\n", NewFile: true},
				{Path: tt.path, Search: "secret\n", Replace: "pwned\n"},
				{Path: tt.path, Search: "[core]\n", Replace: "pwned\n"},
				{Path: tt.path, Search: "package keep\n", Replace: "pwned\n"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Applied) > 0 || len(res.Failed) != 5 || len(res.Files) > 0 {
				t.Errorf("Apply: %+v", res)
			}
			for _, fl := range res.Failed {
				if !strings.Contains(fl.Reason, "unsafe path") {
					t.Errorf("reason %q", fl.Reason)
				}
			}
			if after := f.snapshot(t); !maps.Equal(before, after) {
				t.Errorf("outside the workspace changed:\nbefore %v\nafter  %v", before, after)
			}
			if got := mustRead(t, filepath.Join(f.root, ".git/config")); got != gitConfig {
				t.Errorf(".git/config changed to %q", got)
			}
			if _, err := os.Stat(filepath.Join(os.TempDir(), "vibecoder-edit-escape.go")); err == nil {
				t.Error("wrote to /tmp through the link")
			}
		})
	}
}

func TestSafePathAccepts(t *testing.T) {
	f := newEscapeFixture(t)
	tests := []struct{ path, want string }{
		{"a.go", "a.go"},
		{"./a.go", "a.go"},
		{"sub/new/dir/x.go", "sub/new/dir/x.go"},
		{"sub/../b.go", "b.go"},
		{"sub//x.go", "sub/x.go"},
		{".github/workflows/ci.yml", ".github/workflows/ci.yml"},
		{".gitignore", ".gitignore"},
		{"x.git/y", "x.git/y"},
		{"..foo", "..foo"},
	}
	for _, tt := range tests {
		got, err := SafePath(f.root, tt.path)
		if err != nil {
			t.Errorf("SafePath(%q): %v", tt.path, err)
			continue
		}
		real, _ := filepath.EvalSymlinks(f.root)
		if want := filepath.Join(real, tt.want); got != want {
			t.Errorf("SafePath(%q) = %q, want %q", tt.path, got, want)
		}
	}
}

// TestSafePathRootIsALink checks that a workspace reached through a link (macOS's /tmp, say) still
// works and still confines.
func TestSafePathRootIsALink(t *testing.T) {
	f := newEscapeFixture(t)
	alias := filepath.Join(f.parent, "alias")
	if err := os.Symlink(f.root, alias); err != nil {
		t.Fatal(err)
	}
	if _, err := SafePath(alias, "a.go"); err != nil {
		t.Errorf("a.go through an aliased root: %v", err)
	}
	if _, err := SafePath(alias, "linkdir/secret.txt"); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("escape through an aliased root: %v", err)
	}
	res, err := Apply(alias, []Edit{{Path: "a.go", Search: "package a\n", Replace: "package b\n"}})
	if err != nil || len(res.Applied) != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	if got := mustRead(t, filepath.Join(f.root, "a.go")); got != "package b\n" {
		t.Errorf("a.go is %q", got)
	}
}

// TestRootRefusesEscape checks the second line of defence: the writes go through an os.Root, so
// even a path that slipped past SafePath (a link swapped in after the check) cannot leave the root.
func TestRootRefusesEscape(t *testing.T) {
	f := newEscapeFixture(t)
	before := f.snapshot(t)
	r, err := os.OpenRoot(f.root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, rel := range []string{"linkdir/secret.txt", "linkfile", "relup/outside/secret.txt", "sub/deeper/keep.go"} {
		if _, _, _, err := readFile(r, rel); err == nil {
			t.Errorf("readFile(%q) succeeded", rel)
		}
	}
	for _, rel := range []string{"linkdir/new.go", "linkdir/secret.txt", "relup/outside/secret.txt", "sub/deeper/keep.go"} {
		if err := writeFile(r, rel, "pwned\n", 0o644); err == nil {
			t.Errorf("writeFile(%q) succeeded", rel)
		}
	}
	// Renaming over a link replaces the link, inside the root; it never writes through it.
	for _, rel := range []string{"linkfile", "dangling"} {
		if err := writeFile(r, rel, "replaced\n", 0o644); err != nil {
			t.Errorf("writeFile(%q): %v", rel, err)
		}
		if got := mustRead(t, filepath.Join(f.root, rel)); got != "replaced\n" {
			t.Errorf("%s is %q", rel, got)
		}
	}
	if after := f.snapshot(t); !maps.Equal(before, after) {
		t.Errorf("outside the workspace changed:\nbefore %v\nafter  %v", before, after)
	}
}
