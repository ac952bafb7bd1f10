-- The search index by impact: each posting holds its term's weight in its post
-- (quire_content::search::impact: BM25's term-frequency part, length normalized against a
-- fixed pivot, in units of 2^-20), computed when the post is written, so a search reads a
-- term's postings best first and stops once no unread posting can reach the results.
-- New tables beside the old ones (search_postings, search_documents), which the previous
-- release goes on writing and reading during a rolling update; a later release drops them.
-- Workers index every post with no entry here when they start; posts the previous release
-- wrote during the rollout are indexed again by `quire search reindex` afterwards.
CREATE TABLE search_impacts (
    term    TEXT    NOT NULL,
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    impact  INTEGER NOT NULL,
    PRIMARY KEY (term, post_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX search_impacts_post_idx ON search_impacts (post_id);
CREATE INDEX search_impacts_order_idx ON search_impacts (term, impact, post_id);
-- The start of each indexed post's body as plain text, which result snippets are cut from.
CREATE TABLE search_excerpts (
    post_id INTEGER PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,
    excerpt TEXT NOT NULL
) STRICT;
