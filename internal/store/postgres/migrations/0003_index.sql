-- Codebase index: a code-aware search text on every chunk with a tsvector (the 'simple'
-- configuration: no stemming or stop words, the indexer's tokens are used as they are)
-- under a GIN index, the content hash of every indexed file (for incremental
-- re-indexing), and per-project index state (a generation counter and the embedding
-- model and dimension).
--
-- Embeddings stay in the bytea column for exact search in Go. When the pgvector
-- extension exists, the store adds a vector(N) column and its HNSW index once the first
-- embedding fixes N (see chunks.go): the dimension is not known here.
ALTER TABLE code_chunks ADD COLUMN search_text text NOT NULL DEFAULT '';
ALTER TABLE code_chunks ADD COLUMN search_tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, search_text)) STORED;
CREATE INDEX code_chunks_search_idx ON code_chunks USING gin (search_tsv);
CREATE INDEX code_chunks_unembedded_idx ON code_chunks (project_id) WHERE embedding IS NULL;

CREATE TABLE index_files (
    user_id      uuid NOT NULL,
    project_id   uuid NOT NULL,
    path         text NOT NULL,
    content_hash text NOT NULL,
    indexed_at   timestamptz NOT NULL,
    PRIMARY KEY (project_id, path),
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
);

CREATE TABLE index_state (
    project_id      uuid PRIMARY KEY,
    user_id         uuid NOT NULL,
    generation      bigint NOT NULL DEFAULT 0,
    embedding_model text NOT NULL DEFAULT '',
    embedding_dims  integer NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL,
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
);

ALTER TABLE index_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE index_files FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON index_files
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

ALTER TABLE index_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE index_state FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON index_state
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);
