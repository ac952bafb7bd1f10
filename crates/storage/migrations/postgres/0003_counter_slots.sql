-- Counters without a hot row (PostgreSQL; the same on both engines). Before this version every
-- publishing transaction updated one site-wide row, its author's row and its tags' rows, and
-- every favorite its post's row, so concurrent writers queued on those rows' locks until
-- commit. Now a counter is the sum of up to 16 slot rows: a PostgreSQL transaction adds to the
-- slot of its connection (its backend pid modulo 16), so concurrent writers rarely wait on one
-- another; SQLite's single writer uses slot 0. A reader sums the slots in the same statement
-- as the rest of what it reads (docs/architecture.md, "Counters").
--
-- counter: what is counted, of which subject
--   posts           published posts on the site (subject 0)
--   author_posts    published posts written by user <subject>
--   tag_posts       published posts carrying tag <subject>
--   post_favorites  users who favorited post <subject>
--   user_favorites  published posts favorited by user <subject>
CREATE TABLE counter_slots (
    counter TEXT NOT NULL,
    subject BIGINT NOT NULL,
    slot    BIGINT NOT NULL,
    value   BIGINT NOT NULL,
    PRIMARY KEY (counter, subject, slot)
);

INSERT INTO counter_slots (counter, subject, slot, value)
    SELECT 'posts', 0, 0, value FROM counters WHERE name = 'published_posts' AND value <> 0;
INSERT INTO counter_slots (counter, subject, slot, value)
    SELECT 'author_posts', id, 0, post_count FROM users WHERE post_count <> 0;
INSERT INTO counter_slots (counter, subject, slot, value)
    SELECT 'user_favorites', id, 0, favorite_count FROM users WHERE favorite_count <> 0;
INSERT INTO counter_slots (counter, subject, slot, value)
    SELECT 'tag_posts', id, 0, post_count FROM tags WHERE post_count <> 0;
INSERT INTO counter_slots (counter, subject, slot, value)
    SELECT 'post_favorites', id, 0, favorites_count FROM posts WHERE favorites_count <> 0;

DROP TABLE counters;
DROP INDEX tags_popularity_idx;
ALTER TABLE tags DROP COLUMN post_count;
ALTER TABLE users DROP COLUMN post_count;
ALTER TABLE users DROP COLUMN favorite_count;
ALTER TABLE posts DROP COLUMN favorites_count;
