package index_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/index"
)

// benchQueries are what a developer might ask of the Go source tree.
var benchQueries = []string{
	"where are HTTP headers parsed", "how does the garbage collector mark objects", "rate limiting",
	"json unmarshal struct tags", "tls handshake client hello", "goroutine scheduler work stealing",
	"parse duration string", "sort slice stable", "mutex lock starvation mode", "base64 encoding",
	"read file into memory", "sha256 hash", "context cancellation", "HashPassword", "net/http ServeMux pattern matching",
	"regexp compile syntax tree", "map iteration order", "escape analysis", "utf8 decode rune", "zip archive reader",
}

// TestBenchmarkGoroot indexes $(go env GOROOT)/src, keyword only, and reports files and
// chunks per second, the time of an unchanged re-index and search latency. It runs only
// with VIBECODER_BENCH_INDEX set to the dialects to measure ("sqlite", "sqlite,postgres");
// docs/BENCHMARKS.md has the figures.
func TestBenchmarkGoroot(t *testing.T) {
	which := os.Getenv("VIBECODER_BENCH_INDEX")
	if which == "" {
		t.Skip("benchmark: set VIBECODER_BENCH_INDEX=sqlite (or sqlite,postgres) to run it")
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	must(t, err)
	root := filepath.Join(strings.TrimSpace(string(out)), "src")
	for _, d := range strings.Split(which, ",") {
		t.Run(d, func(t *testing.T) { benchGoroot(t, d, root) })
	}
}

func benchGoroot(t *testing.T, dialect, root string) {
	st := openStore(t, dialect)
	p := newProject(t, st, root)
	ix := newIndexer(t, st, index.Config{})

	start := time.Now()
	s1, err := ix.Index(t.Context(), p, nil)
	must(t, err)
	full := time.Since(start)

	start = time.Now()
	s2, err := ix.Index(t.Context(), p, nil)
	must(t, err)
	again := time.Since(start)
	if s2.FilesIndexed != 0 || s2.ChunksWritten != 0 {
		t.Errorf("unchanged re-index wrote: %+v", s2)
	}

	var lat []time.Duration
	hits := 0
	for range 5 {
		for _, q := range benchQueries {
			qs := time.Now()
			res, err := ix.Search(t.Context(), p.UserID, p.ID, q, 10)
			must(t, err)
			lat = append(lat, time.Since(qs))
			hits += len(res)
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	sample, err := ix.Search(t.Context(), p.UserID, p.ID, "where are HTTP headers parsed", 3)
	must(t, err)
	var top []string
	for _, r := range sample {
		top = append(top, fmt.Sprintf("%s:%d %s", r.Path, r.StartLine, r.Symbol))
	}

	pass := func(ok bool) string { return map[bool]string{true: "PASS", false: "MISS"}[ok] }
	t.Logf("machine: %s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	t.Logf("tree: %s (plain directory walk: not a git work tree)", root)
	t.Logf("full index: %s — files seen %d, indexed %d, skipped %d; chunks %d; %.0f files/s, %.0f chunks/s  [target < 60s: %s]",
		full.Round(time.Millisecond), s1.FilesSeen, s1.FilesIndexed, s1.FilesSkipped, s1.ChunksWritten,
		float64(s1.FilesSeen)/full.Seconds(), float64(s1.ChunksWritten)/full.Seconds(), pass(full < time.Minute))
	t.Logf("unchanged re-index: %s = %.1f%% of the full index  [target < 5%%: %s]",
		again.Round(time.Millisecond), 100*again.Seconds()/full.Seconds(), pass(again.Seconds() < 0.05*full.Seconds()))
	t.Logf("search (%d queries x 5, limit 10, %d hits): p50 %s, p95 %s, max %s  [target p95 < 50ms: %s]",
		len(benchQueries), hits, pct(0.50).Round(10*time.Microsecond), pct(0.95).Round(10*time.Microsecond),
		lat[len(lat)-1].Round(10*time.Microsecond), pass(pct(0.95) < 50*time.Millisecond))
	t.Logf("sample: %q → %v", "where are HTTP headers parsed", top)
}
