package procmem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReleaseStartupPages tells the kernel that the executable's read-only mappings
// (code, constants, the function tables) need not stay resident. The pages stay in
// the page cache, so what the process still runs is faulted back in on its next
// use, at the cost of a minor fault; what only start-up ran stops counting towards
// the process's resident set. The mappings are also marked for random access
// (MADV_RANDOM): a fault then maps the page it needs rather than a window around
// it, and a request's code is spread thinly over a large binary (measured in
// docs/BENCHMARKS.md: 43 MB of the executable resident after 100,000 gateway
// requests with the window, 29 MB without), and for small pages only
// (MADV_NOHUGEPAGE): when the page cache holds the executable in 2 MB folios (a
// freshly linked binary, often), a fault would otherwise map a whole 2 MB of it, and
// a few calls into a large package made all of it resident again (10 MB more after
// the side by side's loads). Writable mappings are never touched,
// nor a read-only one holding private (copied-on-write) pages, whose contents
// would be lost.
func ReleaseStartupPages() (Released, error) {
	exe, err := os.Executable()
	if err != nil {
		return Released{}, fmt.Errorf("find the executable: %w", err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return Released{}, fmt.Errorf("read the process's mappings: %w", err)
	}
	r, err := release(smaps, exe)
	if err != nil || r.Mappings == 0 {
		return r, err
	}
	return r, dropCached(exe)
}

// dropCached asks the kernel to drop the executable's cached pages that no process
// maps (POSIX_FADV_DONTNEED). A page cache filled by the linker or a copy holds the
// file in large folios, and a fault maps a whole folio — up to 2 MB of code, most of
// it never run — into the process (Linux 6.18 maps the entire folio on a read
// fault); read again after this, under MADV_RANDOM, the file comes back a page at a
// time. Pages still mapped, by this process or another, stay.
func dropCached(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open the executable: %w", err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("drop the executable's cached pages: %w", err)
	}
	return nil
}

// mapping is one entry of /proc/self/smaps.
type mapping struct {
	start, end uintptr
	perms      string
	path       string
	rss, anon  int64 // bytes
}

// release advises MADV_DONTNEED on every read-only mapping of path in smaps that
// holds no private pages.
func release(smaps []byte, path string) (Released, error) {
	var r Released
	for _, m := range parseSmaps(smaps) {
		if m.path != path || strings.Contains(m.perms, "w") || m.anon != 0 || m.rss == 0 {
			continue
		}
		for _, advice := range []int{unix.MADV_RANDOM, unix.MADV_NOHUGEPAGE, unix.MADV_DONTNEED} {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, uintptr(advice)); errno != 0 {
				return r, fmt.Errorf("madvise %x-%x: %w", m.start, m.end, errno)
			}
		}
		r.Mappings++
		r.Bytes += m.rss
	}
	return r, nil
}

// parseSmaps reads the address range, permissions, path, Rss and Anonymous of each
// mapping; it skips what it cannot parse.
func parseSmaps(smaps []byte) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if k, ok := strings.CutSuffix(fields[0], ":"); ok {
			if len(out) > 0 && len(fields) >= 2 && (k == "Rss" || k == "Anonymous") {
				kb, _ := strconv.ParseInt(fields[1], 10, 64)
				if k == "Rss" {
					out[len(out)-1].rss = kb << 10
				} else {
					out[len(out)-1].anon = kb << 10
				}
			}
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok || len(fields) < 5 {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		m := mapping{start: uintptr(start), end: uintptr(end), perms: fields[1]}
		if len(fields) >= 6 {
			m.path = strings.Join(fields[5:], " ")
		}
		out = append(out, m)
	}
	return out
}
