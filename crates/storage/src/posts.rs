//! Posts, their tags, favorites, and the counters that lists report.

use std::collections::HashMap;

use quire_core::ids::{PostId, UserId};
use quire_core::model::{
    NewPost, PageRequest, Post, PostChanges, PostFilter, PostPage, PostRef, PostStatus,
};
use quire_core::ports::PostStore;
use quire_core::time::Timestamp;
use quire_core::values::{Body, Description, Slug, TagList, TagName, Title};
use quire_core::{Error, Resource, Result};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, AssertSqlSafe, Sqlite, SqliteConnection, Transaction};

use crate::db::Db;
use crate::error::{db_error, db_error_or_gone};
use crate::rows::{PostRow, author_columns, post_columns, viewer_id};

/// Binds a list as one JSON array text, read back with `json_each`, so a statement's text
/// does not depend on the list's length and stays in the statement cache.
fn json_list<I, S>(items: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: serde::Serialize,
{
    serde_json::to_string(&items.into_iter().collect::<Vec<_>>()).map_err(Error::internal)
}

impl Db {
    /// Creates missing tags, links them to the post and, for a published post, counts it.
    async fn attach_tags(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        post: PostId,
        tags: &TagList,
        published: bool,
    ) -> Result<()> {
        if tags.as_slice().is_empty() {
            return Ok(());
        }
        let names = json_list(tags.as_slice().iter().map(TagName::as_str))?;
        self.stmt();
        sqlx::query(
            "INSERT INTO tags (name, post_count) SELECT value, 0 FROM json_each($1) WHERE true \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&names)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        self.stmt();
        sqlx::query(
            "INSERT INTO post_tags (post_id, tag_id) \
             SELECT $1, id FROM tags WHERE name IN (SELECT value FROM json_each($2))",
        )
        .bind(post.get())
        .bind(&names)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        if published {
            self.stmt();
            sqlx::query(
                "UPDATE tags SET post_count = post_count + 1 \
                 WHERE name IN (SELECT value FROM json_each($1))",
            )
            .bind(&names)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        Ok(())
    }

    /// Unlinks all of a post's tags, uncounting them for a published post.
    async fn detach_tags(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        post: PostId,
        published: bool,
    ) -> Result<()> {
        if published {
            self.stmt();
            sqlx::query(
                "UPDATE tags SET post_count = post_count - 1 \
                 WHERE id IN (SELECT tag_id FROM post_tags WHERE post_id = $1)",
            )
            .bind(post.get())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        }
        self.stmt();
        sqlx::query("DELETE FROM post_tags WHERE post_id = $1")
            .bind(post.get())
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Adds `delta` to the author's and the site's published-post counters.
    async fn count_published(
        &self,
        tx: &mut SqliteConnection,
        author: UserId,
        delta: i64,
    ) -> Result<()> {
        self.stmt();
        sqlx::query("UPDATE users SET post_count = post_count + $2 WHERE id = $1")
            .bind(author.get())
            .bind(delta)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        self.stmt();
        sqlx::query("UPDATE counters SET value = value + $1 WHERE name = 'published_posts'")
            .bind(delta)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Tags of the given posts, in one statement whatever their number.
    async fn tags_of(
        &self,
        conn: &mut SqliteConnection,
        posts: &[i64],
    ) -> Result<HashMap<i64, Vec<TagName>>> {
        let mut tags: HashMap<i64, Vec<TagName>> = HashMap::new();
        if posts.is_empty() {
            return Ok(tags);
        }
        self.stmt();
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT pt.post_id, t.name FROM post_tags pt JOIN tags t ON t.id = pt.tag_id \
             WHERE pt.post_id IN (SELECT value FROM json_each($1))",
        )
        .bind(json_list(posts)?)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        for (post, name) in rows {
            tags.entry(post)
                .or_default()
                .push(TagName::from_trusted(name));
        }
        Ok(tags)
    }

    /// How many published posts match a filter: from the counters kept for single filters,
    /// by counting only when filters are combined.
    async fn count_posts(&self, conn: &mut SqliteConnection, filter: &PostFilter) -> Result<u64> {
        let PostFilter {
            tag,
            author,
            favorited_by,
            followed_by,
        } = filter;
        let query = match (tag, author, favorited_by, followed_by) {
            (None, None, None, None) => sqlx::query_scalar::<_, i64>(
                "SELECT value FROM counters WHERE name = 'published_posts'",
            ),
            (Some(tag), None, None, None) => {
                sqlx::query_scalar("SELECT post_count FROM tags WHERE name = $1").bind(tag.as_str())
            }
            (None, Some(author), None, None) => {
                sqlx::query_scalar("SELECT post_count FROM users WHERE username_key = $1")
                    .bind(author.key())
            }
            (None, None, Some(user), None) => {
                sqlx::query_scalar("SELECT favorite_count FROM users WHERE username_key = $1")
                    .bind(user.key())
            }
            (None, None, None, Some(follower)) => sqlx::query_scalar(
                "SELECT COALESCE(SUM(u.post_count), 0) FROM follows fw \
                 JOIN users u ON u.id = fw.followee_id WHERE fw.follower_id = $1",
            )
            .bind(follower.get()),
            _ => {
                let mut sql = String::from("SELECT COUNT(*) FROM posts p");
                let mut args = SqliteArguments::default();
                push_filter(&mut sql, &mut args, filter)?;
                sqlx::query_scalar_with(AssertSqlSafe(sql), args)
            }
        };
        self.stmt();
        let count = query
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?
            .unwrap_or(0);
        u64::try_from(count).map_err(|_| {
            Error::internal(format!("a post counter is negative ({count}): {filter:?}"))
        })
    }
}

/// Appends the joins and conditions of a filter to a statement over `posts p`. The SQL is
/// built only from the fixed fragments below; every value is a bound parameter.
fn push_filter(sql: &mut String, args: &mut SqliteArguments, filter: &PostFilter) -> Result<()> {
    let mut next = args.len() + 1;
    let mut param = |args: &mut SqliteArguments, value: Bound| -> Result<String> {
        match value {
            Bound::Int(value) => args.add(value),
            Bound::Text(value) => args.add(value),
        }
        .map_err(Error::internal)?;
        let placeholder = format!("${next}");
        next += 1;
        Ok(placeholder)
    };
    if let Some(tag) = &filter.tag {
        let p = param(args, Bound::Text(tag.as_str().to_owned()))?;
        sql.push_str(&format!(
            " JOIN post_tags pt ON pt.post_id = p.id AND pt.tag_id = (SELECT id FROM tags WHERE name = {p})"
        ));
    }
    if let Some(user) = &filter.favorited_by {
        let p = param(args, Bound::Text(user.key()))?;
        sql.push_str(&format!(
            " JOIN favorites f ON f.post_id = p.id AND f.user_id = (SELECT id FROM users WHERE username_key = {p})"
        ));
    }
    if let Some(follower) = filter.followed_by {
        let p = param(args, Bound::Int(follower.get()))?;
        sql.push_str(&format!(
            " JOIN follows fw ON fw.followee_id = p.author_id AND fw.follower_id = {p}"
        ));
    }
    sql.push_str(" WHERE p.status = 'published'");
    if let Some(author) = &filter.author {
        let p = param(args, Bound::Text(author.key()))?;
        sql.push_str(&format!(
            " AND p.author_id = (SELECT id FROM users WHERE username_key = {p})"
        ));
    }
    Ok(())
}

enum Bound {
    Int(i64),
    Text(String),
}

impl PostStore for Db {
    async fn insert_post(&self, post: &NewPost) -> Result<PostId> {
        let published = post.status == PostStatus::Published;
        let mut tx = self.write().await?;
        self.stmt();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO posts (slug, title, description, body, author_id, status, published_at, \
             language, category, series_name, series_position, translation_group, \
             favorites_count, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, $13) RETURNING id",
        )
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
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let id = PostId::new(id);
        self.attach_tags(&mut tx, id, &post.tags, published).await?;
        if published {
            self.count_published(&mut tx, post.author_id, 1).await?;
        }
        self.commit(tx).await?;
        Ok(id)
    }

    async fn post_ref(&self, slug: &Slug) -> Result<Option<PostRef>> {
        self.stmt();
        let row: Option<(i64, i64, String)> =
            sqlx::query_as("SELECT id, author_id, status FROM posts WHERE slug = $1")
                .bind(slug.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(db_error)?;
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

    async fn post(&self, id: PostId, viewer: Option<UserId>) -> Result<Option<Post>> {
        let mut tx = self.read().await?;
        self.stmt();
        let row: Option<PostRow> = sqlx::query_as(concat!(
            "SELECT ",
            post_columns!("p.body"),
            " FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id = $2"
        ))
        .bind(viewer_id(viewer))
        .bind(id.get())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let mut tags = self.tags_of(&mut tx, &[row.id]).await?;
        self.commit(tx).await?;
        let tags = tags.remove(&row.id).unwrap_or_default();
        row.into_post(tags).map(Some)
    }

    async fn update_post(&self, id: PostId, changes: &PostChanges) -> Result<()> {
        let mut tx = self.write().await?;
        self.stmt();
        let status: Option<String> = sqlx::query_scalar(
            "UPDATE posts SET slug = COALESCE($2, slug), title = COALESCE($3, title), \
             description = COALESCE($4, description), body = COALESCE($5, body), \
             updated_at = MAX($6, updated_at + 1) WHERE id = $1 RETURNING status",
        )
        .bind(id.get())
        .bind(changes.slug.as_ref().map(Slug::as_str))
        .bind(changes.title.as_ref().map(Title::as_str))
        .bind(changes.description.as_ref().map(Description::as_str))
        .bind(changes.body.as_ref().map(Body::as_str))
        .bind(changes.updated_at.as_millis())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(status) = status else {
            return Err(Error::NotFound(Resource::Post));
        };
        if let Some(tags) = &changes.tags {
            let published = status == PostStatus::Published.as_str();
            self.detach_tags(&mut tx, id, published).await?;
            self.attach_tags(&mut tx, id, tags, published).await?;
        }
        self.commit(tx).await
    }

    async fn delete_post(&self, id: PostId) -> Result<()> {
        let mut tx = self.write().await?;
        self.stmt();
        let found: Option<(i64, String)> =
            sqlx::query_as("SELECT author_id, status FROM posts WHERE id = $1")
                .bind(id.get())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        let Some((author, status)) = found else {
            return Ok(());
        };
        if status == PostStatus::Published.as_str() {
            self.detach_tags(&mut tx, id, true).await?;
            self.count_published(&mut tx, UserId::new(author), -1)
                .await?;
            self.stmt();
            sqlx::query(
                "UPDATE users SET favorite_count = favorite_count - 1 \
                 WHERE id IN (SELECT user_id FROM favorites WHERE post_id = $1)",
            )
            .bind(id.get())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        self.stmt();
        sqlx::query("DELETE FROM posts WHERE id = $1")
            .bind(id.get())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        self.commit(tx).await
    }

    async fn list_posts(
        &self,
        filter: &PostFilter,
        page: PageRequest,
        viewer: Option<UserId>,
    ) -> Result<PostPage> {
        let mut sql = String::from(concat!(
            "SELECT ",
            post_columns!("NULL"),
            " FROM posts p JOIN users u ON u.id = p.author_id"
        ));
        let mut args = SqliteArguments::default();
        args.add(viewer_id(viewer)).map_err(Error::internal)?;
        push_filter(&mut sql, &mut args, filter)?;
        let limit = args.len() + 1;
        sql.push_str(&format!(
            " ORDER BY p.published_at DESC, p.id DESC LIMIT ${limit} OFFSET ${}",
            limit + 1
        ));
        args.add(i64::from(page.limit)).map_err(Error::internal)?;
        args.add(i64::try_from(page.offset).unwrap_or(i64::MAX))
            .map_err(Error::internal)?;
        let mut tx = self.read().await?;
        self.stmt();
        let rows: Vec<PostRow> = sqlx::query_as_with(AssertSqlSafe(sql), args)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        let mut tags = self.tags_of(&mut tx, &ids).await?;
        let total = self.count_posts(&mut tx, filter).await?;
        self.commit(tx).await?;
        let posts = rows
            .into_iter()
            .map(|row| {
                let post_tags = tags.remove(&row.id).unwrap_or_default();
                row.into_post(post_tags)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PostPage { posts, total })
    }

    async fn favorite(&self, user: UserId, post: PostId, at: Timestamp) -> Result<()> {
        let mut tx = self.write().await?;
        self.stmt();
        let added = sqlx::query(
            "INSERT INTO favorites (user_id, post_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(user.get())
        .bind(post.get())
        .bind(at.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(|error| db_error_or_gone(error, Resource::Post))?
        .rows_affected();
        if added == 1 {
            self.count_favorite(&mut tx, user, post, 1).await?;
        }
        self.commit(tx).await
    }

    async fn unfavorite(&self, user: UserId, post: PostId) -> Result<()> {
        let mut tx = self.write().await?;
        self.stmt();
        let removed = sqlx::query("DELETE FROM favorites WHERE user_id = $1 AND post_id = $2")
            .bind(user.get())
            .bind(post.get())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?
            .rows_affected();
        if removed == 1 {
            self.count_favorite(&mut tx, user, post, -1).await?;
        }
        self.commit(tx).await
    }

    async fn tags(&self) -> Result<Vec<TagName>> {
        self.stmt();
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM tags WHERE post_count > 0 ORDER BY post_count DESC, name",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        Ok(names.into_iter().map(TagName::from_trusted).collect())
    }
}

impl Db {
    /// Adds `delta` to a post's favorite count and, for a published post, to the user's count
    /// of favorited posts.
    async fn count_favorite(
        &self,
        tx: &mut SqliteConnection,
        user: UserId,
        post: PostId,
        delta: i64,
    ) -> Result<()> {
        self.stmt();
        sqlx::query("UPDATE posts SET favorites_count = favorites_count + $2 WHERE id = $1")
            .bind(post.get())
            .bind(delta)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        self.stmt();
        sqlx::query(
            "UPDATE users SET favorite_count = favorite_count + $2 WHERE id = $1 \
             AND EXISTS (SELECT 1 FROM posts WHERE id = $3 AND status = 'published')",
        )
        .bind(user.get())
        .bind(delta)
        .bind(post.get())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
