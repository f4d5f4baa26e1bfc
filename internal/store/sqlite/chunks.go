package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

const chunkCols = "c.id, c.user_id, c.project_id, c.path, c.language, c.start_line, c.end_line, c.symbol, c.content, c.content_hash, c.search_text, c.created_at"

func scanChunk(r scanner, extra ...any) (*store.Chunk, error) {
	var c store.Chunk
	var created string
	dest := append([]any{&c.ID, &c.UserID, &c.ProjectID, &c.Path, &c.Language, &c.StartLine, &c.EndLine, &c.Symbol,
		&c.Content, &c.ContentHash, &c.SearchText, &created}, extra...)
	if err := r.Scan(dest...); err != nil {
		return nil, translate(err)
	}
	var err error
	if c.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	return &c, nil
}

// ownProject reports ErrNotFound unless the project is the user's: upserts that meet
// another tenant's row do nothing, so they must not be reached for another's project.
func ownProject(ctx context.Context, tx *sql.Tx, uid, pid string) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM projects WHERE id = ? AND user_id = ?", pid, uid).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// bumpState advances the project's index generation (creating its state row).
func bumpState(ctx context.Context, tx *sql.Tx, userID, projectID uuid.UUID) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO index_state (project_id, user_id, generation, updated_at) VALUES (?, ?, 1, ?)
		ON CONFLICT (project_id) DO UPDATE SET generation = generation + 1, updated_at = excluded.updated_at
		WHERE index_state.user_id = excluded.user_id`, projectID.String(), userID.String(), fmtTime(store.Now()))
	return err
}

// ReplaceFiles implements store.Chunks.
func (s *Store) ReplaceFiles(ctx context.Context, userID, projectID uuid.UUID, files []store.FileChunks) error {
	if len(files) == 0 {
		return nil
	}
	uid, pid := userID.String(), projectID.String()
	created := store.Now()
	store.PrepareFiles(userID, projectID, files, created)
	now := fmtTime(created)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := ownProject(ctx, tx, uid, pid); err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO code_chunks (id, user_id, project_id, path, language, start_line,
			end_line, symbol, content, content_hash, search_text, embedding, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		deltas := store.TermDeltas{}
		for _, f := range files {
			kept := map[string][]byte{}
			rows, err := tx.QueryContext(ctx, `SELECT content_hash, embedding, search_text FROM code_chunks
				WHERE project_id = ? AND user_id = ? AND path = ?`, pid, uid, f.Path)
			if err != nil {
				return err
			}
			for rows.Next() {
				var h, text string
				var e []byte
				if err := rows.Scan(&h, &e, &text); err != nil {
					rows.Close()
					return err
				}
				if e != nil {
					kept[h] = e
				}
				deltas.Add(text, -1)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM code_chunks WHERE project_id = ? AND user_id = ? AND path = ?", pid, uid, f.Path); err != nil {
				return err
			}
			for i := range f.Chunks {
				c := &f.Chunks[i]
				var emb any
				if e, ok := kept[c.ContentHash]; ok {
					emb = e
				}
				if _, err := ins.ExecContext(ctx, c.ID.String(), uid, pid, f.Path, c.Language, c.StartLine, c.EndLine, c.Symbol,
					c.Content, c.ContentHash, c.SearchText, emb, now); err != nil {
					return err
				}
				deltas.Add(c.SearchText, 1)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO index_files (user_id, project_id, path, content_hash, indexed_at)
				VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id, path) DO UPDATE SET content_hash = excluded.content_hash,
				indexed_at = excluded.indexed_at WHERE index_files.user_id = excluded.user_id`, uid, pid, f.Path, f.Hash, now); err != nil {
				return err
			}
		}
		if err := addTermDeltas(ctx, tx, uid, pid, deltas); err != nil {
			return err
		}
		return bumpState(ctx, tx, userID, projectID)
	})
	if err != nil {
		return fmt.Errorf("replace %d files of project %s: %w", len(files), projectID, translate(err))
	}
	return nil
}

// DeleteFiles implements store.Chunks.
func (s *Store) DeleteFiles(ctx context.Context, userID, projectID uuid.UUID, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	uid, pid := userID.String(), projectID.String()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		deltas := store.TermDeltas{}
		for _, p := range paths {
			texts, err := tx.QueryContext(ctx, "SELECT search_text FROM code_chunks WHERE project_id = ? AND user_id = ? AND path = ?", pid, uid, p)
			if err != nil {
				return err
			}
			for texts.Next() {
				var text string
				if err := texts.Scan(&text); err != nil {
					texts.Close()
					return err
				}
				deltas.Add(text, -1)
			}
			if err := texts.Close(); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM code_chunks WHERE project_id = ? AND user_id = ? AND path = ?", pid, uid, p); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM index_files WHERE project_id = ? AND user_id = ? AND path = ?", pid, uid, p); err != nil {
				return err
			}
		}
		if err := ownProject(ctx, tx, uid, pid); err != nil {
			return err
		}
		if err := addTermDeltas(ctx, tx, uid, pid, deltas); err != nil {
			return err
		}
		return bumpState(ctx, tx, userID, projectID)
	})
	if err != nil {
		return fmt.Errorf("delete %d files of project %s: %w", len(paths), projectID, translate(err))
	}
	return nil
}

// FileHashes implements store.Chunks.
func (s *Store) FileHashes(ctx context.Context, userID, projectID uuid.UUID) (map[string]string, error) {
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT path, content_hash FROM index_files WHERE project_id = ? AND user_id = ?",
		projectID.String(), userID.String())
	if err != nil {
		return nil, fmt.Errorf("file hashes of project %s: %w", projectID, translate(err))
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var p, h string
		if err := rows.Scan(&p, &h); err != nil {
			return nil, err
		}
		out[p] = h
	}
	return out, rows.Err()
}

// termRowsPerInsert bounds the rows of one multi-row upsert (4 parameters each).
const termRowsPerInsert = 250

// addTermDeltas adds deltas to the project's keyword statistics, in term order, many
// rows per statement, and drops the terms no chunk holds any more.
func addTermDeltas(ctx context.Context, tx *sql.Tx, uid, pid string, deltas store.TermDeltas) error {
	deltas.Compact()
	terms := make([]string, 0, len(deltas))
	for t := range deltas {
		terms = append(terms, t)
	}
	sort.Strings(terms)
	for len(terms) > 0 {
		n := min(len(terms), termRowsPerInsert)
		args := make([]any, 0, 4*n)
		for _, t := range terms[:n] {
			args = append(args, pid, uid, t, deltas[t])
		}
		q := "INSERT INTO index_terms (project_id, user_id, term, docs) VALUES (?, ?, ?, ?)" + strings.Repeat(", (?, ?, ?, ?)", n-1) +
			" ON CONFLICT (project_id, term) DO UPDATE SET docs = docs + excluded.docs WHERE index_terms.user_id = excluded.user_id"
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		terms = terms[n:]
	}
	// Only the terms that fell can reach 0.
	for _, t := range terms0(deltas) {
		if _, err := tx.ExecContext(ctx, "DELETE FROM index_terms WHERE project_id = ? AND user_id = ? AND term = ? AND docs <= 0", pid, uid, t); err != nil {
			return err
		}
	}
	return nil
}

// terms0 are the terms whose count fell.
func terms0(deltas store.TermDeltas) []string {
	var out []string
	for t, n := range deltas {
		if n < 0 {
			out = append(out, t)
		}
	}
	return out
}

// KeywordStats implements store.Chunks.
func (s *Store) KeywordStats(ctx context.Context, userID, projectID uuid.UUID, terms []string) (store.KeywordStats, error) {
	want := store.StatTerms(terms)
	args := []any{projectID.String(), userID.String()}
	for _, t := range want {
		args = append(args, t)
	}
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT term, docs FROM index_terms WHERE project_id = ? AND user_id = ? AND term IN (?"+
		strings.Repeat(", ?", len(want)-1)+")", args...)
	if err != nil {
		return store.KeywordStats{}, fmt.Errorf("keyword statistics of project %s: %w", projectID, translate(err))
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var t string
		var n int64
		if err := rows.Scan(&t, &n); err != nil {
			return store.KeywordStats{}, err
		}
		counts[t] = n
	}
	if err := rows.Err(); err != nil {
		return store.KeywordStats{}, fmt.Errorf("keyword statistics of project %s: %w", projectID, translate(err))
	}
	return store.KeywordStatsFrom(counts), nil
}

// ftsMatch is the FTS5 query for KeywordSearch's groups ("" when none is left).
func ftsMatch(groups [][]string) string { return store.TermQuery(groups, `"`, " OR ", " AND ") }

// KeywordAll implements store.Chunks: the FTS5 matches, without bm25.
func (s *Store) KeywordAll(ctx context.Context, userID, projectID uuid.UUID, groups [][]string, limit int) ([]store.Chunk, error) {
	match := ftsMatch(groups)
	if match == "" || limit <= 0 {
		return []store.Chunk{}, nil
	}
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+chunkCols+` FROM code_chunks_fts CROSS JOIN code_chunks c ON c.seq = code_chunks_fts.rowid
		WHERE code_chunks_fts MATCH ? AND c.project_id = ? AND c.user_id = ? LIMIT ?`, match, projectID.String(), userID.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("keyword search in project %s: %w", projectID, translate(err))
	}
	out, err := collect(rows, func(r scanner) (*store.Chunk, error) { return scanChunk(r) })
	if err != nil {
		return nil, fmt.Errorf("keyword search in project %s: %w", projectID, translate(err))
	}
	return out, nil
}

// KeywordSearch implements store.Chunks with the FTS5 index, ranked by bm25.
func (s *Store) KeywordSearch(ctx context.Context, userID, projectID uuid.UUID, groups [][]string, limit int) ([]store.ChunkHit, error) {
	match := ftsMatch(groups)
	if match == "" || limit <= 0 {
		return []store.ChunkHit{}, nil
	}
	// Rank first, with only the rowid and the score, then read the winners' columns:
	// carrying every matching chunk's content through the sort is what costs. The fast
	// path ranks the whole index without looking at chunks (the FTS table knows no
	// projects) and keeps the project's rows among the best overfetch; when that yields
	// fewer than limit, the project's rows may lie deeper and the exact query runs.
	// CROSS JOIN fixes the join order: driving it from the project's rows instead would
	// probe the ranked list once per chunk of the project.
	r := s.r(ctx)
	overfetch := max(500, 10*limit)
	fast := `WITH top AS (SELECT rowid, bm25(code_chunks_fts) AS rank FROM code_chunks_fts
			WHERE code_chunks_fts MATCH ? ORDER BY rank LIMIT ?)
		SELECT top.rowid, top.rank FROM top CROSS JOIN code_chunks c ON c.seq = top.rowid
		WHERE c.project_id = ? AND c.user_id = ? ORDER BY top.rank LIMIT ?`
	exact := `SELECT code_chunks_fts.rowid, bm25(code_chunks_fts) AS rank
		FROM code_chunks_fts JOIN code_chunks c ON c.seq = code_chunks_fts.rowid
		WHERE code_chunks_fts MATCH ? AND c.project_id = ? AND c.user_id = ?
		ORDER BY rank LIMIT ?`
	rank := func(q string, args ...any) ([]any, map[int64]float64, error) {
		rows, err := r.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, nil, err
		}
		defer rows.Close()
		var seqs []any
		ranks := map[int64]float64{}
		for rows.Next() {
			var seq int64
			var rank float64
			if err := rows.Scan(&seq, &rank); err != nil {
				return nil, nil, err
			}
			seqs = append(seqs, seq)
			ranks[seq] = rank
		}
		return seqs, ranks, rows.Err()
	}
	seqs, ranks, err := rank(fast, match, overfetch, projectID.String(), userID.String(), limit)
	if err == nil && len(seqs) < limit {
		seqs, ranks, err = rank(exact, match, projectID.String(), userID.String(), limit)
	}
	if err != nil {
		return nil, fmt.Errorf("keyword search in project %s: %w", projectID, translate(err))
	}
	out := []store.ChunkHit{}
	if len(seqs) == 0 {
		return out, nil
	}
	rows, err := r.QueryContext(ctx, "SELECT "+chunkCols+", c.seq FROM code_chunks c WHERE c.seq IN (?"+
		strings.Repeat(", ?", len(seqs)-1)+")", seqs...)
	if err != nil {
		return nil, fmt.Errorf("keyword search in project %s: %w", projectID, translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		c, err := scanChunk(rows, &seq)
		if err != nil {
			return nil, err
		}
		out = append(out, store.ChunkHit{Chunk: *c, Score: -ranks[seq]}) // bm25 is lower-is-better
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return out, nil
}

// KeywordMatches implements store.Chunks: one FTS5 query per term, reading rowids alone.
func (s *Store) KeywordMatches(ctx context.Context, userID, projectID uuid.UUID, terms []string) ([][]uuid.UUID, error) {
	out := make([][]uuid.UUID, len(terms))
	for i, t := range terms {
		clean := store.CleanTerms([]string{t})
		if len(clean) == 0 {
			continue
		}
		rows, err := s.r(ctx).QueryContext(ctx, `SELECT c.id FROM code_chunks_fts CROSS JOIN code_chunks c ON c.seq = code_chunks_fts.rowid
			WHERE code_chunks_fts MATCH ? AND c.project_id = ? AND c.user_id = ?`, `"`+clean[0]+`"`, projectID.String(), userID.String())
		if err != nil {
			return nil, fmt.Errorf("keyword matches in project %s: %w", projectID, translate(err))
		}
		out[i], err = collect(rows, func(r scanner) (*uuid.UUID, error) {
			var id uuid.UUID
			return &id, r.Scan(&id)
		})
		if err != nil {
			return nil, fmt.Errorf("keyword matches in project %s: %w", projectID, translate(err))
		}
	}
	return out, nil
}

// ChunkOutlines implements store.Chunks.
func (s *Store) ChunkOutlines(ctx context.Context, userID, projectID uuid.UUID) ([]store.ChunkOutline, error) {
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT id, path, start_line, end_line, symbol FROM code_chunks WHERE project_id = ? AND user_id = ?",
		projectID.String(), userID.String())
	if err != nil {
		return nil, fmt.Errorf("chunk outlines of project %s: %w", projectID, translate(err))
	}
	out, err := collect(rows, func(r scanner) (*store.ChunkOutline, error) {
		var o store.ChunkOutline
		return &o, r.Scan(&o.ID, &o.Path, &o.StartLine, &o.EndLine, &o.Symbol)
	})
	if err != nil {
		return nil, fmt.Errorf("chunk outlines of project %s: %w", projectID, translate(err))
	}
	return out, nil
}

// ChunksOfFiles implements store.Chunks.
func (s *Store) ChunksOfFiles(ctx context.Context, userID, projectID uuid.UUID, paths []string) ([]store.Chunk, error) {
	if len(paths) == 0 {
		return []store.Chunk{}, nil
	}
	args := []any{projectID.String(), userID.String()}
	for _, p := range paths {
		args = append(args, p)
	}
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+chunkCols+" FROM code_chunks c WHERE c.project_id = ? AND c.user_id = ? AND c.path IN (?"+
		strings.Repeat(", ?", len(paths)-1)+") ORDER BY c.path, c.start_line", args...)
	if err != nil {
		return nil, fmt.Errorf("chunks of %d files of project %s: %w", len(paths), projectID, translate(err))
	}
	return collect(rows, func(r scanner) (*store.Chunk, error) { return scanChunk(r) })
}

// PackageDocChunks implements store.Chunks.
func (s *Store) PackageDocChunks(ctx context.Context, userID, projectID uuid.UUID) ([]store.Chunk, error) {
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+chunkCols+` FROM code_chunks c WHERE c.project_id = ? AND c.user_id = ?
		AND c.symbol LIKE 'package %' AND (c.content LIKE '//%' OR c.content LIKE '/*%') ORDER BY c.path, c.start_line`,
		projectID.String(), userID.String())
	if err != nil {
		return nil, fmt.Errorf("package docs of project %s: %w", projectID, translate(err))
	}
	return collect(rows, func(r scanner) (*store.Chunk, error) { return scanChunk(r) })
}

// GetChunks implements store.Chunks.
func (s *Store) GetChunks(ctx context.Context, userID, projectID uuid.UUID, ids []uuid.UUID) ([]store.Chunk, error) {
	if len(ids) == 0 {
		return []store.Chunk{}, nil
	}
	args := []any{projectID.String(), userID.String()}
	for _, id := range ids {
		args = append(args, id.String())
	}
	// The unary + keeps the planner on the id index: with many ids it would otherwise
	// scan every chunk of the project through a project_id index.
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+chunkCols+" FROM code_chunks c WHERE +c.project_id = ? AND +c.user_id = ? AND c.id IN (?"+
		strings.Repeat(", ?", len(ids)-1)+")", args...)
	if err != nil {
		return nil, fmt.Errorf("get chunks of project %s: %w", projectID, translate(err))
	}
	return collect(rows, func(r scanner) (*store.Chunk, error) { return scanChunk(r) })
}

// ChunksToEmbed implements store.Chunks.
func (s *Store) ChunksToEmbed(ctx context.Context, userID, projectID uuid.UUID, limit int) ([]store.Chunk, error) {
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+chunkCols+` FROM code_chunks c
		WHERE c.project_id = ? AND c.user_id = ? AND c.embedding IS NULL ORDER BY c.seq LIMIT ?`,
		projectID.String(), userID.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("chunks to embed of project %s: %w", projectID, translate(err))
	}
	return collect(rows, func(r scanner) (*store.Chunk, error) { return scanChunk(r) })
}

// SetEmbeddings implements store.Chunks.
func (s *Store) SetEmbeddings(ctx context.Context, userID, projectID uuid.UUID, model string, vecs []store.ChunkVector) error {
	if len(vecs) == 0 {
		return nil
	}
	uid, pid := userID.String(), projectID.String()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var curModel string
		var dims int
		err := tx.QueryRowContext(ctx, "SELECT embedding_model, embedding_dims FROM index_state WHERE project_id = ? AND user_id = ?",
			pid, uid).Scan(&curModel, &dims)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err := store.CheckVectors(curModel, dims, model, vecs); err != nil {
			return err
		}
		if dims == 0 {
			dims = len(vecs[0].Vector)
		}
		upd, err := tx.PrepareContext(ctx, "UPDATE code_chunks SET embedding = ? WHERE id = ? AND project_id = ? AND user_id = ?")
		if err != nil {
			return err
		}
		defer upd.Close()
		for _, v := range vecs {
			if _, err := upd.ExecContext(ctx, store.EncodeVector(v.Vector), v.ChunkID.String(), pid, uid); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO index_state (project_id, user_id, generation, embedding_model, embedding_dims, updated_at)
			VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET generation = generation + 1,
			embedding_model = excluded.embedding_model, embedding_dims = excluded.embedding_dims, updated_at = excluded.updated_at
			WHERE index_state.user_id = excluded.user_id`, pid, uid, model, dims, fmtTime(store.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("store %d embeddings of project %s: %w", len(vecs), projectID, translate(err))
	}
	return nil
}

// ResetEmbeddings implements store.Chunks.
func (s *Store) ResetEmbeddings(ctx context.Context, userID, projectID uuid.UUID) error {
	uid, pid := userID.String(), projectID.String()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE code_chunks SET embedding = NULL WHERE project_id = ? AND user_id = ? AND embedding IS NOT NULL", pid, uid); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE index_state SET embedding_model = '', embedding_dims = 0, generation = generation + 1,
			updated_at = ? WHERE project_id = ? AND user_id = ?`, fmtTime(store.Now()), pid, uid)
		return err
	})
	if err != nil {
		return fmt.Errorf("reset embeddings of project %s: %w", projectID, translate(err))
	}
	return nil
}

// ChunkVectors implements store.Chunks.
func (s *Store) ChunkVectors(ctx context.Context, userID, projectID uuid.UUID) ([]store.ChunkVector, error) {
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT id, embedding FROM code_chunks WHERE project_id = ? AND user_id = ? AND embedding IS NOT NULL",
		projectID.String(), userID.String())
	if err != nil {
		return nil, fmt.Errorf("embeddings of project %s: %w", projectID, translate(err))
	}
	defer rows.Close()
	out := []store.ChunkVector{}
	for rows.Next() {
		var cv store.ChunkVector
		var b []byte
		if err := rows.Scan(&cv.ChunkID, &b); err != nil {
			return nil, err
		}
		if cv.Vector, err = store.DecodeVector(b); err != nil {
			return nil, err
		}
		out = append(out, cv)
	}
	return out, rows.Err()
}

// NearestChunks implements store.Chunks: SQLite has no vector index.
func (s *Store) NearestChunks(context.Context, uuid.UUID, uuid.UUID, []float32, int) ([]store.ChunkHit, error) {
	return nil, store.ErrNoVectorIndex
}

// VectorIndex implements store.Chunks.
func (s *Store) VectorIndex() bool { return false }

// IndexState implements store.Chunks.
func (s *Store) IndexState(ctx context.Context, userID, projectID uuid.UUID) (store.IndexState, error) {
	var st store.IndexState
	err := s.r(ctx).QueryRowContext(ctx, "SELECT generation, embedding_model, embedding_dims FROM index_state WHERE project_id = ? AND user_id = ?",
		projectID.String(), userID.String()).Scan(&st.Generation, &st.EmbeddingModel, &st.EmbeddingDims)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("index state of project %s: %w", projectID, translate(err))
	}
	return st, nil
}

// OptimizeChunks implements store.Chunks: it merges the FTS5 index's segments into one.
func (s *Store) OptimizeChunks(ctx context.Context) error {
	if _, err := s.w(ctx).ExecContext(ctx, "INSERT INTO code_chunks_fts (code_chunks_fts) VALUES ('optimize')"); err != nil {
		return fmt.Errorf("optimize the keyword index: %w", translate(err))
	}
	return nil
}
