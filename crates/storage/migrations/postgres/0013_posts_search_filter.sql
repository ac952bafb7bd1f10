-- What a search tests of each post it finds (status, language, author), by id, in an index of
-- their own: a search reads these for each candidate, and in the posts table they sit behind
-- the body, whose overflow pages would be walked to reach them.
CREATE INDEX posts_search_filter ON posts (id, status, language, author_id);
