package index_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/index"
)

// TestSpecialFiles: a checkout holding a FIFO, a device node and links to
// /proc/self/environ, /dev/zero and /etc/shadow is indexed without blocking, and none
// of them is read.
func TestSpecialFiles(t *testing.T) {
	st := openStore(t, "sqlite")
	repo := copyFixture(t)
	must(t, syscall.Mkfifo(filepath.Join(repo, "hang.go"), 0o644))
	_ = syscall.Mknod(filepath.Join(repo, "zero.go"), syscall.S_IFCHR|0o644, 1<<8|5) // as root only
	for link, target := range map[string]string{"env.go": "/proc/self/environ", "devzero.go": "/dev/zero", "shadow.go": "/etc/shadow"} {
		must(t, os.Symlink(target, filepath.Join(repo, link)))
	}
	// Text with a NUL past the first 8 KB: binary all the same (PostgreSQL text cannot hold it).
	must(t, os.WriteFile(filepath.Join(repo, "late_nul.go"), []byte(strings.Repeat("// text\n", 1200)+"\x00"), 0o644))
	t.Setenv("VIBECODER_INDEX_CANARY", "canary-4d1c9e")
	p := newProject(t, st, repo)
	ix := newIndexer(t, st, index.Config{MaxFileBytes: 1 << 20})
	done := make(chan error, 1)
	go func() {
		_, err := ix.Index(t.Context(), p, nil)
		done <- err
	}()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(time.Minute):
		t.Fatal("indexing blocked on a special file")
	}
	hashes, err := st.FileHashes(t.Context(), p.UserID, p.ID)
	must(t, err)
	for _, name := range []string{"hang.go", "zero.go", "env.go", "devzero.go", "shadow.go", "late_nul.go"} {
		if _, ok := hashes[name]; ok {
			t.Errorf("%s was indexed", name)
		}
	}
	for _, q := range []string{"canary-4d1c9e", "root"} {
		res, err := ix.Search(t.Context(), p.UserID, p.ID, q, 5)
		must(t, err)
		for _, r := range res {
			if r.Path == "env.go" || r.Path == "shadow.go" {
				t.Errorf("search %q found %s", q, r.Path)
			}
		}
	}
}
