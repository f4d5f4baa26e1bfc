-- Per-project keyword statistics for BM25 (store.KeywordStats): for every term, how many
-- of the project's chunks hold it, and under reserved terms ('|chunks', '|path', ...)
-- the chunk count and the tokens per search-text field. ReplaceFiles and DeleteFiles
-- keep them in step with the chunks, in the same transaction.
CREATE TABLE index_terms (
    project_id uuid NOT NULL,
    user_id    uuid NOT NULL,
    term       text NOT NULL,
    docs       bigint NOT NULL,
    PRIMARY KEY (project_id, term),
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
);

ALTER TABLE index_terms ENABLE ROW LEVEL SECURITY;
ALTER TABLE index_terms FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON index_terms
    USING (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid)
    WITH CHECK (user_id = NULLIF(current_setting('app.user_id', true), '')::uuid);

-- Chunks written before search texts had fields are searched but not counted. Forgetting
-- the file hashes makes the next index run of each project rewrite every file, with
-- fields and counted; embeddings survive the rewrite (they are kept by content hash).
-- The table's owner runs migrations; FORCE would hide every tenant's rows from it.
ALTER TABLE index_files NO FORCE ROW LEVEL SECURITY;
DELETE FROM index_files;
ALTER TABLE index_files FORCE ROW LEVEL SECURITY;
