// Package safefs reads directory trees the server does not trust: workspaces the project's
// tests ran in, clones of users' repositories, local repositories. Every name is looked up
// inside the tree through an [os.Root], so no symbolic link or ".." leads out of it; only
// regular files are read, opened without blocking (a FIFO, socket or device is refused
// before a byte is read, never waited on) and read up to a bound. A tree can be changed
// while it is read (by a process still running in it); the worst that can do is make a
// read fail or show another file of the same tree.
package safefs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
)

// Errors a read can fail with, for errors.Is.
var (
	// ErrNotRegular means the name is a directory, FIFO, socket, device or a link that
	// leads out of the tree.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge means the file is bigger than the bound the caller gave.
	ErrTooLarge = errors.New("file too large")
)

// readFlags open a file for reading without ever waiting: O_NONBLOCK makes opening a
// FIFO with no writer return at once (the file type is then checked and the FIFO
// refused), and O_NOCTTY keeps a terminal device from becoming the server's.
const readFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY

// Tree is an open directory tree. Names are slash-separated and relative to it ("." is the
// tree itself). A Tree is safe for concurrent use; Close it when done.
type Tree struct {
	root *os.Root
}

// Open opens the tree at dir. dir itself may be reached through links (it is the
// server's own path); nothing under it is followed out of it.
func Open(dir string) (*Tree, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Tree{root: r}, nil
}

// Close releases the tree.
func (t *Tree) Close() error { return t.root.Close() }

// Name is the directory the tree was opened at.
func (t *Tree) Name() string { return t.root.Name() }

// Lstat describes name without following a final symbolic link.
func (t *Tree) Lstat(name string) (fs.FileInfo, error) { return t.root.Lstat(name) }

// Exists reports whether name is a regular file in the tree (reached, if it is a link,
// without leaving the tree).
func (t *Tree) Exists(name string) bool {
	fi, err := t.root.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

// OpenFile opens the regular file name for reading. A link is followed only while it
// stays inside the tree; anything but a regular file is refused with ErrNotRegular,
// without blocking. The file's description comes from the open file itself, so it is
// the file that was opened, whatever the name means by now.
func (t *Tree) OpenFile(name string) (*os.File, fs.FileInfo, error) { return openIn(t.root, name) }

func openIn(r *os.Root, name string) (*os.File, fs.FileInfo, error) {
	f, err := r.OpenFile(name, readFlags, 0)
	if err != nil {
		if isEscape(err) || errors.Is(err, syscall.ENXIO) { // ENXIO: a socket
			return nil, nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
		}
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w (%s)", ErrNotRegular, kind(fi.Mode()))}
	}
	return f, fi, nil
}

// ReadFile reads the regular file name, refusing (ErrTooLarge) one of more than max
// bytes; the bound holds even for a file that grows while it is read.
func (t *Tree) ReadFile(name string, max int64) ([]byte, error) {
	data, _, err := ReadIn(t.root, name, max)
	return data, err
}

// ReadIn is Tree.ReadFile for a caller that holds its own os.Root (to write through it
// too); it also returns the description of the file read.
func ReadIn(r *os.Root, name string, max int64) ([]byte, fs.FileInfo, error) {
	f, fi, err := openIn(r, name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if fi.Size() > max {
		return nil, nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: %d bytes, over %d", ErrTooLarge, fi.Size(), max)}
	}
	// Sized from the open file, as os.ReadFile does (a file may still grow: the bound holds).
	var b bytes.Buffer
	b.Grow(int(fi.Size()) + bytes.MinRead)
	if _, err := b.ReadFrom(io.LimitReader(f, max+1)); err != nil {
		return nil, nil, err
	}
	data := b.Bytes()
	if int64(len(data)) > max {
		return nil, nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)}
	}
	return data, fi, nil
}

// ReadFile reads the regular file name of the tree at dir (see Tree.ReadFile).
func ReadFile(dir, name string, max int64) ([]byte, error) {
	t, err := Open(dir)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	return t.ReadFile(name, max)
}

// ReadDir lists the directory name, sorted by name. A link to a directory is not a
// directory here: only a real directory of the tree is listed.
func (t *Tree) ReadDir(name string) ([]fs.DirEntry, error) {
	fi, err := t.root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: syscall.ENOTDIR}
	}
	d, err := t.root.OpenFile(name, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, err
}

// WalkDir walks the tree from "." like fs.WalkDir, in lexical order, reporting links
// and other special files as entries and never descending through a link.
func (t *Tree) WalkDir(fn fs.WalkDirFunc) error {
	return fs.WalkDir(t.FS(), ".", fn)
}

// Lchown gives every entry of the tree, the tree itself included, to uid:gid. Each
// entry is changed where it is (a link itself, never its target) through the tree, so
// a link swapped in for a directory while the walk runs cannot lead the change out.
func (t *Tree) Lchown(uid, gid int) error {
	return t.WalkDir(func(name string, _ fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && name != "." {
				return nil // removed during the walk
			}
			return err
		}
		if err := t.root.Lchown(name, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

// FS returns the tree as a read-only fs.FS (also fs.ReadDirFS and fs.StatFS): Open
// gives a directory or a regular file (an *os.File, which can seek) and refuses
// everything else with fs.ErrNotExist, without blocking; links are followed only inside
// the tree.
func (t *Tree) FS() fs.FS { return treeFS{t} }

type treeFS struct{ t *Tree }

func (f treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	fi, err := f.t.root.Stat(name)
	if err != nil {
		return nil, notExist("open", name, err)
	}
	if fi.IsDir() {
		d, err := f.t.root.OpenFile(name, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return nil, notExist("open", name, err)
		}
		return d, nil
	}
	file, _, err := f.t.OpenFile(name)
	if err != nil {
		return nil, notExist("open", name, err)
	}
	return file, nil
}

func (f treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	return f.t.ReadDir(name)
}

func (f treeFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	fi, err := f.t.root.Stat(name)
	if err != nil {
		return nil, notExist("stat", name, err)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return fi, nil
}

// notExist turns a link out of the tree or a special file into fs.ErrNotExist: to a
// reader of the tree they are not there.
func notExist(op, name string, err error) error {
	if isEscape(err) || errors.Is(err, ErrNotRegular) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return err
}

// isEscape reports the error os.Root gives for a name or link that leads out of it.
func isEscape(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent"
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

var (
	_ fs.ReadDirFS = treeFS{}
	_ fs.StatFS    = treeFS{}
)
