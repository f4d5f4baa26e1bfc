package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The disk limit. A run may write to its workspace and its cache dir, both on the host's disk,
// and RLIMIT_FSIZE only bounds each file. No filesystem quota is available everywhere the runner
// runs (rootless, in containers, on any filesystem), so a watcher measures what the run keeps on
// disk every diskInterval and kills it when that passes Config.DiskBytes:
//
//   - the allocated blocks (st_blocks, not the apparent size: sparse files cost nothing until
//     written) of every inode under the workspace and the cache dir, hard links counted once;
//   - files the run deleted but still holds open or mapped, on those directories' filesystems,
//     found through /proc/<pid>/fd and /proc/<pid>/map_files of the run's processes.
//
// The walk is safe against what the command leaves there: every directory is opened relative to
// its parent with O_NOFOLLOW, everything else is only fstatat'd relative to its directory without
// following (a FIFO is never opened, a device never touched, a symlink never followed), and a tree too deep to
// walk or a directory the server cannot read counts as over the limit rather than as empty. The
// run can overshoot by what it writes in one interval; the interval grows when the walk is slow,
// so a huge tree costs at most about a fifth of a core.

// DefaultDiskBytes is Config.DiskBytes when zero.
const DefaultDiskBytes = 2 << 30

const (
	diskInterval = 200 * time.Millisecond
	// diskMaxDepth bounds the walk (one open descriptor per level).
	diskMaxDepth = 1000
)

// DiskLimitError is why a run was stopped for its disk use.
type DiskLimitError struct {
	Used, Limit int64
	Err         error // the walk failed: the use could not be measured
}

func (e *DiskLimitError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("sandbox: stopped: the workspace's disk use cannot be measured (%v), so the %d-byte disk limit cannot be kept", e.Err, e.Limit)
	}
	return fmt.Sprintf("sandbox: stopped: the workspace and cache use %d bytes, over the %d-byte disk limit", e.Used, e.Limit)
}

// diskMeter measures what one run keeps on disk.
type diskMeter struct {
	dirs []string
	devs map[uint64]bool // the filesystems of dirs: a deleted file elsewhere (a tmpfs) is not disk
	// held reports whether deleted files still open in the run's processes are counted: the
	// server can read their /proc/<pid>/fd (same uid, or CAP_SYS_PTRACE).
	held bool
	// procs lists the run's processes; nil when held is false.
	procs func() []int
}

type devIno struct{ dev, ino uint64 }

func newDiskMeter(dirs []string, held bool, procs func() []int) (*diskMeter, error) {
	m := &diskMeter{devs: map[uint64]bool{}, held: held, procs: procs}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(d, &st); err != nil {
			return nil, fmt.Errorf("sandbox: disk limit: %w", err)
		}
		m.dirs = append(m.dirs, d)
		m.devs[st.Dev] = true
	}
	return m, nil
}

// measure returns the bytes the run keeps on disk now.
func (m *diskMeter) measure() (int64, error) {
	seen := map[devIno]bool{}
	var total int64
	for _, d := range m.dirs {
		fd, err := syscall.Open(d, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("open %s: %w", d, err)
		}
		n, err := walkFD(fd, d, 0, seen)
		total += n
		if err != nil {
			return total, err
		}
	}
	if m.held && m.procs != nil {
		total += m.heldBytes(m.procs(), seen)
	}
	return total, nil
}

// walkFD adds up the blocks of the directory open at fd and everything below it, and closes fd.
func walkFD(fd int, path string, depth int, seen map[devIno]bool) (int64, error) {
	dir := os.NewFile(uintptr(fd), path)
	defer dir.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	total := st.Blocks * 512
	for {
		ents, err := dir.ReadDir(256)
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() {
				if depth+1 >= diskMaxDepth {
					return total, fmt.Errorf("%s is more than %d directories deep", path, diskMaxDepth)
				}
				cfd, err := syscall.Openat(fd, name, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
				if gone(err) {
					continue // replaced or removed since it was listed: the next walk sees it
				}
				if err != nil {
					return total, fmt.Errorf("open %s: %w", filepath.Join(path, name), err)
				}
				n, err := walkFD(cfd, filepath.Join(path, name), depth+1, seen)
				total += n
				if err != nil {
					return total, err
				}
				continue
			}
			// fstatat without following: the inode is looked at, never opened (no FIFO waits,
			// no device opens), and a symlink is the link itself.
			var fst unix.Stat_t
			if err := unix.Fstatat(fd, name, &fst, unix.AT_SYMLINK_NOFOLLOW); gone(err) {
				continue
			} else if err != nil {
				return total, fmt.Errorf("stat %s: %w", filepath.Join(path, name), err)
			}
			if fst.Nlink > 1 && fst.Mode&unix.S_IFMT != unix.S_IFDIR {
				k := devIno{uint64(fst.Dev), fst.Ino}
				if seen[k] {
					continue
				}
				seen[k] = true
			}
			total += fst.Blocks * 512
		}
		switch {
		case errors.Is(err, io.EOF):
			return total, nil
		case err != nil:
			return total, fmt.Errorf("read %s: %w", path, err)
		}
	}
}

// gone reports an entry that changed between listing and opening.
func gone(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR)
}

// heldBytes adds up regular files that pids hold open or mapped after deleting them, on the
// measured filesystems, each once. Processes that exit meanwhile are skipped.
func (m *diskMeter) heldBytes(pids []int, seen map[devIno]bool) int64 {
	var total int64
	add := func(p string) {
		var st syscall.Stat_t
		// stat through the /proc magic link: the open file's inode, whatever its name now.
		if syscall.Stat(p, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Nlink != 0 || !m.devs[uint64(st.Dev)] {
			return
		}
		k := devIno{uint64(st.Dev), st.Ino}
		if !seen[k] {
			seen[k] = true
			total += st.Blocks * 512
		}
	}
	for _, pid := range pids {
		base := "/proc/" + strconv.Itoa(pid)
		if fds, err := os.ReadDir(base + "/fd"); err == nil {
			for _, fd := range fds {
				add(base + "/fd/" + fd.Name())
			}
		}
		maps, err := os.ReadFile(base + "/maps")
		if err != nil {
			continue
		}
		for line := range bytes.SplitSeq(maps, []byte("\n")) {
			if rng, _, ok := bytes.Cut(line, []byte(" ")); ok && bytes.HasSuffix(line, []byte(" (deleted)")) {
				add(base + "/map_files/" + string(rng))
			}
		}
	}
	return total
}

// descendants lists pid and every process below it, from /proc: the run's processes when no
// cgroup holds them. Under bubblewrap nothing escapes this tree (the sandbox's init adopts
// orphans); unsandboxed, a process that daemonizes leaves it.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pid}
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold anything, so parse after its last ')'.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			children[pp] = append(children[pp], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// cgroupPids lists the processes in a cgroup.
func cgroupPids(procsFile string) []int {
	data, err := os.ReadFile(procsFile)
	if err != nil {
		return nil
	}
	var out []int
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if p, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// canReadOthersFDs reports whether this process may read another uid's /proc/<pid>/fd:
// CAP_SYS_PTRACE in its effective set.
func canReadOthersFDs() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<19) != 0 // CAP_SYS_PTRACE
		}
	}
	return false
}

// watchDisk measures m until ctx ends and calls over, once, when the run uses more than limit
// or cannot be measured.
func watchDisk(ctx context.Context, m *diskMeter, limit int64, over func(*DiskLimitError)) {
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		start := time.Now()
		used, err := m.measure()
		if ctx.Err() != nil {
			return // the run ended while we walked: whatever failed was its cleanup
		}
		if err != nil || used > limit {
			over(&DiskLimitError{Used: used, Limit: limit, Err: err})
			return
		}
		wait = max(diskInterval, 4*time.Since(start))
	}
}
