package index_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/index"
)

// relevanceQuery is a plain-language question and the one file that answers it.
type relevanceQuery struct {
	q, want string
}

// The benchmark's question sets: the main set, on which the ranking's weights were
// chosen, and a held-out set written before the 2026-12-05 changes and never tuned on,
// which tells whether they generalise.
const (
	mainQuestions    = "testdata/relevance_goroot.tsv"
	heldOutQuestions = "testdata/relevance_goroot_heldout.tsv"
)

func loadRelevanceQueries(tb testing.TB, file string) []relevanceQuery {
	tb.Helper()
	f, err := os.Open(file)
	must(tb, err)
	defer f.Close()
	var out []relevanceQuery
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		q, want, ok := strings.Cut(line, "\t")
		if !ok {
			tb.Fatalf("relevance query without a file: %q", line)
		}
		out = append(out, relevanceQuery{q, want})
	}
	must(tb, sc.Err())
	return out
}

// rankFunc returns a query's files, best first.
type rankFunc func(ctx context.Context, userID, projectID uuid.UUID, q string) ([]string, error)

// chunkRanking ranks files by their first chunk in Indexer.Search.
func chunkRanking(ix *index.Indexer) rankFunc {
	return func(ctx context.Context, userID, projectID uuid.UUID, q string) ([]string, error) {
		res, err := ix.Search(ctx, userID, projectID, q, 100)
		if err != nil {
			return nil, err
		}
		var files []string
		for _, r := range res {
			if !slices.Contains(files, r.Path) {
				files = append(files, r.Path)
			}
		}
		return files, nil
	}
}

// relevanceFigures are the benchmark's results for one ranking.
type relevanceFigures struct {
	first, top5, top10 int
	mrr                float64
	lat                []time.Duration
	misses             []string
}

// measureRelevance asks every question twice: the ranks are the first pass's, the
// latencies the second's (the database's cache warm, as a server's is).
func measureRelevance(tb testing.TB, rank rankFunc, userID, projectID uuid.UUID, queries []relevanceQuery) relevanceFigures {
	var f relevanceFigures
	for _, rq := range queries {
		files, err := rank(tb.Context(), userID, projectID, rq.q)
		must(tb, err)
		pos := slices.Index(files, rq.want)
		switch {
		case pos == 0:
			f.first++
		case pos < 0 || pos >= 5:
			top := files[:min(3, len(files))]
			f.misses = append(f.misses, fmt.Sprintf("%q: %s at %d; top %v", rq.q, rq.want, pos+1, top))
		}
		if pos >= 0 && pos < 5 {
			f.top5++
		}
		if pos >= 0 && pos < 10 {
			f.top10++
			f.mrr += 1 / float64(pos+1)
		}
	}
	f.mrr /= float64(len(queries))
	for _, rq := range queries {
		start := time.Now()
		_, err := rank(tb.Context(), userID, projectID, rq.q)
		must(tb, err)
		f.lat = append(f.lat, time.Since(start))
	}
	slices.Sort(f.lat)
	return f
}

func (f relevanceFigures) report(b *testing.B, name string, n int) {
	pct := func(p float64) time.Duration { return f.lat[min(len(f.lat)-1, int(p*float64(len(f.lat))))] }
	b.Logf("%s: first %d/%d (%.1f%%), top 5 %d (%.1f%%), top 10 %d (%.1f%%), MRR@10 %.3f; search p50 %s, p95 %s, max %s",
		name, f.first, n, 100*float64(f.first)/float64(n), f.top5, 100*float64(f.top5)/float64(n),
		f.top10, 100*float64(f.top10)/float64(n), f.mrr, pct(0.5).Round(100*time.Microsecond),
		pct(0.95).Round(100*time.Microsecond), f.lat[len(f.lat)-1].Round(100*time.Microsecond))
	for _, m := range f.misses {
		b.Logf("  miss (not in top 5): %s", m)
	}
	b.ReportMetric(100*float64(f.first)/float64(n), name+"-first-%")
	b.ReportMetric(100*float64(f.top5)/float64(n), name+"-top5-%")
	b.ReportMetric(f.mrr, name+"-MRR@10")
}

// BenchmarkRelevance indexes $(go env GOROOT)/src (keyword only) on each dialect named in
// VIBECODER_BENCH_DIALECTS (default sqlite; "sqlite,postgres" for both) and asks the
// questions of testdata/relevance_goroot.tsv, each answered by one file: it reports how
// often that file comes first, in the top 5 and top 10, the MRR@10, search latency, and the
// full and unchanged index times. The held-out questions
// (testdata/relevance_goroot_heldout.tsv) are reported apart, as "heldout-files" and
// "heldout-chunks". docs/BENCHMARKS.md has the figures. Run it with
//
//	go test -run '^$' -bench Relevance -benchtime 1x -timeout 30m ./internal/index/
func BenchmarkRelevance(b *testing.B) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	must(b, err)
	root := filepath.Join(strings.TrimSpace(string(out)), "src")
	if _, err := os.Stat(root); err != nil {
		b.Skipf("no Go source tree: %v", err)
	}
	sets := [][]relevanceQuery{loadRelevanceQueries(b, mainQuestions), loadRelevanceQueries(b, heldOutQuestions)}
	which := os.Getenv("VIBECODER_BENCH_DIALECTS")
	if which == "" {
		which = "sqlite"
	}
	for _, d := range strings.Split(which, ",") {
		b.Run(d, func(b *testing.B) {
			for range b.N {
				benchRelevance(b, d, root, sets)
			}
		})
	}
}

// benchRelevance indexes root on dialect and measures each ranking on the main
// question set (sets[0]) and the held-out one (sets[1]).
func benchRelevance(b *testing.B, dialect, root string, sets [][]relevanceQuery) {
	st := openStore(b, dialect)
	p := newProject(b, st, root)
	ix := newIndexer(b, st, index.Config{})

	start := time.Now()
	s1, err := ix.Index(b.Context(), p, nil)
	must(b, err)
	full := time.Since(start)
	start = time.Now()
	_, err = ix.Index(b.Context(), p, nil)
	must(b, err)
	again := time.Since(start)

	b.Logf("machine: %s/%s, %d CPUs, %s; %d queries, %d held out", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(),
		runtime.Version(), len(sets[0]), len(sets[1]))
	b.Logf("full index: %s (files %d indexed of %d, chunks %d); unchanged re-index: %s (%.1f%%)",
		full.Round(time.Millisecond), s1.FilesIndexed, s1.FilesSeen, s1.ChunksWritten, again.Round(time.Millisecond),
		100*again.Seconds()/full.Seconds())
	b.ReportMetric(full.Seconds(), "index-s")
	b.ReportMetric(again.Seconds(), "reindex-s")
	for _, m := range rankings(ix) {
		measureRelevance(b, m.rank, p.UserID, p.ID, sets[0]).report(b, m.name, len(sets[0]))
	}
	for _, m := range rankings(ix) {
		measureRelevance(b, m.rank, p.UserID, p.ID, sets[1]).report(b, "heldout-"+m.name, len(sets[1]))
	}
}

// rankings are the file rankings the benchmark measures.
func rankings(ix *index.Indexer) []struct {
	name string
	rank rankFunc
} {
	return []struct {
		name string
		rank rankFunc
	}{{"files", fileRanking(ix)}, {"chunks", chunkRanking(ix)}}
}

// fileRanking is Indexer.SearchFiles.
func fileRanking(ix *index.Indexer) rankFunc {
	return func(ctx context.Context, userID, projectID uuid.UUID, q string) ([]string, error) {
		res, err := ix.SearchFiles(ctx, userID, projectID, q, 10)
		if err != nil {
			return nil, err
		}
		files := make([]string, len(res))
		for i, r := range res {
			files[i] = r.Path
		}
		return files, nil
	}
}
