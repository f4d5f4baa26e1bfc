-- Keyword search through the GIN index. Under row-level security the planner may not
-- evaluate a qual that is not LEAKPROOF before the policy's, and tsvector's @@ is not:
-- every search read every chunk of the project (127,367 for Go's src/: 844 ms, where the
-- GIN index takes 15 ms). The search vectors are therefore kept beside the chunks in
-- chunk_search, a table without row-level security that the keyword search reads with
-- the user and project in its own WHERE clause. Only chunk ids and ranks leave it: the
-- chunks themselves are then read from code_chunks, under its policy, so a tenant can
-- never receive another tenant's rows even through a faulty filter here. A trigger keeps
-- it in step with code_chunks (in the same transaction), and deleting a chunk (or its
-- project) deletes its row.
CREATE TABLE chunk_search (
    chunk_id   uuid PRIMARY KEY REFERENCES code_chunks (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL,
    project_id uuid NOT NULL,
    search_tsv tsvector NOT NULL
);
CREATE INDEX chunk_search_tsv_idx ON chunk_search USING gin (search_tsv);

CREATE FUNCTION chunk_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chunk_search (chunk_id, user_id, project_id, search_tsv)
    VALUES (NEW.id, NEW.user_id, NEW.project_id, NEW.search_tsv)
    ON CONFLICT (chunk_id) DO UPDATE
        SET user_id = EXCLUDED.user_id, project_id = EXCLUDED.project_id, search_tsv = EXCLUDED.search_tsv;
    RETURN NULL;
END
$$;
CREATE TRIGGER chunk_search_sync AFTER INSERT OR UPDATE OF search_text, user_id, project_id ON code_chunks
    FOR EACH ROW EXECUTE FUNCTION chunk_search_sync();

-- The chunks already indexed. The table's owner runs migrations; FORCE would hide every
-- tenant's rows from it.
ALTER TABLE code_chunks NO FORCE ROW LEVEL SECURITY;
INSERT INTO chunk_search (chunk_id, user_id, project_id, search_tsv)
    SELECT id, user_id, project_id, search_tsv FROM code_chunks;
ALTER TABLE code_chunks FORCE ROW LEVEL SECURITY;

-- The index the policy kept the planner from using.
DROP INDEX code_chunks_search_idx;
