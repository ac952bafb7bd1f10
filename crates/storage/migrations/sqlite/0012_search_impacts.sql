-- Postings hold each term's weight in its post (quire_content::search::impact: BM25's
-- term-frequency part, length normalized against a fixed pivot, in units of 2^-20), computed
-- when the post is written, so a search reads a term's postings best first and stops once no
-- unread posting can reach the results. Entries written before are rebuilt: the documents are
-- emptied, and workers index every post with no entry when they start (`quire search
-- reindex` does too).
DROP TABLE search_postings;
CREATE TABLE search_postings (
    term    TEXT    NOT NULL,
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    impact  INTEGER NOT NULL,
    PRIMARY KEY (term, post_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX search_postings_post_idx ON search_postings (post_id);
CREATE INDEX search_postings_impact_idx ON search_postings (term, impact, post_id);
-- The length served BM25's mean; the pivot is fixed now.
DROP TABLE search_documents;
CREATE TABLE search_documents (
    post_id INTEGER PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,
    excerpt TEXT NOT NULL
) STRICT;
