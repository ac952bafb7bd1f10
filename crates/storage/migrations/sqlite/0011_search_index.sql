-- The full-text index, in the database so every instance searches the same one. Terms are made
-- by quire (quire_content::search::terms: Unicode words, CJK runs as bigrams), so both engines
-- index identical tokens and rank alike (BM25, computed by quire's query).
-- One row per term of a post: its frequency, weighted by field (a title's term counts more).
CREATE TABLE search_postings (
    term    TEXT    NOT NULL,
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    tf      INTEGER NOT NULL,
    PRIMARY KEY (term, post_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX search_postings_post_idx ON search_postings (post_id);
-- One row per indexed post: its weighted length in terms, for BM25's length normalization,
-- and the start of its body as plain text, which result snippets are cut from.
CREATE TABLE search_documents (
    post_id INTEGER PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,
    length  INTEGER NOT NULL,
    excerpt TEXT NOT NULL
) STRICT;
