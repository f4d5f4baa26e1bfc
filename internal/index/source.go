package index

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/safefs"
	"github.com/vibecoder/vibecoder/internal/store"
)

// git runs a git command that reads the checkout (rev-parse, ls-files) in dir through
// gitops's runner: the sanitised environment, hooks and fsmonitor off, bounded by the
// indexer's GitTimeout; it returns the standard output.
func (ix *Indexer) git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, ix.cfg.GitTimeout)
	defer cancel()
	return ix.gitops.Run(ctx, dir, args...)
}

// repository resolves the project's repository for its owner under the policy, now:
// the roots, the owner's directory and the remote's addresses are checked at each use,
// not only when the project was registered.
func (ix *Indexer) repository(ctx context.Context, p *store.Project) (*gitops.Repository, error) {
	u, err := ix.st.GetUser(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	return ix.cfg.Repos.Resolve(ctx, p.RepoURL, gitops.Owner{ID: u.ID, Admin: u.IsAdmin})
}

// checkout returns the directory to index for the project: a local path in place (its
// real path), or the project's clone under <data dir>/repos/<project id>, cloned or
// brought up to date with its default branch. isGit reports whether git can list its
// files.
func (ix *Indexer) checkout(ctx context.Context, p *store.Project) (root string, isGit bool, err error) {
	repo, err := ix.repository(ctx, p)
	if err != nil {
		return "", false, err
	}
	if repo.IsPath() {
		root = repo.Path()
		st, err := os.Stat(root)
		if err != nil {
			return "", false, fmt.Errorf("repository path %s: %w", repo, err)
		}
		if !st.IsDir() {
			return "", false, fmt.Errorf("repository path %s is not a directory", repo)
		}
		top, err := ix.git(ctx, root, "rev-parse", "--show-toplevel")
		if err == nil && sameDir(strings.TrimSpace(string(top)), root) {
			return root, true, nil
		}
		if ctx.Err() != nil {
			return "", false, ctx.Err()
		}
		return root, false, nil
	}
	dir := filepath.Join(ix.cfg.DataDir, "repos", p.ID.String())
	if err := ix.gitops.Sync(ctx, repo, p.DefaultBranch, dir, ix.cfg.CloneTimeout); err != nil {
		return "", false, err
	}
	return dir, true, nil
}

func sameDir(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// listFiles returns the repository's files as slash-separated paths relative to root:
// what git tracks plus untracked files not ignored, or, outside git, a walk of tree
// (which never descends through a link) honouring a top-level .gitignore.
func (ix *Indexer) listFiles(ctx context.Context, tree *safefs.Tree, root string, isGit bool) ([]string, error) {
	if isGit {
		out, err := ix.git(ctx, root, "-c", "core.quotePath=off", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
		if err != nil {
			return nil, err
		}
		var files []string
		seen := map[string]bool{}
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" && !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
		return files, nil
	}
	ign := readGitignore(tree)
	var files []string
	err := tree.WalkDir(func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			if rel == "." {
				return err
			}
			return nil // unreadable entries are skipped
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if d.IsDir() {
			if d.Name() == ".git" || ign.match(rel, true) {
				return fs.SkipDir
			}
			return nil
		}
		if !ign.match(rel, false) {
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

// gitignore is a minimal .gitignore: blank lines and comments skipped, "!" negations
// not supported, a trailing "/" for directories only, a pattern with an inner "/"
// anchored at the root, others matched against every path component.
type gitignore []ignorePattern

type ignorePattern struct {
	pattern  string
	dirOnly  bool
	anchored bool
}

// maxGitignore bounds the .gitignore read.
const maxGitignore = 1 << 20

func readGitignore(tree *safefs.Tree) gitignore {
	data, err := tree.ReadFile(".gitignore", maxGitignore)
	if err != nil {
		return nil
	}
	var g gitignore
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "!") {
			continue
		}
		ip := ignorePattern{}
		if strings.HasSuffix(line, "/") {
			ip.dirOnly = true
			line = strings.TrimSuffix(line, "/")
		}
		if strings.Contains(line, "/") {
			ip.anchored = true
			line = strings.TrimPrefix(line, "/")
		}
		ip.pattern = strings.TrimPrefix(line, "**/")
		g = append(g, ip)
	}
	return g
}

func (g gitignore) match(rel string, isDir bool) bool {
	for _, ip := range g {
		if ip.dirOnly && !isDir {
			continue
		}
		if ip.anchored {
			if ok, _ := path.Match(ip.pattern, rel); ok {
				return true
			}
			continue
		}
		if ok, _ := path.Match(ip.pattern, path.Base(rel)); ok {
			return true
		}
	}
	return false
}

// Skip reasons.
const (
	skipVendored  = "vendored"
	skipGenerated = "generated"
	skipBinary    = "binary"
	skipTooLarge  = "too large"
	skipSymlink   = "symlink"
	skipNotFile   = "not a regular file"
)

var vendoredDirs = map[string]bool{"vendor": true, "node_modules": true, "third_party": true}

var lockFiles = map[string]bool{
	"package-lock.json": true, "yarn.lock": true, "pnpm-lock.yaml": true, "go.sum": true, "Cargo.lock": true,
	"poetry.lock": true, "Gemfile.lock": true, "composer.lock": true, "Pipfile.lock": true, "bun.lockb": true,
	"npm-shrinkwrap.json": true, "flake.lock": true, "mix.lock": true, "packages.lock.json": true, "uv.lock": true,
}

// skipByName says why a path is not indexed, from its name alone ("" to index it).
func skipByName(rel string) string {
	parts := strings.Split(rel, "/")
	for _, d := range parts[:len(parts)-1] {
		if vendoredDirs[d] {
			return skipVendored
		}
	}
	base := parts[len(parts)-1]
	if lockFiles[base] || strings.HasSuffix(base, ".lock") {
		return skipGenerated
	}
	for _, suf := range []string{".min.js", ".min.css", ".min.mjs", ".pb.go", "_pb2.py", ".map"} {
		if strings.HasSuffix(base, suf) {
			return skipGenerated
		}
	}
	return ""
}

// generatedRE is Go's convention for generated files (https://go.dev/s/generatedcode),
// which other generators follow too, in any line comment style.
var generatedRE = regexp.MustCompile(`(?m)^\s*(?://|#|--|;)\s*Code generated .* DO NOT EDIT\.\s*$`)

// skipByContent says why a file's content is not indexed ("" to index it).
func skipByContent(data []byte) string {
	head := data[:min(len(data), 8<<10)]
	if bytes.IndexByte(data, 0) >= 0 {
		return skipBinary // anywhere, not only in the head: PostgreSQL text cannot hold NUL
	}
	if !utf8.Valid(data) {
		return skipBinary // neither database stores invalid UTF-8 text
	}
	if generatedRE.Match(head) {
		return skipGenerated
	}
	return ""
}

// openInRoot reads rel from tree unless it must be skipped. A link is followed only to
// a regular file that stays inside the tree; a FIFO, socket or device is never opened
// for reading (safefs), so it cannot block the indexer.
func openInRoot(tree *safefs.Tree, rel string, maxBytes int64) ([]byte, string, error) {
	fi, err := tree.Lstat(rel)
	if err != nil {
		return nil, "", err
	}
	link := fi.Mode()&fs.ModeSymlink != 0
	if !link && !fi.Mode().IsRegular() {
		return nil, skipNotFile, nil
	}
	data, err := tree.ReadFile(rel, maxBytes)
	switch {
	case errors.Is(err, safefs.ErrTooLarge):
		return nil, skipTooLarge, nil
	case link && err != nil:
		return nil, skipSymlink, nil // dangling, out of the repository, or not to a file
	case errors.Is(err, safefs.ErrNotRegular):
		return nil, skipNotFile, nil // swapped since the Lstat
	case err != nil:
		return nil, "", err
	}
	return data, "", nil
}
