-- Per-project keyword statistics for BM25 (store.KeywordStats): for every term, how many
-- of the project's chunks hold it, and under reserved terms ('|chunks', '|path', ...)
-- the chunk count and the tokens per search-text field. ReplaceFiles and DeleteFiles
-- keep them in step with the chunks, in the same transaction.
CREATE TABLE index_terms (
    project_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    term       TEXT NOT NULL,
    docs       INTEGER NOT NULL,
    PRIMARY KEY (project_id, term),
    FOREIGN KEY (project_id, user_id) REFERENCES projects (id, user_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Chunks written before search texts had fields are searched but not counted. Forgetting
-- the file hashes makes the next index run of each project rewrite every file, with
-- fields and counted; embeddings survive the rewrite (they are kept by content hash).
DELETE FROM index_files;
