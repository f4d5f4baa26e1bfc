package index

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vibecoder/vibecoder/internal/safefs"
	"github.com/vibecoder/vibecoder/internal/store"
)

// isRemote reports whether repoURL names a repository to clone rather than a local path.
func isRemote(repoURL string) bool {
	if strings.Contains(repoURL, "://") {
		return true
	}
	// scp-like syntax: user@host:path
	at, colon := strings.Index(repoURL, "@"), strings.Index(repoURL, ":")
	return at > 0 && colon > at && !strings.ContainsAny(repoURL[:at], "/\\")
}

// git runs the git CLI in dir with the indexer's timeout, never prompting for
// credentials, and returns its standard output.
func (ix *Indexer) git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, ix.cfg.GitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=", "SSH_ASKPASS=", "GIT_SSH_COMMAND=ssh -oBatchMode=yes")
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && context.Cause(ctx) == context.DeadlineExceeded {
				return nil, fmt.Errorf("git %s: timed out after %s", args[0], ix.cfg.GitTimeout)
			}
			return nil, fmt.Errorf("git %s: %w", args[0], ctx.Err())
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return nil, fmt.Errorf("git %s: %v: %s", args[0], err, msg)
	}
	return stdout.Bytes(), nil
}

// checkout returns the directory to index for the project: a local path in place, or
// the project's clone under <data dir>/repos/<project id>, cloned or brought up to date
// with its default branch. isGit reports whether git can list its files.
func (ix *Indexer) checkout(ctx context.Context, p *store.Project) (root string, isGit bool, err error) {
	if !isRemote(p.RepoURL) {
		root, err = filepath.Abs(p.RepoURL)
		if err != nil {
			return "", false, err
		}
		st, err := os.Stat(root)
		if err != nil {
			return "", false, fmt.Errorf("repository path %s: %w", p.RepoURL, err)
		}
		if !st.IsDir() {
			return "", false, fmt.Errorf("repository path %s is not a directory", p.RepoURL)
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
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		ref := "HEAD"
		if p.DefaultBranch != "" {
			ref = p.DefaultBranch
		}
		if _, err := ix.git(ctx, dir, "remote", "set-url", "origin", p.RepoURL); err != nil {
			return "", false, err
		}
		if _, err := ix.git(ctx, dir, "fetch", "--depth", "1", "--no-tags", "origin", ref); err != nil {
			return "", false, err
		}
		if _, err := ix.git(ctx, dir, "reset", "--hard", "--quiet", "FETCH_HEAD"); err != nil {
			return "", false, err
		}
		if _, err := ix.git(ctx, dir, "clean", "-ffdxq"); err != nil {
			return "", false, err
		}
		return dir, true, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o750); err != nil {
		return "", false, err
	}
	// Clone beside the final place and rename, so a failed clone leaves nothing behind.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "clone-*")
	if err != nil {
		return "", false, err
	}
	defer os.RemoveAll(tmp)
	args := []string{"clone", "--depth", "1", "--no-tags", "--quiet"}
	if p.DefaultBranch != "" {
		args = append(args, "--branch", p.DefaultBranch)
	}
	_, err = ix.git(ctx, tmp, append(args, "--", p.RepoURL, "repo")...)
	if err != nil && p.DefaultBranch != "" && ctx.Err() == nil && strings.Contains(err.Error(), "not found in upstream") {
		// The project's branch (often the default "main") is not on the remote: take the
		// remote's default branch rather than fail.
		ix.log.Warn("branch not found on the remote; cloning its default branch instead")
		_ = os.RemoveAll(filepath.Join(tmp, "repo"))
		_, err = ix.git(ctx, tmp, "clone", "--depth", "1", "--no-tags", "--quiet", "--", p.RepoURL, "repo")
	}
	if err != nil {
		return "", false, err
	}
	if err := os.Rename(filepath.Join(tmp, "repo"), dir); err != nil {
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
	if bytes.IndexByte(head, 0) >= 0 {
		return skipBinary
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
