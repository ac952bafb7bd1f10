-- Lists by tag and by favoriter read their pages in order from an index, whatever the tag's or
-- the user's size: each link carries its post's publish time (null while the post is a draft),
-- kept equal to the post's by the trigger below, so `(tag_id, published_at, post_id)` and
-- `(user_id, published_at, post_id)` hold the lists already sorted.
ALTER TABLE post_tags ADD COLUMN published_at BIGINT;
ALTER TABLE favorites ADD COLUMN published_at BIGINT;
UPDATE post_tags pt SET published_at = p.published_at FROM posts p WHERE p.id = pt.post_id;
UPDATE favorites f SET published_at = p.published_at FROM posts p WHERE p.id = f.post_id;
DROP INDEX post_tags_tag_idx;
CREATE INDEX post_tags_tag_idx ON post_tags (tag_id, published_at, post_id);
CREATE INDEX favorites_user_published_idx ON favorites (user_id, published_at, post_id);

-- A link is written with its post's publish time (see the inserts); a post published,
-- unpublished or re-dated carries its links along. Every such change locks the post
-- `FOR UPDATE` first, so it waits for a favorite being added (which holds `FOR KEY SHARE`),
-- and then sees it.
CREATE FUNCTION posts_published_at_to_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE post_tags SET published_at = NEW.published_at WHERE post_id = NEW.id;
    UPDATE favorites SET published_at = NEW.published_at WHERE post_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER posts_published_at_to_links AFTER UPDATE OF published_at ON posts
FOR EACH ROW WHEN (OLD.published_at IS DISTINCT FROM NEW.published_at)
EXECUTE FUNCTION posts_published_at_to_links();
