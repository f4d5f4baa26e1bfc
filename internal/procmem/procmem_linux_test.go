package procmem

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// exeSmaps is the test executable's path and this process's /proc/self/smaps.
func exeSmaps(t *testing.T) (string, []byte) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	return exe, smaps
}

// exeResident is the resident bytes of the executable's read-only mappings.
func exeResident(t *testing.T) int64 {
	t.Helper()
	exe, smaps := exeSmaps(t)
	var n int64
	for _, m := range parseSmaps(smaps) {
		if m.path == exe && m.perms[1] != 'w' {
			n += m.rss
		}
	}
	return n
}

func TestReleaseStartupPages(t *testing.T) {
	before := exeResident(t)
	r, err := ReleaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	after := exeResident(t)
	t.Logf("released %d mappings holding %d KiB; resident %d → %d KiB", r.Mappings, r.Bytes>>10, before>>10, after>>10)
	if r.Mappings == 0 || r.Bytes == 0 {
		t.Fatalf("released %+v, want the executable's code and read-only data", r)
	}
	if after >= before {
		t.Errorf("the executable's read-only mappings hold %d KiB after release, %d before", after>>10, before>>10)
	}
	// Each released mapping is faulted back in small pages only: its VmFlags carry
	// "nh" (no huge pages) and "rr" (random reads).
	flags := exeVmFlags(t)
	if len(flags) == 0 {
		t.Fatal("no read-only mapping of the executable in smaps")
	}
	for addr, f := range flags {
		if !slices.Contains(f, "nh") || !slices.Contains(f, "rr") {
			t.Errorf("mapping %s VmFlags %v: want nh and rr", addr, f)
		}
	}
}

// TestDropCached: the cached pages of a file nobody maps are dropped, so that what is
// read of it again comes back a page at a time.
func TestDropCached(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exe")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 4<<20)); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil { // dirty pages are not dropped
		t.Fatal(err)
	}
	before := cachedPages(t, path)
	if before == 0 {
		t.Skip("the file system keeps no page cache for a file just written (tmpfs?)")
	}
	if err := dropCached(path); err != nil {
		t.Fatal(err)
	}
	if after := cachedPages(t, path); after >= before {
		t.Fatalf("cached pages %d after dropCached, %d before", after, before)
	}
}

// cachedPages is how many of path's pages the page cache holds (mincore on a mapping
// of it that is never read, so it faults nothing in).
func cachedPages(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	page := os.Getpagesize()
	vec := make([]byte, (len(b)+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// exeVmFlags are the VmFlags of the executable's read-only mappings, by address range.
func exeVmFlags(t *testing.T) map[string][]string {
	t.Helper()
	exe, smaps := exeSmaps(t)
	out := map[string][]string{}
	cur := ""
	for line := range strings.Lines(string(smaps)) {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 6 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			cur = ""
			if fields[5] == exe && fields[1][1] != 'w' {
				cur = fields[0]
			}
		case cur != "" && len(fields) > 0 && fields[0] == "VmFlags:":
			out[cur] = fields[1:]
		}
	}
	return out
}

// mapFile maps path privately, writable when write, and reads every page.
func mapFile(t *testing.T, path string, write bool) []byte {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prot := unix.PROT_READ
	if write {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(int(f.Fd()), 0, 2*os.Getpagesize(), prot, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	var sum int
	for i := range b {
		sum += int(b[i])
	}
	if sum != 'a'*len(b) {
		t.Fatalf("the mapping of %s reads %d, want %d", path, sum, 'a'*len(b))
	}
	return b
}

func TestPrivatePagesKept(t *testing.T) {
	dir := t.TempDir()
	content := make([]byte, 2*os.Getpagesize())
	for i := range content {
		content[i] = 'a'
	}
	clean, copied := filepath.Join(dir, "clean"), filepath.Join(dir, "copied")
	for _, p := range []string{clean, copied} {
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A read-only mapping whose first page was written before it was made read-only
	// (as a dynamic loader's relocations are): dropping it would lose the write.
	c := mapFile(t, copied, true)
	c[0] = 'z'
	if err := unix.Mprotect(c, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	r, err := release(smaps, copied)
	if err != nil || r.Mappings != 0 {
		t.Fatalf("release of a mapping with private pages: %+v, %v; want it left alone", r, err)
	}
	if c[0] != 'z' {
		t.Fatalf("the written byte is %q after release, want 'z'", c[0])
	}

	// A clean read-only mapping is released and reads the same afterwards.
	m := mapFile(t, clean, false)
	smaps, err = os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := release(smaps, clean); err != nil || r.Mappings != 1 || r.Bytes == 0 {
		t.Fatalf("release of a clean read-only mapping: %+v, %v; want one released", r, err)
	}
	if m[0] != 'a' || m[len(m)-1] != 'a' {
		t.Fatalf("the mapping reads %q…%q after release, want the file's bytes", m[0], m[len(m)-1])
	}
}

func TestParseSmaps(t *testing.T) {
	text := []byte(`00400000-02705000 r-xp 00000000 fd:01 123 /usr/bin/vibe coder
Size:              35860 kB
Rss:               19988 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
05532000-05606000 rw-p 03131000 fd:01 123 /usr/bin/vibe coder
Rss:                 720 kB
Anonymous:           200 kB
7ffd1000-7ffd2000 r--p 00000000 00:00 0
Rss:                   4 kB
garbage line
`)
	got := parseSmaps(text)
	if len(got) != 3 {
		t.Fatalf("parsed %d mappings, want 3: %+v", len(got), got)
	}
	if got[0].start != 0x400000 || got[0].end != 0x2705000 || got[0].perms != "r-xp" ||
		got[0].path != "/usr/bin/vibe coder" || got[0].rss != 19988<<10 || got[0].anon != 0 {
		t.Errorf("first mapping %+v", got[0])
	}
	if got[1].anon != 200<<10 || got[2].path != "" || got[2].rss != 4<<10 {
		t.Errorf("second and third mappings %+v %+v", got[1], got[2])
	}
}
