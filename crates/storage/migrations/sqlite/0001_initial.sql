-- quire's schema, version 1 (SQLite). PostgreSQL carries the same version under migrations/postgres.
-- Instants are integer milliseconds since the Unix epoch; booleans are 0/1; roles are a bit mask
-- (reader 1, commenter 2, author 4, editor 8, admin 16). Counters that lists report
-- (users.post_count, users.favorite_count, tags.post_count, posts.favorites_count and the
-- published_posts row of counters) are kept in the same transaction as the change they count,
-- so no request has to count rows.

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL,
    username_key   TEXT    NOT NULL,  -- lowercased username: uniqueness ignores case
    email          TEXT    NOT NULL,
    email_key      TEXT    NOT NULL,  -- lowercased email: uniqueness and log-in ignore case
    name           TEXT,
    bio            TEXT,
    image          TEXT,
    password_hash  TEXT    NOT NULL,  -- PHC string, argon2id
    roles          INTEGER NOT NULL,
    is_active      INTEGER NOT NULL CHECK (is_active IN (0, 1)),
    post_count     INTEGER NOT NULL DEFAULT 0,  -- published posts written
    favorite_count INTEGER NOT NULL DEFAULT 0,  -- published posts favorited
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE follows (
    follower_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX follows_followee_idx ON follows (followee_id, follower_id);

CREATE TABLE posts (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    slug              TEXT    NOT NULL,
    title             TEXT    NOT NULL,
    description       TEXT    NOT NULL,
    body              TEXT    NOT NULL,  -- Markdown
    author_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status            TEXT    NOT NULL CHECK (status IN ('draft', 'published')),
    published_at      INTEGER,           -- set when published, null for drafts
    language          TEXT,              -- BCP 47 tag
    category          TEXT,
    series_name       TEXT,
    series_position   INTEGER,
    translation_group INTEGER,           -- translations of one post share this number
    favorites_count   INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    CHECK ((status = 'published') = (published_at IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX posts_slug_key ON posts (slug);
CREATE INDEX posts_published_idx ON posts (status, published_at, id);
CREATE INDEX posts_author_idx ON posts (author_id, status, published_at, id);
CREATE INDEX posts_translation_idx ON posts (translation_group);

CREATE TABLE tags (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    post_count INTEGER NOT NULL DEFAULT 0  -- published posts carrying the tag
) STRICT;
CREATE UNIQUE INDEX tags_name_key ON tags (name);
CREATE INDEX tags_popularity_idx ON tags (post_count DESC, name);

CREATE TABLE post_tags (
    post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    tag_id  INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (post_id, tag_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX post_tags_tag_idx ON post_tags (tag_id, post_id);

CREATE TABLE favorites (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    post_id    INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, post_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX favorites_post_idx ON favorites (post_id, user_id);

CREATE TABLE comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    post_id    INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX comments_post_idx ON comments (post_id, id);
CREATE INDEX comments_author_idx ON comments (author_id);

CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('published_posts', 0);
