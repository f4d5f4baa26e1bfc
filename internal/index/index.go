// Package index turns a project's repository into searchable chunks: it checks the
// repository out (or uses a local path in place), walks the files git tracks, splits
// them into functions, types and blocks, keeps a code-aware keyword index and, when an
// embedding model is configured, embeddings; Search fuses the keyword and vector
// rankings with reciprocal rank fusion.
package index

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/llm"
	"github.com/vibecoder/vibecoder/internal/safefs"
	"github.com/vibecoder/vibecoder/internal/store"
)

// Config tunes the indexer.
type Config struct {
	// DataDir holds clones of remote repositories, under repos/<project id>.
	DataDir string
	// MaxFileBytes skips larger files (default 1 MiB).
	MaxFileBytes int64
	// EmbeddingModel ("provider/model", resolved through the registry) turns on vector
	// search; empty means keyword search only.
	EmbeddingModel string
	// EmbedBatch is how many chunks go into one embeddings request (default 64).
	EmbedBatch int
	// GitTimeout bounds each git command that reads the checkout (default 2 minutes).
	GitTimeout time.Duration
	// CloneTimeout bounds the clone or fetch of a remote repository (default 5 minutes).
	CloneTimeout time.Duration
	// Repos decides which repositories a project's owner may have indexed, and how git
	// reaches them (credentials included). Nil: the strictest policy (no local roots,
	// so local repositories for administrators only; no private-address remotes).
	Repos *gitops.RepoPolicy
	// Git runs git (nil: a runner of gitops's defaults).
	Git *gitops.Workspaces
	// WriteBatch is how many files are written per transaction (default 256; at most
	// 40 chunks a file on average).
	WriteBatch int
	// Workers read and chunk files in parallel (default GOMAXPROCS).
	Workers int
}

func (c *Config) defaults() error {
	if c.DataDir == "" {
		return errors.New("index: DataDir is required")
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = 1 << 20
	}
	if c.EmbedBatch == 0 {
		c.EmbedBatch = 64
	}
	if c.GitTimeout == 0 {
		c.GitTimeout = 2 * time.Minute
	}
	if c.CloneTimeout == 0 {
		c.CloneTimeout = DefaultCloneTimeout
	}
	if c.Repos == nil {
		c.Repos = &gitops.RepoPolicy{}
	}
	if c.WriteBatch == 0 {
		c.WriteBatch = 256
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.MaxFileBytes < 0 || c.EmbedBatch < 0 || c.GitTimeout < 0 || c.CloneTimeout < 0 || c.WriteBatch < 0 || c.Workers < 0 {
		return errors.New("index: negative limit in Config")
	}
	return nil
}

// DefaultCloneTimeout is Config.CloneTimeout's default: shorter than a workspace's
// clone, since an index job holds a worker the whole time.
const DefaultCloneTimeout = 5 * time.Minute

// Indexer indexes projects and searches their indexes. It is safe for concurrent use.
type Indexer struct {
	st     store.Store
	log    *slog.Logger
	cfg    Config
	gitops *gitops.Workspaces
	embed  llm.Provider // nil: keyword only
	model  string       // provider-native embedding model name

	vecMu    sync.Mutex
	vecCache map[uuid.UUID]*vectorSet
	pathMu   sync.Mutex
	paths    map[uuid.UUID]*pathSet
}

// New returns an Indexer. reg may be nil when cfg.EmbeddingModel is empty.
func New(st store.Store, reg *llm.Registry, log *slog.Logger, cfg Config) (*Indexer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	git := cfg.Git
	if git == nil {
		var err error
		if git, err = gitops.NewWorkspaces(log, gitops.Config{}); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
	}
	ix := &Indexer{st: st, log: log, cfg: cfg, gitops: git, vecCache: map[uuid.UUID]*vectorSet{}, paths: map[uuid.UUID]*pathSet{}}
	if cfg.EmbeddingModel != "" {
		if reg == nil {
			return nil, fmt.Errorf("index: embedding model %q needs an LLM registry", cfg.EmbeddingModel)
		}
		p, model, err := reg.Resolve(cfg.EmbeddingModel)
		if err != nil {
			return nil, fmt.Errorf("index: embedding model %q: %w", cfg.EmbeddingModel, err)
		}
		ix.embed, ix.model = p, model
	}
	return ix, nil
}

// Semantic reports whether the indexer embeds chunks (an embedding model is configured).
func (ix *Indexer) Semantic() bool { return ix.embed != nil }

// Stats summarise one indexing run.
type Stats struct {
	FilesSeen      int           `json:"files_seen"`      // listed by git (or the walk)
	FilesIndexed   int           `json:"files_indexed"`   // new or changed, chunked and written
	FilesUnchanged int           `json:"files_unchanged"` // same content hash as last time
	FilesSkipped   int           `json:"files_skipped"`   // binary, generated, vendored, too large, symlinks out
	FilesDeleted   int           `json:"files_deleted"`   // indexed before, gone (or now skipped)
	ChunksWritten  int           `json:"chunks_written"`
	ChunksEmbedded int           `json:"chunks_embedded"`
	Duration       time.Duration `json:"duration_ns"`
}

// Event is a progress report of Index.
type Event struct {
	Phase string `json:"phase"` // "checkout", "scan", "write", "embed", "done"
	Stats Stats  `json:"stats"`
}

// fileResult is one file, read and chunked by a worker.
type fileResult struct {
	rel    string
	hash   string
	skip   string
	chunks []store.Chunk
	err    error
}

// Index brings the project's index up to date with its repository: new and changed
// files are chunked and written, removed ones deleted, unchanged ones skipped by content
// hash; then chunks without an embedding are embedded when a model is configured. It
// stops promptly when ctx is cancelled. progress (optional) is called as it goes, from
// the calling goroutine.
func (ix *Indexer) Index(ctx context.Context, p *store.Project, progress func(Event)) (Stats, error) {
	start := time.Now()
	var stats Stats
	report := func(phase string) {
		if progress != nil {
			stats.Duration = time.Since(start)
			progress(Event{Phase: phase, Stats: stats})
		}
	}
	fail := func(err error) (Stats, error) {
		stats.Duration = time.Since(start)
		return stats, fmt.Errorf("index project %s: %w", p.ID, err)
	}
	report("checkout")
	root, isGit, err := ix.checkout(ctx, p)
	if err != nil {
		return fail(err)
	}
	// The checkout is read as untrusted: nothing is followed out of it.
	tree, err := safefs.Open(root)
	if err != nil {
		return fail(err)
	}
	defer tree.Close()
	files, err := ix.listFiles(ctx, tree, root, isGit)
	if err != nil {
		return fail(err)
	}
	old, err := ix.st.FileHashes(ctx, p.UserID, p.ID)
	if err != nil {
		return fail(err)
	}
	report("scan")

	// Workers read, hash and chunk; this goroutine writes, so store writes stay serial.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	present, err := ix.write(ctx, p, ix.read(wctx, tree, files, old), old, &stats, report)
	if err != nil {
		return fail(err)
	}
	if err := ix.prune(ctx, p, old, present, &stats); err != nil {
		return fail(err)
	}
	if stats.FilesIndexed > 0 || stats.FilesDeleted > 0 {
		// The next search would read the project's paths and package docs (a scan of its
		// chunks, a second or more on a large project): read them now, in this run.
		if _, err := ix.pathSet(ctx, p.UserID, p.ID); err != nil {
			return fail(err)
		}
	}
	if ix.embed != nil {
		report("embed")
		if err := ix.embedPending(ctx, p, &stats, report); err != nil {
			return fail(err)
		}
	}
	stats.Duration = time.Since(start)
	report("done")
	ix.log.Info("project indexed", slog.String("project", p.ID.String()), slog.Int("files_seen", stats.FilesSeen),
		slog.Int("files_indexed", stats.FilesIndexed), slog.Int("files_unchanged", stats.FilesUnchanged),
		slog.Int("files_skipped", stats.FilesSkipped), slog.Int("files_deleted", stats.FilesDeleted),
		slog.Int("chunks_written", stats.ChunksWritten), slog.Int("chunks_embedded", stats.ChunksEmbedded),
		slog.Duration("took", stats.Duration))
	return stats, nil
}

// read reads, hashes and chunks files on cfg.Workers goroutines; the channel closes
// when every file is done or ctx ends.
func (ix *Indexer) read(ctx context.Context, tree *safefs.Tree, files []string, old map[string]string) <-chan fileResult {
	jobs := make(chan string)
	results := make(chan fileResult, 2*ix.cfg.Workers)
	var wg sync.WaitGroup
	for range ix.cfg.Workers {
		wg.Go(func() {
			for rel := range jobs {
				r := ix.readFile(tree, rel, old[rel])
				select {
				case results <- r:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() {
		defer close(jobs)
		for _, f := range files {
			select {
			case jobs <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	return results
}

// writesInFlight is how many batches write may have in the store at once: while one
// batch's statements run in the database, the next is prepared (its columns, search
// vectors and term counts, all work in Go) and the workers go on reading and chunking.
const writesInFlight = 2

// write stores the changed files' chunks in batches, counting into stats, and returns
// the files present in the checkout. Batches are written concurrently (writesInFlight);
// they never share a path, and each is one transaction.
func (ix *Indexer) write(ctx context.Context, p *store.Project, results <-chan fileResult, old map[string]string,
	stats *Stats, report func(string)) (map[string]bool, error) {
	present := map[string]bool{}
	w := newBatchWriter(ctx, ix.st, p)
	defer w.stop()
	var batch []store.FileChunks
	batchChunks := 0
	for r := range results {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := w.collect(stats, report, false); err != nil {
			return nil, err
		}
		stats.FilesSeen++
		switch {
		case r.err != nil:
			if errors.Is(r.err, errVanished) {
				stats.FilesSeen-- // listed by git but deleted in the work tree
				continue
			}
			return nil, fmt.Errorf("%s: %w", r.rel, r.err)
		case r.skip != "":
			stats.FilesSkipped++
			continue
		}
		present[r.rel] = true
		if r.hash == old[r.rel] {
			stats.FilesUnchanged++
			continue
		}
		batch = append(batch, store.FileChunks{Path: r.rel, Hash: r.hash, Chunks: r.chunks})
		batchChunks += len(r.chunks)
		if len(batch) >= ix.cfg.WriteBatch || batchChunks >= 40*ix.cfg.WriteBatch {
			if err := w.start(batch, batchChunks, stats, report); err != nil {
				return nil, err
			}
			batch, batchChunks = nil, 0
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(batch) > 0 {
		if err := w.start(batch, batchChunks, stats, report); err != nil {
			return nil, err
		}
	}
	return present, w.wait(stats, report)
}

// batchWriter runs ReplaceFiles for up to writesInFlight batches at once. Its methods
// are called from one goroutine, which alone touches the stats and reports progress.
type batchWriter struct {
	st       store.Store
	p        *store.Project
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan batchDone
	inFlight int
}

type batchDone struct {
	files, chunks int
	err           error
}

func newBatchWriter(ctx context.Context, st store.Store, p *store.Project) *batchWriter {
	ctx, cancel := context.WithCancel(ctx)
	return &batchWriter{st: st, p: p, ctx: ctx, cancel: cancel, done: make(chan batchDone, writesInFlight)}
}

// start writes batch in the background, first waiting for a batch to finish if
// writesInFlight are in the store.
func (w *batchWriter) start(batch []store.FileChunks, chunks int, stats *Stats, report func(string)) error {
	for w.inFlight >= writesInFlight {
		if err := w.collect(stats, report, true); err != nil {
			return err
		}
	}
	w.inFlight++
	go func() {
		err := w.st.ReplaceFiles(w.ctx, w.p.UserID, w.p.ID, batch)
		w.done <- batchDone{files: len(batch), chunks: chunks, err: err}
	}()
	return nil
}

// collect counts the batches that have finished (waiting for one if block), and
// returns the first error.
func (w *batchWriter) collect(stats *Stats, report func(string), block bool) error {
	for w.inFlight > 0 {
		var d batchDone
		if block {
			d = <-w.done
			block = false
		} else {
			select {
			case d = <-w.done:
			default:
				return nil
			}
		}
		w.inFlight--
		if d.err != nil {
			return d.err
		}
		stats.FilesIndexed += d.files
		stats.ChunksWritten += d.chunks
		report("write")
	}
	return nil
}

// wait waits for every batch in the store.
func (w *batchWriter) wait(stats *Stats, report func(string)) error {
	for w.inFlight > 0 {
		if err := w.collect(stats, report, true); err != nil {
			return err
		}
	}
	return nil
}

// stop cancels the batches still in the store (after an error) and waits for them.
func (w *batchWriter) stop() {
	w.cancel()
	for ; w.inFlight > 0; w.inFlight-- {
		<-w.done
	}
}

// prune deletes the files indexed before that are gone, then lets the store tidy its
// search structures after a change.
func (ix *Indexer) prune(ctx context.Context, p *store.Project, old map[string]string, present map[string]bool, stats *Stats) error {
	var gone []string
	for rel := range old {
		if !present[rel] {
			gone = append(gone, rel)
		}
	}
	if len(gone) > 0 {
		if err := ix.st.DeleteFiles(ctx, p.UserID, p.ID, gone); err != nil {
			return err
		}
		stats.FilesDeleted = len(gone)
	}
	if stats.FilesIndexed > 0 || stats.FilesDeleted > 0 {
		return ix.st.OptimizeChunks(ctx)
	}
	return nil
}

var errVanished = errors.New("file vanished")

// readFile reads, checks and (when its hash changed) chunks one file.
func (ix *Indexer) readFile(tree *safefs.Tree, rel, oldHash string) fileResult {
	r := fileResult{rel: rel}
	if r.skip = skipByName(rel); r.skip != "" {
		return r
	}
	data, skip, err := openInRoot(tree, rel, ix.cfg.MaxFileBytes)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			r.err = errVanished
		} else {
			r.err = err
		}
		return r
	}
	if r.skip = skip; skip != "" {
		return r
	}
	// Hash first: a file indexed before with this content passed the content checks then.
	r.hash = fileHash(data)
	if r.hash == oldHash {
		return r
	}
	if r.skip = skipByContent(data); r.skip != "" {
		return r
	}
	lang := Language(rel)
	for _, pc := range ChunkFile(rel, lang, data) {
		r.chunks = append(r.chunks, store.Chunk{
			Path: rel, Language: lang, StartLine: pc.StartLine, EndLine: pc.EndLine, Symbol: pc.Symbol,
			Content: pc.Content, ContentHash: hashString(pc.Content), SearchText: SearchText(pc.Symbol, rel, pc.Content),
		})
	}
	return r
}
