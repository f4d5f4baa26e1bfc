package edit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrUnsafePath is wrapped by every refusal of SafePath.
var ErrUnsafePath = errors.New("unsafe path")

// SafePath returns the absolute path that rel names inside root, with symbolic links inside the
// workspace resolved, or an error wrapping [ErrUnsafePath] that says why it is refused: rel is
// empty, holds a NUL byte, is absolute, climbs out of root with "..", names root itself or a
// directory, lies under a ".git" directory (in any case), or reaches outside root through a
// symbolic link (the deepest part of the path that exists is resolved, so a link to a directory
// outside, or a file that is a link to outside, are both caught). The path need not exist.
//
// The check is made once; Apply also does its I/O through an [os.Root] so that a link swapped in
// afterwards cannot redirect a write either.
func SafePath(root, rel string) (string, error) {
	realRoot, err := resolveRoot(root)
	if err != nil {
		return "", err
	}
	return safePath(realRoot, rel)
}

// resolveRoot makes root absolute and resolves its own links, so that paths found by resolving
// links inside it can be compared with it.
func resolveRoot(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("workspace root %s: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("workspace root %s: %w", root, err)
	}
	return real, nil
}

func refuse(rel, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrUnsafePath, rel, fmt.Sprintf(format, args...))
}

// safePath is SafePath for a root that is already absolute and resolved.
func safePath(realRoot, rel string) (string, error) {
	switch {
	case strings.TrimSpace(rel) == "":
		return "", refuse(rel, "the path is empty")
	case strings.IndexByte(rel, 0) >= 0:
		return "", refuse(rel, "the path contains a NUL byte")
	case filepath.IsAbs(rel) || strings.HasPrefix(rel, "/") || strings.HasPrefix(rel, `\`) || filepath.VolumeName(rel) != "":
		return "", refuse(rel, "absolute paths are not allowed; give the path relative to the repository root")
	case strings.HasSuffix(rel, "/") || strings.HasSuffix(rel, `\`):
		return "", refuse(rel, "the path names a directory, not a file")
	}
	clean := filepath.Clean(rel)
	if clean == "." {
		return "", refuse(rel, "the path names the repository root, not a file")
	}
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", refuse(rel, "the path leads outside the repository with \"..\"")
	}
	if underGit(clean) {
		return "", refuse(rel, "files under .git cannot be edited")
	}

	// Resolve the deepest part of the path that exists: a link anywhere in it shows up there.
	full := filepath.Join(realRoot, clean)
	existing := full
	for existing != realRoot {
		if _, err := os.Lstat(existing); err == nil {
			break
		}
		existing = filepath.Dir(existing)
	}
	resolved, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return "", refuse(rel, "it goes through a symbolic link that cannot be resolved")
	}
	if !within(realRoot, resolved) {
		return "", refuse(rel, "it leads outside the repository through a symbolic link")
	}
	final := resolved + full[len(existing):]
	inner, err := filepath.Rel(realRoot, final)
	if err != nil || inner == "." {
		return "", refuse(rel, "the path names the repository root, not a file")
	}
	// A link inside the workspace may still point into .git.
	if underGit(inner) {
		return "", refuse(rel, "it leads into .git through a symbolic link")
	}
	return final, nil
}

// underGit reports whether any component of a cleaned relative path is ".git", ignoring case
// (case-insensitive file systems) and the trailing dots and spaces Windows drops from names.
func underGit(clean string) bool {
	for part := range strings.SplitSeq(filepath.ToSlash(clean), "/") {
		if strings.EqualFold(strings.TrimRight(part, ". "), ".git") {
			return true
		}
	}
	return false
}

// within reports whether path is root or below it; both are absolute and clean.
func within(root, path string) bool {
	if path == root {
		return true
	}
	prefix := root
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	return strings.HasPrefix(path, prefix)
}
