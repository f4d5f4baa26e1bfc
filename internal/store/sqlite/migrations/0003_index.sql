-- Codebase index: chunks with a code-aware search text under an FTS5 index, the content
-- hash of every indexed file (for incremental re-indexing), and per-project index state
-- (a generation counter and the embedding model and dimension).
--
-- code_chunks is rebuilt with an INTEGER PRIMARY KEY (seq): the FTS5 index refers to
-- chunks by rowid, and only an INTEGER PRIMARY KEY keeps a rowid stable across VACUUM.
-- Nothing wrote the table before this migration; whatever is there is carried over.
CREATE TABLE code_chunks_new (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    path         TEXT NOT NULL,
    language     TEXT NOT NULL DEFAULT '',
    start_line   INTEGER NOT NULL,
    end_line     INTEGER NOT NULL,
    symbol       TEXT NOT NULL DEFAULT '',
    content      TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    search_text  TEXT NOT NULL DEFAULT '',
    embedding    BLOB, -- little-endian float32 vector; searched exactly in Go
    created_at   TEXT NOT NULL,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
) STRICT;
INSERT INTO code_chunks_new (id, user_id, project_id, path, language, start_line, end_line, symbol, content,
    content_hash, embedding, created_at)
SELECT id, user_id, project_id, path, language, start_line, end_line, symbol, content, content_hash, embedding, created_at
FROM code_chunks;
DROP TABLE code_chunks;
ALTER TABLE code_chunks_new RENAME TO code_chunks;
CREATE INDEX code_chunks_project_path_idx ON code_chunks (project_id, path);
CREATE INDEX code_chunks_hash_idx ON code_chunks (project_id, content_hash);
CREATE INDEX code_chunks_unembedded_idx ON code_chunks (project_id, seq) WHERE embedding IS NULL;

-- External-content FTS5 index over search_text, kept in step by the triggers below
-- (foreign-key cascades fire them too). '_' is a token character so snake_case
-- identifiers stay whole; the search text carries their parts separately.
CREATE VIRTUAL TABLE code_chunks_fts USING fts5(
    search_text,
    content = 'code_chunks',
    content_rowid = 'seq',
    tokenize = "unicode61 remove_diacritics 2 tokenchars '_'"
);
INSERT INTO code_chunks_fts (code_chunks_fts) VALUES ('rebuild');

CREATE TRIGGER code_chunks_fts_insert AFTER INSERT ON code_chunks BEGIN
    INSERT INTO code_chunks_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;
CREATE TRIGGER code_chunks_fts_delete AFTER DELETE ON code_chunks BEGIN
    INSERT INTO code_chunks_fts (code_chunks_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
END;
CREATE TRIGGER code_chunks_fts_update AFTER UPDATE OF search_text ON code_chunks BEGIN
    INSERT INTO code_chunks_fts (code_chunks_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
    INSERT INTO code_chunks_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;

CREATE TABLE index_files (
    user_id      TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    path         TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    indexed_at   TEXT NOT NULL,
    PRIMARY KEY (project_id, path),
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
) STRICT;

CREATE TABLE index_state (
    project_id      TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL,
    generation      INTEGER NOT NULL DEFAULT 0,
    embedding_model TEXT NOT NULL DEFAULT '',
    embedding_dims  INTEGER NOT NULL DEFAULT 0,
    updated_at      TEXT NOT NULL,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
) STRICT;
