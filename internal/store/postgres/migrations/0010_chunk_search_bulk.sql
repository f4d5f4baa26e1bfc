-- Bulk writes of chunks (issue 16). Until now every inserted chunk ran a row trigger that
-- copied it into chunk_search (an INSERT ... ON CONFLICT through PL/pgSQL), the foreign key
-- of that row locked the chunk it had just inserted, and the search vector was stored
-- twice (code_chunks.search_tsv, generated, and its copy). ReplaceFiles now writes a
-- batch's chunks and their chunk_search rows itself, each in one statement over arrays,
-- with the vector computed once. The tables stay in step through the database for
-- everything else: deleting chunks (ReplaceFiles, DeleteFiles, a deleted project's
-- cascade) deletes their rows through a statement trigger, and an update that changes a
-- chunk's search text or owner recomputes its row.
DROP TRIGGER chunk_search_sync ON code_chunks;
DROP FUNCTION chunk_search_sync();
ALTER TABLE chunk_search DROP CONSTRAINT chunk_search_chunk_id_fkey;
ALTER TABLE code_chunks DROP COLUMN search_tsv;

CREATE FUNCTION chunk_search_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM chunk_search s USING gone g WHERE s.chunk_id = g.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER chunk_search_forget AFTER DELETE ON code_chunks
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION chunk_search_forget();

-- A row trigger, as 0009's was: a statement trigger cannot name columns, and
-- ResetEmbeddings and SetEmbeddings, which never change these, would carry every
-- updated row (embeddings included) through its transition tables.
CREATE FUNCTION chunk_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM chunk_search WHERE chunk_id = OLD.id;
    INSERT INTO chunk_search (chunk_id, user_id, project_id, search_tsv)
    VALUES (NEW.id, NEW.user_id, NEW.project_id, to_tsvector('simple'::regconfig, NEW.search_text));
    RETURN NULL;
END
$$;
CREATE TRIGGER chunk_search_refresh AFTER UPDATE OF id, search_text, user_id, project_id ON code_chunks
    FOR EACH ROW EXECUTE FUNCTION chunk_search_refresh();

-- No query looks chunks up by content hash (the embeddings kept across a rewrite come
-- back from the DELETE), and every inserted chunk paid for this index.
DROP INDEX code_chunks_hash_idx;

-- Every batch of a full index adds to the counts of thousands of terms, most of them
-- updated again by the next batches. Room on each page lets an update stay on its page
-- (a HOT update: no new entry in the primary key's index).
ALTER TABLE index_terms SET (fillfactor = 70);
