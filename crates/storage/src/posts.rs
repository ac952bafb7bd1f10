//! Posts, their tags, favorites, and the counters that lists report.

use quire_core::events::{DomainEvent, Event, PostData};
use quire_core::ids::{PostId, UserId};
use quire_core::model::{
    KeysetPage, KeysetRequest, Metadata, NewPost, PageRequest, Post, PostChanges, PostFilter,
    PostLink, PostPage, PostRef, PostStatus, Rendering,
};
use quire_core::paging::Cursor;
use quire_core::ports::{PostStore, Record};
use quire_core::time::Timestamp;
use quire_core::values::{Body, Description, Slug, TagList, TagName, Title};
use quire_core::{Error, Resource, Result};

use crate::counters::{Counter, Tally};
use crate::db::{Db, Tx};
use crate::error::{db_error, db_error_or_gone};
use crate::faults::Fault;
use crate::lists::Window;
use crate::rows::{
    PostRow, author_columns, json_agg_close, json_agg_open, post_columns, tag_names, viewer_id,
};
use crate::sql::{Sql, ids_in, json_list, on_reader, on_tx};

const INSERT_POST: Sql = Sql::both(
    "INSERT INTO posts (slug, title, description, body, author_id, status, published_at, \
     language, category, series_name, series_position, translation_group, created_at, \
     updated_at, publish_at, rendered, metadata) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15, $16) \
     RETURNING id",
);

/// Scheduled drafts whose time has come, earliest first.
const DUE_POSTS: Sql = Sql::both(
    "SELECT id FROM posts WHERE publish_at <= $1 AND status = 'draft' \
     ORDER BY publish_at, id LIMIT $2",
);

/// Creates the tags of a JSON array of names that do not exist yet, in name order: two posts
/// creating the same new tags wait on each other's in one order, never in a cycle.
const CREATE_TAGS: Sql = Sql {
    sqlite: "INSERT INTO tags (name) SELECT value FROM json_each($1) WHERE true ORDER BY value \
             ON CONFLICT (name) DO NOTHING",
    pg: "INSERT INTO tags (name) \
         SELECT value FROM json_array_elements_text($1::json) ORDER BY value COLLATE \"C\" \
         ON CONFLICT (name) DO NOTHING",
};

/// Links a post to the existing tags of a JSON array of names, unless linked already, each link
/// with the post's publish time (migration 0019); returns the ids of the tags it linked.
const LINK_TAGS: Sql = Sql {
    sqlite: "INSERT INTO post_tags (post_id, tag_id, published_at) \
             SELECT $1, id, (SELECT published_at FROM posts WHERE id = $1) FROM tags \
             WHERE name IN (SELECT value FROM json_each($2)) \
             ON CONFLICT DO NOTHING RETURNING tag_id",
    pg: "INSERT INTO post_tags (post_id, tag_id, published_at) \
         SELECT $1, id, (SELECT published_at FROM posts WHERE id = $1) FROM tags \
         WHERE name IN (SELECT value FROM json_array_elements_text($2::json)) \
         ON CONFLICT DO NOTHING RETURNING tag_id",
};

/// Unlinks all of a post's tags; returns their ids.
const UNLINK_TAGS: Sql = Sql::both("DELETE FROM post_tags WHERE post_id = $1 RETURNING tag_id");

const TAG_IDS_OF_POST: Sql = Sql::both("SELECT tag_id FROM post_tags WHERE post_id = $1");

/// The users who favorited a post.
const FAVORITERS: Sql = Sql::both("SELECT user_id FROM favorites WHERE post_id = $1");

/// A post's status, locked on PostgreSQL the way a favorite's foreign key locks it: publishing,
/// unpublishing and deleting (which lock the post `FOR UPDATE` first) wait for the favorite,
/// or the favorite for them.
const POST_STATUS: Sql = Sql {
    sqlite: "SELECT status FROM posts WHERE id = $1",
    pg: "SELECT status FROM posts WHERE id = $1 FOR KEY SHARE",
};

/// The published posts of one author's series in one language, in order.
const SERIES_POSTS: Sql = Sql::both(
    "SELECT id, slug, title, language, series_position FROM posts \
     WHERE author_id = $1 AND series_name = $2 AND status = 'published' \
     AND (language = $3 OR (language IS NULL AND $3 IS NULL)) \
     ORDER BY series_position, published_at, id LIMIT 500",
);

/// The published posts of translation groups (a JSON array of their numbers), by group, then
/// language.
macro_rules! translations {
    ($engine:tt) => {
        concat!(
            "SELECT translation_group, id, slug, title, language, series_position FROM posts \
             WHERE translation_group IN ",
            ids_in!($engine, "$1"),
            " AND status = 'published' ORDER BY translation_group, language, id LIMIT 100000"
        )
    };
}
const TRANSLATIONS: Sql = Sql {
    sqlite: translations!(sqlite),
    pg: translations!(pg),
};

/// The highest id in use, read from the primary key's last entry on both engines.
const HIGHEST_POST_ID: Sql = Sql::both("SELECT MAX(id) FROM posts");

/// Published posts in an id range, by id.
const PUBLISHED_BETWEEN: Sql = Sql::both(
    "SELECT id, slug, title, language, series_position, updated_at, translation_group \
     FROM posts WHERE id >= $1 AND id < $2 AND status = 'published' ORDER BY id",
);

const POST_REF: Sql = Sql::both("SELECT id, author_id, status FROM posts WHERE slug = $1");
const POST_REF_BY_ID: Sql = Sql::both("SELECT id, author_id, status FROM posts WHERE id = $1");

/// A post as events describe it, read inside the write that changed it.
macro_rules! post_as_written {
    ($engine:tt) => {
        concat!(
            "SELECT p.slug, p.title, p.author_id, p.language, p.status, p.published_at, ",
            tag_names!($engine),
            " FROM posts p WHERE p.id = $1"
        )
    };
}
const POST_AS_WRITTEN: Sql = Sql {
    sqlite: post_as_written!(sqlite),
    pg: post_as_written!(pg),
};

macro_rules! one_post {
    ($engine:tt, $key:literal) => {
        concat!(
            "SELECT ",
            post_columns!($engine, "p.body"),
            " FROM posts p JOIN users u ON u.id = p.author_id WHERE ",
            $key,
            " = $2"
        )
    };
}
const POST_BY_ID: Sql = Sql {
    sqlite: one_post!(sqlite, "p.id"),
    pg: one_post!(pg, "p.id"),
};
const POST_BY_SLUG: Sql = Sql {
    sqlite: one_post!(sqlite, "p.slug"),
    pg: one_post!(pg, "p.slug"),
};

macro_rules! update_post {
    ($greatest:literal) => {
        concat!(
            "UPDATE posts SET slug = COALESCE($2, slug), title = COALESCE($3, title), \
             description = COALESCE($4, description), body = COALESCE($5, body), \
             rendered = COALESCE($15, rendered), \
             status = COALESCE(CAST($8 AS TEXT), status), \
             published_at = CASE WHEN CAST($8 AS TEXT) IS NULL THEN \
                 (CASE WHEN status = 'published' \
                   THEN COALESCE(CAST($21 AS BIGINT), published_at) END) \
               WHEN CAST($8 AS TEXT) = 'published' THEN COALESCE(CAST($21 AS BIGINT), $6) \
               ELSE NULL END, \
             series_name = CASE WHEN $16 THEN CAST($17 AS TEXT) ELSE series_name END, \
             series_position = CASE WHEN $16 THEN CAST($18 AS BIGINT) ELSE series_position END, \
             translation_group = CASE WHEN $19 THEN CAST($20 AS BIGINT) \
               ELSE translation_group END, \
             metadata = CASE WHEN $22 THEN CAST($23 AS TEXT) ELSE metadata END, \
             language = CASE WHEN $9 THEN $10 ELSE language END, \
             category = CASE WHEN $11 THEN $12 ELSE category END, \
             publish_at = CASE WHEN CAST($8 AS TEXT) = 'published' THEN NULL \
               WHEN $13 THEN $14 ELSE publish_at END, \
             updated_at = ",
            $greatest,
            "($6, updated_at + 1) WHERE id = $1 \
             AND (CAST($7 AS BIGINT) IS NULL OR updated_at = $7)"
        )
    };
}
const UPDATE_POST: Sql = Sql {
    sqlite: update_post!("MAX"),
    pg: update_post!("GREATEST"),
};

/// The post about to be deleted, locked on PostgreSQL so that no favorite or retag lands
/// between counting down and deleting (SQLite's one writer already serializes them).
const POST_AUTHOR_AND_STATUS: Sql = Sql {
    sqlite: "SELECT author_id, status, updated_at FROM posts WHERE id = $1",
    pg: "SELECT author_id, status, updated_at FROM posts WHERE id = $1 FOR UPDATE",
};

const DELETE_POST: Sql = Sql::both("DELETE FROM posts WHERE id = $1");

/// Posts whose rendering is missing or another renderer's (`$3`).
const TO_RENDER: Sql = Sql {
    sqlite: "SELECT id, updated_at, body FROM posts WHERE id > $1 AND (rendered IS NULL \
             OR COALESCE(json_extract(rendered, '$.renderer'), 0) <> $3) ORDER BY id LIMIT $2",
    pg: "SELECT id, updated_at, body FROM posts WHERE id > $1 AND (rendered IS NULL \
         OR COALESCE((rendered::json->>'renderer')::bigint, 0) <> $3) ORDER BY id LIMIT $2",
};

/// A rendering, kept only if the post is still the version it was made from.
const STORE_RENDERING: Sql =
    Sql::both("UPDATE posts SET rendered = $2 WHERE id = $1 AND updated_at = $3");

/// A favorite, with its post's publish time (migration 0019).
const ADD_FAVORITE: Sql = Sql::both(
    "INSERT INTO favorites (user_id, post_id, created_at, published_at) \
     VALUES ($1, $2, $3, (SELECT published_at FROM posts WHERE id = $2)) \
     ON CONFLICT DO NOTHING",
);

const REMOVE_FAVORITE: Sql = Sql::both("DELETE FROM favorites WHERE user_id = $1 AND post_id = $2");

/// Tags in use, most used first, then by name compared byte by byte on both engines
/// (PostgreSQL would otherwise use the database's collation).
macro_rules! tag_cloud {
    ($engine:tt, $by_name:literal) => {
        concat!(
            "SELECT ",
            json_agg_open!($engine),
            "name ORDER BY uses DESC, ",
            $by_name,
            json_agg_close!($engine),
            " FROM (SELECT t.name, SUM(c.value) AS uses FROM counter_slots c \
             JOIN tags t ON t.id = c.subject WHERE c.counter = 'tag_posts' \
             GROUP BY t.id, t.name HAVING SUM(c.value) > 0) AS used"
        )
    };
}
const TAGS: Sql = Sql {
    sqlite: tag_cloud!(sqlite, "name"),
    pg: tag_cloud!(pg, "name COLLATE \"C\""),
};

/// Counts a published post (`delta` 1) or uncounts it (-1) for the site, its author and its
/// tags.
fn count_post(tally: &mut Tally, author: UserId, tags: &[i64], delta: i64) {
    tally.add(Counter::Posts, delta);
    tally.add(Counter::AuthorPosts(author), delta);
    for &tag in tags {
        tally.add(Counter::TagPosts(tag), delta);
    }
}

impl Db {
    /// Creates missing tags and links them to the post; returns the linked tags' ids.
    async fn attach_tags(&self, tx: &mut Tx, post: PostId, tags: &TagList) -> Result<Vec<i64>> {
        if tags.as_slice().is_empty() {
            return Ok(Vec::new());
        }
        let names = json_list(tags.as_slice().iter().map(TagName::as_str))?;
        // Most posts carry tags that exist already: those are linked first, and only missing
        // ones cost a statement to create (tags are never deleted, so a linked one stays).
        let mut linked = self.link_tags(tx, post, &names).await?;
        if linked.len() < tags.as_slice().len() {
            on_tx!(self, &mut *tx, CREATE_TAGS, |ex, sql| {
                sqlx::query(sql).bind(&names).execute(ex).await.map(drop)
            })
            .map_err(db_error)?;
            linked.extend(self.link_tags(tx, post, &names).await?);
        }
        Ok(linked)
    }

    /// Links a post to those of the tags named in a JSON array that exist and are not linked
    /// yet; returns their ids.
    async fn link_tags(&self, tx: &mut Tx, post: PostId, names: &str) -> Result<Vec<i64>> {
        on_tx!(self, &mut *tx, LINK_TAGS, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(post.get())
                .bind(names)
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)
    }

    /// Runs a statement that takes a post id and returns a column of ids.
    async fn ids_of_post(&self, tx: &mut Tx, stmt: Sql, post: PostId) -> Result<Vec<i64>> {
        on_tx!(self, &mut *tx, stmt, |ex, sql| {
            sqlx::query_scalar(sql).bind(post.get()).fetch_all(ex).await
        })
        .map_err(db_error)
    }

    /// Counts a post's favoriters' favorites up or down, when it is published or unpublished.
    async fn count_favoriters(
        &self,
        tx: &mut Tx,
        tally: &mut Tally,
        post: PostId,
        delta: i64,
    ) -> Result<()> {
        for user in self.ids_of_post(tx, FAVORITERS, post).await? {
            tally.add(Counter::UserFavorites(UserId::new(user)), delta);
        }
        Ok(())
    }

    async fn insert_post_once(&self, post: &NewPost, record: Record<'_, PostId>) -> Result<PostId> {
        let published = post.status == PostStatus::Published;
        let rendered = rendered_json(&post.rendered)?;
        let metadata = metadata_json(&post.meta.metadata)?;
        let mut tx = self.begin().await?;
        let id: i64 = on_tx!(self, &mut tx, INSERT_POST, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(post.slug.as_str())
                .bind(post.title.as_str())
                .bind(post.description.as_str())
                .bind(post.body.as_str())
                .bind(post.author_id.get())
                .bind(post.status.as_str())
                .bind(published.then_some(post.at.as_millis()))
                .bind(post.meta.language.as_deref())
                .bind(post.meta.category.as_deref())
                .bind(post.meta.series.as_ref().map(|series| series.name.as_str()))
                .bind(post.meta.series.as_ref().map(|series| series.position))
                .bind(post.meta.translation_group)
                .bind(post.at.as_millis())
                .bind(post.publish_at.map(Timestamp::as_millis))
                .bind(&rendered)
                .bind(&metadata)
                .fetch_one(ex)
                .await
        })
        .map_err(|error| db_error_or_gone(error, Resource::User))?;
        let id = PostId::new(id);
        self.fault(Fault::BetweenPostAndTags)?;
        let tags = self.attach_tags(&mut tx, id, &post.tags).await?;
        self.write_search_document(&mut tx, id, &post.search)
            .await?;
        let mut tally = Tally::default();
        if published {
            count_post(&mut tally, post.author_id, &tags, 1);
        }
        self.record_and_count(&mut tx, &record(&id), &tally).await?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// The post as the open write `tx` left it, as events describe it.
    async fn post_as_written(&self, tx: &mut Tx, id: PostId) -> Result<PostData> {
        type Row = (
            String,
            String,
            i64,
            Option<String>,
            String,
            Option<i64>,
            String,
        );
        let (slug, title, author, language, status, published_at, tags): Row =
            on_tx!(self, &mut *tx, POST_AS_WRITTEN, |ex, sql| {
                sqlx::query_as(sql).bind(id.get()).fetch_one(ex).await
            })
            .map_err(db_error)?;
        let mut tags: Vec<String> = serde_json::from_str(&tags)
            .map_err(|error| Error::internal(format!("tags of post {id}: {error}")))?;
        tags.sort();
        Ok(PostData {
            id: id.get(),
            slug,
            title,
            author_id: author,
            language,
            tags,
            status,
            published_at: published_at.map(|at| Timestamp::from_millis(at).to_rfc3339()),
        })
    }

    async fn update_post_once(
        &self,
        id: PostId,
        changes: &PostChanges,
        record: Record<'_, PostData>,
    ) -> Result<()> {
        let rendered = changes.rendered.as_ref().map(rendered_json).transpose()?;
        let metadata = changes.metadata.as_ref().map(metadata_json).transpose()?;
        let series = changes.series.as_ref().map(Option::as_ref);
        let mut tx = self.begin().await?;
        let found: Option<(i64, String, i64)> =
            on_tx!(self, &mut tx, POST_AUTHOR_AND_STATUS, |ex, sql| {
                sqlx::query_as(sql).bind(id.get()).fetch_optional(ex).await
            })
            .map_err(db_error)?;
        let Some((author, status, updated_at)) = found else {
            return Err(Error::NotFound(Resource::Post));
        };
        if changes
            .expected_updated_at
            .is_some_and(|expected| expected.as_millis() != updated_at)
        {
            return Err(Error::Stale(Resource::Post));
        }
        let author = UserId::new(author);
        let was_published = status == PostStatus::Published.as_str();
        let published = changes
            .status
            .map_or(was_published, |status| status == PostStatus::Published);
        let flips = published != was_published;
        let recount = flips || changes.tags.is_some();
        let old_tags = match (&changes.tags, flips) {
            (Some(_), _) => self.ids_of_post(&mut tx, UNLINK_TAGS, id).await?,
            (None, true) => self.ids_of_post(&mut tx, TAG_IDS_OF_POST, id).await?,
            (None, false) => Vec::new(),
        };
        on_tx!(self, &mut tx, UPDATE_POST, |ex, sql| {
            sqlx::query(sql)
                .bind(id.get())
                .bind(changes.slug.as_ref().map(Slug::as_str))
                .bind(changes.title.as_ref().map(Title::as_str))
                .bind(changes.description.as_ref().map(Description::as_str))
                .bind(changes.body.as_ref().map(Body::as_str))
                .bind(changes.updated_at.as_millis())
                .bind(changes.expected_updated_at.map(|at| at.as_millis()))
                .bind(changes.status.map(PostStatus::as_str))
                .bind(changes.language.is_some())
                .bind(changes.language.clone().flatten())
                .bind(changes.category.is_some())
                .bind(changes.category.clone().flatten())
                .bind(changes.publish_at.is_some())
                .bind(changes.publish_at.flatten().map(Timestamp::as_millis))
                .bind(&rendered)
                .bind(series.is_some())
                .bind(series.flatten().map(|series| series.name.as_str()))
                .bind(series.flatten().map(|series| series.position))
                .bind(changes.translation_group.is_some())
                .bind(changes.translation_group.flatten())
                .bind(changes.published_at.map(Timestamp::as_millis))
                .bind(changes.metadata.is_some())
                .bind(metadata.flatten())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        let new_tags = match &changes.tags {
            Some(tags) => self.attach_tags(&mut tx, id, tags).await?,
            None => old_tags.clone(),
        };
        if let Some(entry) = &changes.search {
            self.write_changed_entry(&mut tx, id, updated_at, entry)
                .await?;
        }
        // Everything counted for the post as it was is uncounted, and counted again as it is.
        let mut tally = Tally::default();
        if recount && was_published {
            count_post(&mut tally, author, &old_tags, -1);
        }
        if recount && published {
            count_post(&mut tally, author, &new_tags, 1);
        }
        if flips {
            let delta = if published { 1 } else { -1 };
            self.count_favoriters(&mut tx, &mut tally, id, delta)
                .await?;
        }
        let events = record(&self.post_as_written(&mut tx, id).await?);
        if flips {
            self.record_and_count(&mut tx, &events, &tally).await?;
        } else {
            // Another writer changed the status first (two publishes of one draft at once):
            // this change publishes nothing, so it tells nothing of publishing.
            let unflipped: Vec<Event> = events
                .iter()
                .filter(|event| {
                    !matches!(
                        event.kind,
                        DomainEvent::PostPublished(_) | DomainEvent::PostUnpublished(_)
                    )
                })
                .cloned()
                .collect();
            self.record_and_count(&mut tx, &unflipped, &tally).await?;
        }
        self.commit(tx).await
    }

    async fn delete_post_once(
        &self,
        id: PostId,
        expected: Option<Timestamp>,
        events: &[Event],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let found: Option<(i64, String, i64)> =
            on_tx!(self, &mut tx, POST_AUTHOR_AND_STATUS, |ex, sql| {
                sqlx::query_as(sql).bind(id.get()).fetch_optional(ex).await
            })
            .map_err(db_error)?;
        let Some((author, status, updated_at)) = found else {
            return Ok(());
        };
        if expected.is_some_and(|expected| expected.as_millis() != updated_at) {
            return Err(Error::Stale(Resource::Post));
        }
        let mut tally = Tally::default();
        if status == PostStatus::Published.as_str() {
            let tags = self.ids_of_post(&mut tx, TAG_IDS_OF_POST, id).await?;
            count_post(&mut tally, UserId::new(author), &tags, -1);
            self.count_favoriters(&mut tx, &mut tally, id, -1).await?;
        }
        on_tx!(self, &mut tx, DELETE_POST, |ex, sql| {
            sqlx::query(sql).bind(id.get()).execute(ex).await.map(drop)
        })
        .map_err(db_error)?;
        self.record_and_count(&mut tx, events, &tally).await?;
        self.forget_counter(&mut tx, Counter::PostFavorites(id))
            .await?;
        self.commit(tx).await
    }

    /// A post's status, with the post locked against publishing, unpublishing and deleting
    /// (which lock it first) until the transaction ends, so that counting a favorite for the
    /// user depends on the status that holds at commit.
    async fn status_for_favorite(&self, tx: &mut Tx, post: PostId) -> Result<Option<bool>> {
        let status: Option<String> = on_tx!(self, &mut *tx, POST_STATUS, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(post.get())
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(status.map(|status| status == PostStatus::Published.as_str()))
    }

    /// Counts a favorite added (`delta` 1) or removed (-1), for the post, and for the user if
    /// the post is published; and records `events` with it.
    async fn count_favorite(
        &self,
        tx: &mut Tx,
        user: UserId,
        post: PostId,
        published: bool,
        delta: i64,
        events: &[Event],
    ) -> Result<()> {
        let mut tally = Tally::default();
        tally.add(Counter::PostFavorites(post), delta);
        if published {
            tally.add(Counter::UserFavorites(user), delta);
        }
        self.record_and_count(tx, events, &tally).await
    }

    async fn favorite_once(
        &self,
        user: UserId,
        post: PostId,
        at: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let published = self
            .status_for_favorite(&mut tx, post)
            .await?
            .ok_or(Error::NotFound(Resource::Post))?;
        let added = on_tx!(self, &mut tx, ADD_FAVORITE, |ex, sql| {
            sqlx::query(sql)
                .bind(user.get())
                .bind(post.get())
                .bind(at.as_millis())
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(|error| db_error_or_gone(error, Resource::Post))?;
        if added == 1 {
            self.count_favorite(&mut tx, user, post, published, 1, events)
                .await?;
        }
        self.commit(tx).await
    }

    async fn unfavorite_once(&self, user: UserId, post: PostId, events: &[Event]) -> Result<()> {
        let mut tx = self.begin().await?;
        let Some(published) = self.status_for_favorite(&mut tx, post).await? else {
            return Ok(());
        };
        let removed = on_tx!(self, &mut tx, REMOVE_FAVORITE, |ex, sql| {
            sqlx::query(sql)
                .bind(user.get())
                .bind(post.get())
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)?;
        if removed == 1 {
            self.count_favorite(&mut tx, user, post, published, -1, events)
                .await?;
        }
        self.commit(tx).await
    }

    async fn one_post(
        &self,
        stmt: Sql,
        key: Key<'_>,
        viewer: Option<UserId>,
    ) -> Result<Option<Post>> {
        let row: Option<PostRow> = on_reader!(self, stmt, |ex, sql| {
            let query = sqlx::query_as(sql).bind(viewer_id(viewer));
            match key {
                Key::Id(id) => query.bind(id.get()).fetch_optional(ex).await,
                Key::Slug(slug) => query.bind(slug.as_str()).fetch_optional(ex).await,
            }
        })
        .map_err(db_error)?;
        row.map(PostRow::into_post).transpose()
    }
}

/// A post's id, author and status, from one row.
pub(crate) fn post_ref(row: Option<(i64, i64, String)>) -> Result<Option<PostRef>> {
    row.map(|(id, author_id, status)| {
        let status = PostStatus::parse(&status)
            .ok_or_else(|| Error::internal(format!("post {id} has status {status:?}")))?;
        Ok(PostRef {
            id: PostId::new(id),
            author_id: UserId::new(author_id),
            status,
        })
    })
    .transpose()
}

/// How a single post is addressed.
#[derive(Clone, Copy)]
enum Key<'a> {
    Id(PostId),
    Slug(&'a Slug),
}

impl PostStore for Db {
    async fn insert_post(&self, post: &NewPost, record: Record<'_, PostId>) -> Result<PostId> {
        self.retrying(|| self.insert_post_once(post, record)).await
    }

    async fn post_ref(&self, slug: &Slug) -> Result<Option<PostRef>> {
        let row: Option<(i64, i64, String)> = on_reader!(self, POST_REF, |ex, sql| {
            sqlx::query_as(sql)
                .bind(slug.as_str())
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        post_ref(row)
    }

    async fn post(&self, id: PostId, viewer: Option<UserId>) -> Result<Option<Post>> {
        self.one_post(POST_BY_ID, Key::Id(id), viewer).await
    }

    async fn post_by_slug(&self, slug: &Slug, viewer: Option<UserId>) -> Result<Option<Post>> {
        self.one_post(POST_BY_SLUG, Key::Slug(slug), viewer).await
    }

    async fn update_post(
        &self,
        id: PostId,
        changes: &PostChanges,
        record: Record<'_, PostData>,
    ) -> Result<()> {
        self.retrying(|| self.update_post_once(id, changes, record))
            .await
    }

    async fn delete_post(
        &self,
        id: PostId,
        expected_updated_at: Option<Timestamp>,
        events: &[Event],
    ) -> Result<()> {
        self.retrying(|| self.delete_post_once(id, expected_updated_at, events))
            .await
    }

    async fn list_posts(
        &self,
        filter: &PostFilter,
        page: PageRequest,
        viewer: Option<UserId>,
    ) -> Result<PostPage> {
        let (total, rows) = self.run_list(filter, Window::Offset(page), viewer).await?;
        let posts = rows
            .into_iter()
            .map(PostRow::into_post)
            .collect::<Result<Vec<_>>>()?;
        Ok(PostPage { posts, total })
    }

    async fn page_posts(
        &self,
        filter: &PostFilter,
        page: KeysetRequest,
        viewer: Option<UserId>,
    ) -> Result<KeysetPage> {
        let (total, rows) = self.run_list(filter, Window::After(page), viewer).await?;
        let mut posts = rows
            .into_iter()
            .map(PostRow::into_post)
            .collect::<Result<Vec<_>>>()?;
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let next = if posts.len() > limit {
            posts.truncate(limit);
            posts.last().map(|post| Cursor {
                at: if filter.drafts {
                    post.created_at
                } else {
                    post.published_at.unwrap_or(post.created_at)
                },
                id: post.id,
            })
        } else {
            None
        };
        Ok(KeysetPage {
            posts,
            next,
            total: page.count.then_some(total),
        })
    }

    async fn post_ref_by_id(&self, id: PostId) -> Result<Option<PostRef>> {
        let row: Option<(i64, i64, String)> = on_reader!(self, POST_REF_BY_ID, |ex, sql| {
            sqlx::query_as(sql).bind(id.get()).fetch_optional(ex).await
        })
        .map_err(db_error)?;
        post_ref(row)
    }

    async fn favorite(
        &self,
        user: UserId,
        post: PostId,
        at: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        self.retrying(|| self.favorite_once(user, post, at, events))
            .await
    }

    async fn unfavorite(&self, user: UserId, post: PostId, events: &[Event]) -> Result<()> {
        self.retrying(|| self.unfavorite_once(user, post, events))
            .await
    }

    async fn due_posts(&self, now: Timestamp, limit: u32) -> Result<Vec<PostId>> {
        let ids: Vec<i64> = on_reader!(self, DUE_POSTS, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(now.as_millis())
                .bind(i64::from(limit))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(ids.into_iter().map(PostId::new).collect())
    }

    async fn highest_post_id(&self) -> Result<Option<i64>> {
        on_reader!(self, HIGHEST_POST_ID, |ex, sql| {
            sqlx::query_scalar(sql).fetch_one(ex).await
        })
        .map_err(db_error)
    }

    async fn posts_to_render(
        &self,
        after: i64,
        limit: u32,
        renderer: u32,
    ) -> Result<Vec<(PostId, Timestamp, Body)>> {
        let rows: Vec<(i64, i64, String)> = on_reader!(self, TO_RENDER, |ex, sql| {
            sqlx::query_as(sql)
                .bind(after)
                .bind(i64::from(limit))
                .bind(i64::from(renderer))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, updated_at, body)| {
                (
                    PostId::new(id),
                    Timestamp::from_millis(updated_at),
                    Body::from_trusted(body),
                )
            })
            .collect())
    }

    async fn store_renderings(&self, renderings: &[(PostId, Timestamp, Rendering)]) -> Result<()> {
        let mut tx = self.begin().await?;
        for (id, read_at, rendering) in renderings {
            let rendered = rendered_json(rendering)?;
            on_tx!(self, &mut tx, STORE_RENDERING, |ex, sql| {
                sqlx::query(sql)
                    .bind(id.get())
                    .bind(&rendered)
                    .bind(read_at.as_millis())
                    .execute(ex)
                    .await
                    .map(drop)
            })
            .map_err(db_error)?;
        }
        self.commit(tx).await
    }

    async fn published_between(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(PostLink, Timestamp, Option<i64>)>> {
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            Option<i64>,
            i64,
            Option<i64>,
        );
        let rows: Vec<Row> = on_reader!(self, PUBLISHED_BETWEEN, |ex, sql| {
            sqlx::query_as(sql).bind(from).bind(to).fetch_all(ex).await
        })
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, slug, title, language, position, updated_at, group)| {
                (
                    link((id, slug, title, language, position)),
                    Timestamp::from_millis(updated_at),
                    group,
                )
            })
            .collect())
    }

    async fn series_posts(
        &self,
        author: UserId,
        name: &str,
        language: Option<&str>,
    ) -> Result<Vec<PostLink>> {
        let rows: Vec<LinkRow> = on_reader!(self, SERIES_POSTS, |ex, sql| {
            sqlx::query_as(sql)
                .bind(author.get())
                .bind(name)
                .bind(language)
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(rows.into_iter().map(link).collect())
    }

    async fn translations(&self, groups: &[i64]) -> Result<Vec<(i64, PostLink)>> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let groups = json_list(groups.iter().copied())?;
        type Row = (i64, i64, String, String, Option<String>, Option<i64>);
        let rows: Vec<Row> = on_reader!(self, TRANSLATIONS, |ex, sql| {
            sqlx::query_as(sql).bind(&groups).fetch_all(ex).await
        })
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(group, id, slug, title, language, position)| {
                (group, link((id, slug, title, language, position)))
            })
            .collect())
    }

    async fn tags(&self) -> Result<Vec<TagName>> {
        let json: String = on_reader!(self, TAGS, |ex, sql| {
            sqlx::query_scalar(sql).fetch_one(ex).await
        })
        .map_err(db_error)?;
        let names: Vec<String> = serde_json::from_str(&json)
            .map_err(|error| Error::internal(format!("decoding tags: {error}")))?;
        Ok(names.into_iter().map(TagName::from_trusted).collect())
    }
}

/// (id, slug, title, language, series position) of a linked post.
type LinkRow = (i64, String, String, Option<String>, Option<i64>);

fn link((id, slug, title, language, position): LinkRow) -> PostLink {
    PostLink {
        id: PostId::new(id),
        slug: Slug::from_trusted(slug),
        title: Title::from_trusted(title),
        language,
        position,
    }
}

/// The `metadata` column for a post's metadata: NULL for none.
fn metadata_json(metadata: &Metadata) -> Result<Option<String>> {
    if metadata.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(metadata)
        .map(Some)
        .map_err(|error| Error::internal(format!("metadata as JSON: {error}")))
}

/// A rendering as the `rendered` column holds it.
fn rendered_json(rendered: &Rendering) -> Result<String> {
    serde_json::to_string(rendered)
        .map_err(|error| Error::internal(format!("a rendering as JSON: {error}")))
}
