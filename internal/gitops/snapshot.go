package gitops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxSnapshotFile bounds one file read from a snapshot: a preview serves web pages,
// not release artefacts.
const MaxSnapshotFile = 32 << 20

var objectName = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// SaveSnapshot writes a bare repository at dst that holds commit and the tree it
// points to, and nothing else: no history, no branches, none of the project's
// configuration. It is what is left of a finished execution for the dashboard's
// preview once its workspace is removed, and it costs about the size of one
// compressed checkout. An existing dst is replaced, so a retried step is harmless.
func (ws *Workspace) SaveSnapshot(ctx context.Context, commit, dst string) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("save snapshot of %s: %w", commit, err)
		}
	}()
	if !objectName.MatchString(commit) {
		return fmt.Errorf("%q is not a commit id", commit)
	}
	dst, err = filepath.Abs(dst)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".snapshot-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if _, err := ws.ws.run(ctx, gitRun{dir: tmp, args: []string{"init", "--quiet", "--bare", "--", tmp}}); err != nil {
		return err
	}
	// The tree's objects (rev-list accepts a tree and walks it) and the commit itself,
	// whose parents are left behind.
	out, err := ws.ws.run(ctx, ws.cmd("rev-list", "--objects", commit+"^{tree}"))
	if err != nil {
		return err
	}
	var list strings.Builder
	list.WriteString(commit + "\n")
	for line := range strings.Lines(string(out)) {
		if id, _, _ := strings.Cut(strings.TrimSpace(line), " "); id != "" {
			list.WriteString(id + "\n")
		}
	}
	pack := ws.cmd("pack-objects", "--quiet", filepath.Join(tmp, "objects", "pack", "pack"))
	pack.stdin = strings.NewReader(list.String())
	if _, err := ws.ws.run(ctx, pack); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// Snapshot is a read-only fs.FS over the tree of one commit of a repository (one
// SaveSnapshot wrote, or any other). Names are checked with fs.ValidPath and looked up
// entry by entry in git's trees, never joined into a file-system path, so nothing
// outside the tree can be named. Symbolic links and submodules are not followed: they
// read as fs.ErrNotExist. A Snapshot carries the context of the request it serves.
type Snapshot struct {
	ctx    context.Context
	w      *Workspaces
	gitDir string
	commit string
}

// OpenSnapshot returns the tree of commit in the repository at gitDir.
func (w *Workspaces) OpenSnapshot(ctx context.Context, gitDir, commit string) (*Snapshot, error) {
	if !objectName.MatchString(commit) {
		return nil, fmt.Errorf("open snapshot: %q is not a commit id", commit)
	}
	if st, err := os.Stat(gitDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("open snapshot %s: %w", gitDir, fs.ErrNotExist)
	}
	s := &Snapshot{ctx: ctx, w: w, gitDir: gitDir, commit: commit}
	if _, err := s.git("cat-file", "-e", commit+"^{tree}"); err != nil {
		return nil, fmt.Errorf("open snapshot %s: commit %s: %w", gitDir, commit, fs.ErrNotExist)
	}
	return s, nil
}

func (s *Snapshot) git(args ...string) ([]byte, error) {
	return s.w.run(s.ctx, gitRun{dir: s.gitDir, global: []string{"--git-dir=" + s.gitDir}, args: args})
}

// treeEntry is one line of git ls-tree -l.
type treeEntry struct {
	mode, typ, id string
	size          int64
}

// lookup finds name's entry in its parent tree.
func (s *Snapshot) lookup(name string) (treeEntry, error) {
	dir, base := path.Split(name)
	// "<commit>:<dir>" names a tree by a path taken literally (no pathspec magic);
	// "<commit>:" is the root.
	out, err := s.git("ls-tree", "-z", "-l", "--full-tree", s.commit+":"+strings.TrimSuffix(dir, "/"))
	if err != nil {
		if s.ctx.Err() != nil {
			return treeEntry{}, err
		}
		// The parent is not a tree of the commit: missing, or a file.
		return treeEntry{}, fs.ErrNotExist
	}
	for rec := range strings.SplitSeq(string(out), "\x00") {
		meta, entryName, ok := strings.Cut(rec, "\t")
		if !ok || entryName != base {
			continue
		}
		f := strings.Fields(meta)
		if len(f) != 4 {
			return treeEntry{}, fmt.Errorf("ls-tree: unexpected line %q", rec)
		}
		e := treeEntry{mode: f[0], typ: f[1], id: f[2]}
		if f[3] != "-" {
			if e.size, err = strconv.ParseInt(f[3], 10, 64); err != nil {
				return treeEntry{}, fmt.Errorf("ls-tree: size %q", f[3])
			}
		}
		return e, nil
	}
	return treeEntry{}, fs.ErrNotExist
}

// Open implements fs.FS.
func (s *Snapshot) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) || strings.ContainsRune(name, 0) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &snapshotFile{info: snapshotInfo{name: ".", mode: fs.ModeDir | 0o555}}, nil
	}
	e, err := s.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	info := snapshotInfo{name: path.Base(name), size: e.size}
	switch {
	case e.typ == "tree":
		info.mode = fs.ModeDir | 0o555
		return &snapshotFile{info: info}, nil
	case e.typ == "blob" && (e.mode == "100644" || e.mode == "100755"):
		info.mode = 0o444
	default: // a symbolic link (120000) or a submodule (commit)
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if e.size > MaxSnapshotFile {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("file of %d bytes is over the %d-byte limit", e.size, MaxSnapshotFile)}
	}
	body, err := s.git("cat-file", "blob", e.id)
	if err != nil {
		return nil, fmt.Errorf("read %s from snapshot: %w", name, err)
	}
	return &snapshotFile{info: info, r: bytes.NewReader(body)}, nil
}

// snapshotFile is an open file (its content in memory) or directory of a Snapshot.
type snapshotFile struct {
	info snapshotInfo
	r    *bytes.Reader // nil for a directory
}

func (f *snapshotFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *snapshotFile) Close() error               { return nil }

func (f *snapshotFile) Read(p []byte) (int, error) {
	if f.r == nil {
		return 0, &fs.PathError{Op: "read", Path: f.info.name, Err: errors.New("is a directory")}
	}
	return f.r.Read(p)
}

// Seek lets http.ServeContent answer range requests.
func (f *snapshotFile) Seek(offset int64, whence int) (int64, error) {
	if f.r == nil {
		return 0, &fs.PathError{Op: "seek", Path: f.info.name, Err: errors.New("is a directory")}
	}
	return f.r.Seek(offset, whence)
}

var _ io.ReadSeeker = (*snapshotFile)(nil)

type snapshotInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (i snapshotInfo) Name() string       { return i.name }
func (i snapshotInfo) Size() int64        { return i.size }
func (i snapshotInfo) Mode() fs.FileMode  { return i.mode }
func (i snapshotInfo) ModTime() time.Time { return time.Time{} }
func (i snapshotInfo) IsDir() bool        { return i.mode.IsDir() }
func (i snapshotInfo) Sys() any           { return nil }

// PruneSnapshots removes the snapshots (directories) under dir last modified before
// cutoff and returns how many it removed. A missing dir has none.
func PruneSnapshots(dir string, cutoff time.Time) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, de := range entries {
		info, err := de.Info()
		if err != nil || !de.IsDir() || !info.ModTime().Before(cutoff) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, de.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
