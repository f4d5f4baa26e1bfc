package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
)

// vectorState is what the store knows about pgvector: the schema the extension lives in
// ("" when it is not installed) and the dimension of the embedding_vec column, which is
// created when the first embedding fixes it (0 until then).
type vectorState struct {
	schema    string
	iterative bool // hnsw.iterative_scan exists (pgvector 0.8 and later)

	mu   sync.Mutex
	dims int
}

// detectVector makes pgvector available when it can: CREATE EXTENSION succeeds when the
// extension is installed on the server and the role may create it (or it exists
// already). Without it, vectors are searched exactly in Go over the bytea column.
func (s *Store) detectVector(ctx context.Context) {
	_, createErr := s.pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector")
	var schema, version string
	err := s.pool.QueryRow(ctx, `SELECT n.nspname, e.extversion FROM pg_extension e
		JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'`).Scan(&schema, &version)
	if err != nil {
		s.log.Info("pgvector is not available: vector search runs exactly in Go",
			slog.String("reason", fmt.Sprint(translate(createErr))))
		return
	}
	s.vec.schema = schema
	s.vec.iterative = versionAtLeast(version, 0, 8)
	s.log.Info("pgvector available: vector search uses an HNSW index",
		slog.String("schema", schema), slog.String("version", version))
}

func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}

// vecType is the schema-qualified vector type (the extension need not be on search_path).
func (s *Store) vecType() string { return pgx.Identifier{s.vec.schema, "vector"}.Sanitize() }

// cosineOp is pgvector's cosine distance operator, schema-qualified.
func (s *Store) cosineOp() string {
	return "OPERATOR(" + pgx.Identifier{s.vec.schema}.Sanitize() + ".<=>)"
}

// vectorDims returns the dimension of the embedding_vec column, 0 when it does not exist
// (or pgvector is missing).
func (s *Store) vectorDims(ctx context.Context) (int, error) {
	if s.vec.schema == "" {
		return 0, nil
	}
	s.vec.mu.Lock()
	defer s.vec.mu.Unlock()
	if s.vec.dims > 0 {
		return s.vec.dims, nil
	}
	var dims int
	err := s.pool.QueryRow(ctx, `SELECT atttypmod FROM pg_attribute
		WHERE attrelid = 'code_chunks'::regclass AND attname = 'embedding_vec' AND NOT attisdropped`).Scan(&dims)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, translate(err)
	}
	s.vec.dims = dims
	return dims, nil
}

// ensureVectorColumn creates the embedding_vec column with its HNSW index for dims, or
// checks that the existing column has that dimension.
func (s *Store) ensureVectorColumn(ctx context.Context, dims int) error {
	if s.vec.schema == "" {
		return nil
	}
	have, err := s.vectorDims(ctx)
	if err != nil {
		return err
	}
	if have == 0 {
		// Under the migration lock: concurrent first embedders must not race on DDL.
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrationLock); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE code_chunks ADD COLUMN IF NOT EXISTS embedding_vec %s(%d)", s.vecType(), dims)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, fmt.Sprintf("CREATE INDEX IF NOT EXISTS code_chunks_embedding_hnsw ON code_chunks USING hnsw (embedding_vec %s)",
				pgx.Identifier{s.vec.schema, "vector_cosine_ops"}.Sanitize()))
			return err
		})
		if err != nil {
			return fmt.Errorf("create the pgvector column: %w", translate(err))
		}
		s.log.Info("pgvector column created", slog.Int("dims", dims))
		if have, err = s.vectorDims(ctx); err != nil {
			return err
		}
	}
	if have != dims {
		return fmt.Errorf("%w: the database's vector column has %d dimensions, the embeddings %d (drop column code_chunks.embedding_vec to change models)",
			store.ErrDimensionMismatch, have, dims)
	}
	return nil
}

// vectorText is pgvector's text form of v.
func vectorText(v []float32) string {
	var b strings.Builder
	b.Grow(len(v) * 10)
	b.WriteByte('[')
	for i, f := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(float64(f), 'g', -1, 32))
	}
	b.WriteByte(']')
	return b.String()
}

const chunkCols = "c.id, c.user_id, c.project_id, c.path, c.language, c.start_line, c.end_line, c.symbol, c.content, c.content_hash, c.search_text, c.created_at"

func scanChunk(r pgx.Row, extra ...any) (*store.Chunk, error) {
	var c store.Chunk
	dest := append([]any{&c.ID, &c.UserID, &c.ProjectID, &c.Path, &c.Language, &c.StartLine, &c.EndLine, &c.Symbol,
		&c.Content, &c.ContentHash, &c.SearchText, &c.CreatedAt}, extra...)
	if err := r.Scan(dest...); err != nil {
		return nil, translate(err)
	}
	return &c, nil
}

// ownProject reports ErrNotFound unless the project is the user's, before any upsert
// can meet another tenant's row.
func ownProject(ctx context.Context, tx pgx.Tx, userID, projectID uuid.UUID) error {
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM projects WHERE id = $1 AND user_id = $2", projectID, userID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// queueBumpState queues the increment of the project's index generation.
func queueBumpState(b *pgx.Batch, userID, projectID uuid.UUID) {
	b.Queue(`INSERT INTO index_state (project_id, user_id, generation, updated_at) VALUES ($1, $2, 1, $3)
		ON CONFLICT (project_id) DO UPDATE SET generation = index_state.generation + 1, updated_at = excluded.updated_at`,
		projectID, userID, store.Now())
}

// ReplaceFiles implements store.Chunks. A batch is a handful of statements whatever its
// size: its old chunks go in one DELETE (their embeddings kept by content hash, their
// terms subtracted), its new chunks and their chunk_search rows in one INSERT each over
// arrays, and its files and keyword statistics in one upsert each, all sent in one round
// trip. Per-chunk statements, and the per-row trigger that copied each chunk into
// chunk_search, were most of a full index's time (migration 0010).
func (s *Store) ReplaceFiles(ctx context.Context, userID, projectID uuid.UUID, files []store.FileChunks) error {
	if len(files) == 0 {
		return nil
	}
	dims, err := s.vectorDims(ctx)
	if err != nil {
		return fmt.Errorf("replace files of project %s: %w", projectID, err)
	}
	now := store.Now()
	files = lastOfEachPath(files)
	store.PrepareFiles(userID, projectID, files, now)
	// The work that needs no database is done before the transaction opens.
	cols := newChunkColumns(files)
	deltas := store.TermDeltas{}
	for _, f := range files {
		for j := range f.Chunks {
			deltas.Add(f.Chunks[j].SearchText, 1)
		}
	}
	err = s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		if err := ownProject(ctx, tx, userID, projectID); err != nil {
			return err
		}
		// Planned for the table as it is now: a plan cached while the project was small
		// (a generic plan made on an empty table) scanned every chunk for each file as it
		// grew. And committed without waiting for the WAL to reach the disk: the index is
		// derived from the repository, and a crash loses the last batches whole, their
		// files' hashes with them, so the next run writes those files again.
		if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL synchronous_commit = off"); err != nil {
			return err
		}
		kept, err := deleteChunks(ctx, tx, userID, projectID, cols.filePaths, deltas)
		if err != nil {
			return err
		}
		if err := cols.keepEmbeddings(kept, dims); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		cols.queue(batch, s.insertChunksSQL(dims), userID, projectID, now)
		batch.Queue(`INSERT INTO index_files (user_id, project_id, path, content_hash, indexed_at)
			SELECT $1, $2, p, h, $5 FROM unnest($3::text[], $4::text[]) AS f(p, h)
			ON CONFLICT (project_id, path) DO UPDATE SET content_hash = excluded.content_hash, indexed_at = excluded.indexed_at`,
			userID, projectID, cols.filePaths, cols.fileHashes, now)
		queueTermDeltas(batch, userID, projectID, deltas)
		queueBumpState(batch, userID, projectID)
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return fmt.Errorf("replace %d files of project %s: %w", len(files), projectID, translate(err))
	}
	return nil
}

// deleteChunks deletes the chunks of paths, subtracts their terms from deltas and
// returns their embeddings by content hash. Their chunk_search rows go with them
// (migration 0010's trigger).
func deleteChunks(ctx context.Context, tx pgx.Tx, userID, projectID uuid.UUID, paths []string, deltas store.TermDeltas) (map[string][]byte, error) {
	rows, err := tx.Query(ctx, `DELETE FROM code_chunks WHERE project_id = $1 AND user_id = $2 AND path = ANY($3)
		RETURNING content_hash, embedding, search_text`, projectID, userID, paths)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	kept := map[string][]byte{}
	for rows.Next() {
		var h, text string
		var e []byte
		if err := rows.Scan(&h, &e, &text); err != nil {
			return nil, err
		}
		if e != nil {
			kept[h] = e
		}
		deltas.Add(text, -1)
	}
	return kept, rows.Err()
}

// chunkColumns are a batch's files and new chunks column by column, the arrays its
// INSERT statements unnest.
type chunkColumns struct {
	filePaths, fileHashes []string

	ids                                           []uuid.UUID
	paths, langs, symbols, contents, hashes, text []string
	starts, ends                                  []int32
	embeddings                                    [][]byte
	vectors                                       []*string // pgvector's text, with dims > 0

	// Each chunk's search vector in text form (tsvectorText), or nil and its search text
	// in parsed, for the server to parse.
	tsv, parse []*string
}

func newChunkColumns(files []store.FileChunks) *chunkColumns {
	n := 0
	for _, f := range files {
		n += len(f.Chunks)
	}
	c := &chunkColumns{
		filePaths: make([]string, 0, len(files)), fileHashes: make([]string, 0, len(files)),
		ids: make([]uuid.UUID, 0, n), paths: make([]string, 0, n), langs: make([]string, 0, n),
		symbols: make([]string, 0, n), contents: make([]string, 0, n), hashes: make([]string, 0, n),
		text: make([]string, 0, n), starts: make([]int32, 0, n), ends: make([]int32, 0, n),
		tsv: make([]*string, 0, n), parse: make([]*string, 0, n),
	}
	for _, f := range files {
		c.filePaths = append(c.filePaths, f.Path)
		c.fileHashes = append(c.fileHashes, f.Hash)
		for j := range f.Chunks {
			ch := &f.Chunks[j]
			c.ids = append(c.ids, ch.ID)
			c.paths = append(c.paths, f.Path)
			c.langs = append(c.langs, ch.Language)
			c.symbols = append(c.symbols, ch.Symbol)
			c.contents = append(c.contents, ch.Content)
			c.hashes = append(c.hashes, ch.ContentHash)
			c.text = append(c.text, ch.SearchText)
			c.starts = append(c.starts, int32(ch.StartLine))
			c.ends = append(c.ends, int32(ch.EndLine))
			if v, ok := tsvectorText(ch.SearchText); ok {
				c.tsv, c.parse = append(c.tsv, &v), append(c.parse, nil)
			} else {
				c.tsv, c.parse = append(c.tsv, nil), append(c.parse, &ch.SearchText)
			}
		}
	}
	return c
}

// keepEmbeddings gives each new chunk the embedding kept for its content, if any (and
// its vector column's text with pgvector, dims > 0).
func (c *chunkColumns) keepEmbeddings(kept map[string][]byte, dims int) error {
	c.embeddings = make([][]byte, len(c.ids))
	c.vectors = make([]*string, len(c.ids))
	for i, h := range c.hashes {
		e := kept[h]
		if e == nil {
			continue
		}
		c.embeddings[i] = e
		if dims > 0 {
			v, err := store.DecodeVector(e)
			if err != nil {
				return err
			}
			t := vectorText(v)
			c.vectors[i] = &t
		}
	}
	return nil
}

// insertChunksSQL inserts the chunks of $4..$14 (arrays, one element per chunk) of user
// $1 and project $2, created at $3.
func (s *Store) insertChunksSQL(dims int) string {
	col, val := "", ""
	if dims > 0 {
		col, val = ", embedding_vec", ", CAST(u.vec AS "+s.vecType()+")"
	}
	return `INSERT INTO code_chunks (id, user_id, project_id, path, language, start_line, end_line, symbol, content,
			content_hash, search_text, embedding, created_at` + col + `)
		SELECT u.id, $1, $2, u.path, u.lang, u.start_line, u.end_line, u.symbol, u.content, u.hash, u.text, u.emb, $3` + val + `
		FROM unnest($4::uuid[], $5::text[], $6::text[], $7::int[], $8::int[], $9::text[], $10::text[], $11::text[],
			$12::text[], $13::bytea[], $14::text[])
			AS u(id, path, lang, start_line, end_line, symbol, content, hash, text, emb, vec)`
}

// queue queues the chunks' INSERT (sql, from insertChunksSQL) and their chunk_search
// rows, the search vector computed once, here or, for the texts tsvectorText does not
// cover, by the server.
func (c *chunkColumns) queue(b *pgx.Batch, sql string, userID, projectID uuid.UUID, now time.Time) {
	if len(c.ids) == 0 {
		return
	}
	b.Queue(sql, userID, projectID, now, c.ids, c.paths, c.langs, c.starts, c.ends, c.symbols, c.contents, c.hashes,
		c.text, c.embeddings, c.vectors)
	b.Queue(`INSERT INTO chunk_search (chunk_id, user_id, project_id, search_tsv)
		SELECT u.id, $1, $2, coalesce(u.tsv::tsvector, to_tsvector('simple'::regconfig, u.text))
		FROM unnest($3::uuid[], $4::text[], $5::text[]) AS u(id, tsv, text)`,
		userID, projectID, c.ids, c.tsv, c.parse)
}

// lastOfEachPath drops a file that a later one of the same path replaces, as replacing
// them one after the other would.
func lastOfEachPath(files []store.FileChunks) []store.FileChunks {
	last := make(map[string]int, len(files))
	for i, f := range files {
		last[f.Path] = i
	}
	if len(last) == len(files) {
		return files
	}
	out := make([]store.FileChunks, 0, len(last))
	for i, f := range files {
		if last[f.Path] == i {
			out = append(out, f)
		}
	}
	return out
}

// DeleteFiles implements store.Chunks.
func (s *Store) DeleteFiles(ctx context.Context, userID, projectID uuid.UUID, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		if err := ownProject(ctx, tx, userID, projectID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "DELETE FROM code_chunks WHERE project_id = $1 AND user_id = $2 AND path = ANY($3) RETURNING search_text",
			projectID, userID, paths)
		if err != nil {
			return err
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		deltas := store.TermDeltas{}
		for _, text := range texts {
			deltas.Add(text, -1)
		}
		batch := &pgx.Batch{}
		queueTermDeltas(batch, userID, projectID, deltas)
		batch.Queue("DELETE FROM index_files WHERE project_id = $1 AND user_id = $2 AND path = ANY($3)", projectID, userID, paths)
		queueBumpState(batch, userID, projectID)
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return fmt.Errorf("delete %d files of project %s: %w", len(paths), projectID, translate(err))
	}
	return nil
}

// FileHashes implements store.Chunks.
func (s *Store) FileHashes(ctx context.Context, userID, projectID uuid.UUID) (map[string]string, error) {
	out := map[string]string{}
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT path, content_hash FROM index_files WHERE project_id = $1 AND user_id = $2", projectID, userID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p, h string
			if err := rows.Scan(&p, &h); err != nil {
				return err
			}
			out[p] = h
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("file hashes of project %s: %w", projectID, translate(err))
	}
	return out, nil
}

// queueTermDeltas queues the addition of deltas to the project's keyword statistics,
// one upsert, and the removal of the terms no chunk holds any more, which only a
// negative change can cause (a full index has none).
func queueTermDeltas(b *pgx.Batch, userID, projectID uuid.UUID, deltas store.TermDeltas) {
	deltas.Compact()
	if len(deltas) == 0 {
		return
	}
	terms := make([]string, 0, len(deltas))
	var dropped []string
	for t, n := range deltas {
		terms = append(terms, t)
		if n < 0 {
			dropped = append(dropped, t)
		}
	}
	sort.Strings(terms) // a fixed lock order between concurrent writers
	counts := make([]int64, len(terms))
	for i, t := range terms {
		counts[i] = deltas[t]
	}
	b.Queue(`INSERT INTO index_terms (project_id, user_id, term, docs)
		SELECT $1, $2, u.term, u.docs FROM unnest($3::text[], $4::bigint[]) AS u(term, docs)
		ON CONFLICT (project_id, term) DO UPDATE SET docs = index_terms.docs + excluded.docs`, projectID, userID, terms, counts)
	if len(dropped) > 0 {
		b.Queue("DELETE FROM index_terms WHERE project_id = $1 AND user_id = $2 AND term = ANY($3) AND docs <= 0", projectID, userID, dropped)
	}
}

// KeywordStats implements store.Chunks.
func (s *Store) KeywordStats(ctx context.Context, userID, projectID uuid.UUID, terms []string) (store.KeywordStats, error) {
	counts := map[string]int64{}
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT term, docs FROM index_terms WHERE project_id = $1 AND user_id = $2 AND term = ANY($3)",
			projectID, userID, store.StatTerms(terms))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t string
			var n int64
			if err := rows.Scan(&t, &n); err != nil {
				return err
			}
			counts[t] = n
		}
		return rows.Err()
	})
	if err != nil {
		return store.KeywordStats{}, fmt.Errorf("keyword statistics of project %s: %w", projectID, translate(err))
	}
	return store.KeywordStatsFrom(counts), nil
}

// keywordSearchSQL finds a project's best chunks for a tsquery ($3), at most $4, ranked
// by ts_rank. The candidates come from chunk_search (migration 0009: outside row-level
// security, so the GIN index serves the match; the user and project are filtered here),
// ranked by id alone; then the winners are read from code_chunks, under its policy:
// carrying every match's content through the sort is what costs.
const keywordSearchSQL = `WITH top AS (SELECT s.chunk_id AS id, ts_rank(s.search_tsv, q, 1) AS rank
		FROM chunk_search s, to_tsquery('simple', $3) q
		WHERE s.user_id = $1 AND s.project_id = $2 AND s.search_tsv @@ q
		ORDER BY rank DESC, s.chunk_id LIMIT $4)
	SELECT ` + chunkCols + `, top.rank FROM top JOIN code_chunks c ON c.id = top.id
	ORDER BY top.rank DESC, c.id`

// KeywordSearch implements store.Chunks with the tsvector column, ranked by ts_rank
// (normalised by document length, as bm25 is on SQLite).
func (s *Store) KeywordSearch(ctx context.Context, userID, projectID uuid.UUID, groups [][]string, limit int) ([]store.ChunkHit, error) {
	query := tsQuery(groups)
	if query == "" || limit <= 0 {
		return []store.ChunkHit{}, nil
	}
	out := []store.ChunkHit{}
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, keywordSearchSQL, userID, projectID, query, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var rank float64
			c, err := scanChunk(rows, &rank)
			if err != nil {
				return err
			}
			out = append(out, store.ChunkHit{Chunk: *c, Score: rank})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("keyword search in project %s: %w", projectID, translate(err))
	}
	return out, nil
}

// KeywordMatches implements store.Chunks from chunk_search alone: its GIN index finds
// each term's matches, and no search vector or chunk is read.
func (s *Store) KeywordMatches(ctx context.Context, userID, projectID uuid.UUID, terms []string) ([][]uuid.UUID, error) {
	out := make([][]uuid.UUID, len(terms))
	var parts []string
	args := []any{userID, projectID}
	for i, t := range terms {
		clean := store.CleanTerms([]string{t})
		if len(clean) == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf(`SELECT %d, chunk_id FROM chunk_search
			WHERE user_id = $1 AND project_id = $2 AND search_tsv @@ to_tsquery('simple', $%d)`, i, len(args)+1))
		args = append(args, "'"+clean[0]+"'")
	}
	if len(parts) == 0 {
		return out, nil
	}
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		// Each term's scan takes a millisecond or two; starting parallel workers for
		// the union, as the planner likes to, took a hundred on a busy machine.
		if _, err := tx.Exec(ctx, "SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, strings.Join(parts, " UNION ALL "), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var i int
			var id uuid.UUID
			if err := rows.Scan(&i, &id); err != nil {
				return err
			}
			out[i] = append(out[i], id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("keyword matches in project %s: %w", projectID, translate(err))
	}
	return out, nil
}

// ChunkOutlines implements store.Chunks.
func (s *Store) ChunkOutlines(ctx context.Context, userID, projectID uuid.UUID) ([]store.ChunkOutline, error) {
	var out []store.ChunkOutline
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT id, path, start_line, end_line, symbol FROM code_chunks WHERE project_id = $1 AND user_id = $2",
			projectID, userID)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r pgx.Row) (*store.ChunkOutline, error) {
			var o store.ChunkOutline
			return &o, r.Scan(&o.ID, &o.Path, &o.StartLine, &o.EndLine, &o.Symbol)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("chunk outlines of project %s: %w", projectID, translate(err))
	}
	return out, nil
}

// tsQuery is the tsquery for KeywordSearch's groups ("" when none is left).
func tsQuery(groups [][]string) string { return store.TermQuery(groups, "'", " | ", " & ") }

// KeywordAll implements store.Chunks: chunk_search's matches, no vector read.
func (s *Store) KeywordAll(ctx context.Context, userID, projectID uuid.UUID, groups [][]string, limit int) ([]store.Chunk, error) {
	query := tsQuery(groups)
	if query == "" || limit <= 0 {
		return []store.Chunk{}, nil
	}
	out, err := s.projectChunks(ctx, userID, projectID, `AND c.id IN (SELECT chunk_id FROM chunk_search
		WHERE project_id = $1 AND user_id = $2 AND search_tsv @@ to_tsquery('simple', $3) LIMIT $4)`, query, limit)
	if err != nil {
		return nil, fmt.Errorf("keyword search in project %s: %w", projectID, err)
	}
	return out, nil
}

// projectChunks reads the chunks of one project of the user's, under the tenant's scope,
// that the rest of the WHERE clause (where, after "project and user", its parameters
// from $3: args) selects, in the order it gives. Errors are translated.
func (s *Store) projectChunks(ctx context.Context, userID, projectID uuid.UUID, where string, args ...any) ([]store.Chunk, error) {
	var out []store.Chunk
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT "+chunkCols+" FROM code_chunks c WHERE c.project_id = $1 AND c.user_id = $2 "+where,
			append([]any{projectID, userID}, args...)...)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r pgx.Row) (*store.Chunk, error) { return scanChunk(r) })
		return err
	})
	return out, translate(err)
}

// ChunksOfFiles implements store.Chunks.
func (s *Store) ChunksOfFiles(ctx context.Context, userID, projectID uuid.UUID, paths []string) ([]store.Chunk, error) {
	if len(paths) == 0 {
		return []store.Chunk{}, nil
	}
	out, err := s.projectChunks(ctx, userID, projectID, `AND c.path = ANY($3) ORDER BY c.path COLLATE "C", c.start_line`, paths)
	if err != nil {
		return nil, fmt.Errorf("chunks of %d files of project %s: %w", len(paths), projectID, err)
	}
	return out, nil
}

// PackageDocChunks implements store.Chunks.
func (s *Store) PackageDocChunks(ctx context.Context, userID, projectID uuid.UUID) ([]store.Chunk, error) {
	out, err := s.projectChunks(ctx, userID, projectID, `AND c.symbol LIKE 'package %' AND (c.content LIKE '//%' OR c.content LIKE '/*%')
		ORDER BY c.path COLLATE "C", c.start_line`)
	if err != nil {
		return nil, fmt.Errorf("package docs of project %s: %w", projectID, err)
	}
	return out, nil
}

// GetChunks implements store.Chunks.
func (s *Store) GetChunks(ctx context.Context, userID, projectID uuid.UUID, ids []uuid.UUID) ([]store.Chunk, error) {
	if len(ids) == 0 {
		return []store.Chunk{}, nil
	}
	out, err := s.projectChunks(ctx, userID, projectID, "AND c.id = ANY($3)", ids)
	if err != nil {
		return nil, fmt.Errorf("get chunks of project %s: %w", projectID, err)
	}
	return out, nil
}

// ChunksToEmbed implements store.Chunks.
func (s *Store) ChunksToEmbed(ctx context.Context, userID, projectID uuid.UUID, limit int) ([]store.Chunk, error) {
	out, err := s.projectChunks(ctx, userID, projectID, "AND c.embedding IS NULL ORDER BY c.id LIMIT $3", limit)
	if err != nil {
		return nil, fmt.Errorf("chunks to embed of project %s: %w", projectID, err)
	}
	return out, nil
}

// SetEmbeddings implements store.Chunks; with pgvector it also fills the vector column.
func (s *Store) SetEmbeddings(ctx context.Context, userID, projectID uuid.UUID, model string, vecs []store.ChunkVector) error {
	if len(vecs) == 0 {
		return nil
	}
	if err := store.CheckVectors("", 0, model, vecs); err != nil {
		return fmt.Errorf("store embeddings of project %s: %w", projectID, err)
	}
	// Before the tenant transaction: the column is created on a connection of its own.
	if err := s.ensureVectorColumn(ctx, len(vecs[0].Vector)); err != nil {
		return fmt.Errorf("store embeddings of project %s: %w", projectID, err)
	}
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		var curModel string
		var dims int
		err := tx.QueryRow(ctx, "SELECT embedding_model, embedding_dims FROM index_state WHERE project_id = $1 AND user_id = $2",
			projectID, userID).Scan(&curModel, &dims)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := store.CheckVectors(curModel, dims, model, vecs); err != nil {
			return err
		}
		dims = len(vecs[0].Vector)
		update := "UPDATE code_chunks SET embedding = $1 WHERE id = $2 AND project_id = $3 AND user_id = $4"
		if s.vec.schema != "" {
			update = "UPDATE code_chunks SET embedding = $1, embedding_vec = CAST($5::text AS " + s.vecType() + ") WHERE id = $2 AND project_id = $3 AND user_id = $4"
		}
		batch := &pgx.Batch{}
		for _, v := range vecs {
			args := []any{store.EncodeVector(v.Vector), v.ChunkID, projectID, userID}
			if s.vec.schema != "" {
				args = append(args, vectorText(v.Vector))
			}
			batch.Queue(update, args...)
		}
		batch.Queue(`INSERT INTO index_state (project_id, user_id, generation, embedding_model, embedding_dims, updated_at)
			VALUES ($1, $2, 1, $3, $4, $5) ON CONFLICT (project_id) DO UPDATE SET generation = index_state.generation + 1,
			embedding_model = excluded.embedding_model, embedding_dims = excluded.embedding_dims, updated_at = excluded.updated_at`,
			projectID, userID, model, dims, store.Now())
		return tx.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return fmt.Errorf("store %d embeddings of project %s: %w", len(vecs), projectID, translate(err))
	}
	return nil
}

// ResetEmbeddings implements store.Chunks.
func (s *Store) ResetEmbeddings(ctx context.Context, userID, projectID uuid.UUID) error {
	dims, err := s.vectorDims(ctx)
	if err != nil {
		return err
	}
	set := "embedding = NULL"
	if dims > 0 {
		set += ", embedding_vec = NULL"
	}
	err = s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE code_chunks SET "+set+" WHERE project_id = $1 AND user_id = $2 AND embedding IS NOT NULL", projectID, userID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE index_state SET embedding_model = '', embedding_dims = 0, generation = generation + 1,
			updated_at = $3 WHERE project_id = $1 AND user_id = $2`, projectID, userID, store.Now())
		return err
	})
	if err != nil {
		return fmt.Errorf("reset embeddings of project %s: %w", projectID, translate(err))
	}
	return nil
}

// ChunkVectors implements store.Chunks.
func (s *Store) ChunkVectors(ctx context.Context, userID, projectID uuid.UUID) ([]store.ChunkVector, error) {
	out := []store.ChunkVector{}
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT id, embedding FROM code_chunks WHERE project_id = $1 AND user_id = $2 AND embedding IS NOT NULL",
			projectID, userID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var cv store.ChunkVector
			var b []byte
			if err := rows.Scan(&cv.ChunkID, &b); err != nil {
				return err
			}
			if cv.Vector, err = store.DecodeVector(b); err != nil {
				return err
			}
			out = append(out, cv)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("embeddings of project %s: %w", projectID, translate(err))
	}
	return out, nil
}

// NearestChunks implements store.Chunks through pgvector's HNSW index (cosine distance).
func (s *Store) NearestChunks(ctx context.Context, userID, projectID uuid.UUID, vec []float32, limit int) ([]store.ChunkHit, error) {
	if s.vec.schema == "" {
		return nil, store.ErrNoVectorIndex
	}
	out := []store.ChunkHit{}
	dims, err := s.vectorDims(ctx)
	if err != nil || dims == 0 || limit <= 0 {
		return out, err // no embeddings anywhere yet
	}
	if len(vec) != dims {
		return nil, fmt.Errorf("%w: query has %d dimensions, the vector column %d", store.ErrDimensionMismatch, len(vec), dims)
	}
	err = s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		// The index is shared by every project: let the scan go on past other projects'
		// rows rather than return fewer than limit (pgvector 0.8's iterative scan).
		if _, err := tx.Exec(ctx, "SELECT set_config('hnsw.ef_search', $1, true)", strconv.Itoa(max(40, 2*limit))); err != nil {
			return err
		}
		if s.vec.iterative {
			if _, err := tx.Exec(ctx, "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)"); err != nil {
				return err
			}
		}
		q := "CAST($3::text AS " + s.vecType() + ")"
		rows, err := tx.Query(ctx, "SELECT "+chunkCols+", 1 - (c.embedding_vec "+s.cosineOp()+" "+q+`) AS score
			FROM code_chunks c WHERE c.user_id = $1 AND c.project_id = $2 AND c.embedding_vec IS NOT NULL
			ORDER BY c.embedding_vec `+s.cosineOp()+" "+q+" LIMIT $4", userID, projectID, vectorText(vec), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var score float64
			c, err := scanChunk(rows, &score)
			if err != nil {
				return err
			}
			out = append(out, store.ChunkHit{Chunk: *c, Score: score})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("vector search in project %s: %w", projectID, translate(err))
	}
	// relaxed_order may return neighbours slightly out of order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return out, nil
}

// VectorIndex implements store.Chunks.
func (s *Store) VectorIndex() bool { return s.vec.schema != "" }

// IndexState implements store.Chunks.
func (s *Store) IndexState(ctx context.Context, userID, projectID uuid.UUID) (store.IndexState, error) {
	var st store.IndexState
	err := s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "SELECT generation, embedding_model, embedding_dims FROM index_state WHERE project_id = $1 AND user_id = $2",
			projectID, userID).Scan(&st.Generation, &st.EmbeddingModel, &st.EmbeddingDims)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if err != nil {
		return st, fmt.Errorf("index state of project %s: %w", projectID, translate(err))
	}
	return st, nil
}

// OptimizeChunks implements store.Chunks: after a bulk load the planner should know the
// table's new size and the search column's terms, and the GIN index's pending list
// (fastupdate: up to gin_pending_list_limit of entries every search scans in full) is
// merged into the index.
func (s *Store) OptimizeChunks(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, "ANALYZE code_chunks, chunk_search"); err != nil {
		return fmt.Errorf("analyze code_chunks: %w", translate(err))
	}
	// Best effort: the function wants the index's owner, which the store's role
	// usually is (it runs the migrations) but need not be.
	if _, err := s.pool.Exec(ctx, "SELECT gin_clean_pending_list('chunk_search_tsv_idx'::regclass)"); err != nil {
		s.log.Info("the keyword index's pending list was not merged", slog.String("reason", translate(err).Error()))
	}
	return nil
}
