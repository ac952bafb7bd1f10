-- Lists by tag and by favoriter read their pages in order from an index, whatever the tag's or
-- the user's size: each link carries its post's publish time (null while the post is a draft),
-- kept equal to the post's by the trigger below, so `(tag_id, published_at, post_id)` and
-- `(user_id, published_at, post_id)` hold the lists already sorted.
ALTER TABLE post_tags ADD COLUMN published_at INTEGER;
ALTER TABLE favorites ADD COLUMN published_at INTEGER;
UPDATE post_tags SET published_at = (SELECT published_at FROM posts WHERE id = post_tags.post_id);
UPDATE favorites SET published_at = (SELECT published_at FROM posts WHERE id = favorites.post_id);
DROP INDEX post_tags_tag_idx;
CREATE INDEX post_tags_tag_idx ON post_tags (tag_id, published_at, post_id);
CREATE INDEX favorites_user_published_idx ON favorites (user_id, published_at, post_id);

-- A link is written with its post's publish time (see the inserts); a post published,
-- unpublished or re-dated carries its links along.
CREATE TRIGGER posts_published_at_to_links AFTER UPDATE OF published_at ON posts
WHEN OLD.published_at IS NOT NEW.published_at
BEGIN
    UPDATE post_tags SET published_at = NEW.published_at WHERE post_id = NEW.id;
    UPDATE favorites SET published_at = NEW.published_at WHERE post_id = NEW.id;
END;
