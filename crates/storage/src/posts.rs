//! Posts, their tags, favorites, and the counters that lists report.

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
use crate::rows::{PostRow, author_columns, post_columns, post_json, viewer_id};

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
}

/// The single statement that answers a list: how many posts match, and the page of them as
/// one JSON array, in one row. One statement means one snapshot (the count agrees with the
/// page) and one hand-off from SQLite's thread, whatever the page size.
///
/// The SQL is assembled only from the fixed fragments below and two integers; every other value
/// is a bound parameter: `$1` the viewer, then the filter's values.
fn list_statement(
    filter: &PostFilter,
    page: PageRequest,
    viewer: Option<UserId>,
) -> Result<(String, SqliteArguments)> {
    let mut args = SqliteArguments::default();
    let bind = |args: &mut SqliteArguments, value: Bound| -> Result<String> {
        match value {
            Bound::Int(value) => args.add(value),
            Bound::Text(value) => args.add(value),
        }
        .map_err(Error::internal)?;
        Ok(format!("${}", args.len()))
    };
    bind(&mut args, Bound::Int(viewer_id(viewer)))?;

    let tag = filter
        .tag
        .as_ref()
        .map(|tag| bind(&mut args, Bound::Text(tag.as_str().to_owned())))
        .transpose()?;
    let favoriter = filter
        .favorited_by
        .as_ref()
        .map(|user| bind(&mut args, Bound::Text(user.key())))
        .transpose()?;
    let follower = filter
        .followed_by
        .map(|user| bind(&mut args, Bound::Int(user.get())))
        .transpose()?;
    let author = filter
        .author
        .as_ref()
        .map(|user| bind(&mut args, Bound::Text(user.key())))
        .transpose()?;

    let mut matching = String::new();
    if let Some(tag) = &tag {
        matching.push_str(&format!(
            " JOIN post_tags pt ON pt.post_id = p.id AND pt.tag_id = (SELECT id FROM tags WHERE name = {tag})"
        ));
    }
    if let Some(favoriter) = &favoriter {
        matching.push_str(&format!(
            " JOIN favorites f ON f.post_id = p.id AND f.user_id = (SELECT id FROM users WHERE username_key = {favoriter})"
        ));
    }
    if let Some(follower) = &follower {
        matching.push_str(&format!(
            " JOIN follows fw ON fw.followee_id = p.author_id AND fw.follower_id = {follower}"
        ));
    }
    matching.push_str(" WHERE p.status = 'published'");
    if let Some(author) = &author {
        matching.push_str(&format!(
            " AND p.author_id = (SELECT id FROM users WHERE username_key = {author})"
        ));
    }

    // Single filters read the counters kept in step with every change; only combined filters
    // count rows.
    let count = match (&tag, &author, &favoriter, &follower) {
        (None, None, None, None) => {
            "SELECT value FROM counters WHERE name = 'published_posts'".to_owned()
        }
        (Some(tag), None, None, None) => format!("SELECT post_count FROM tags WHERE name = {tag}"),
        (None, Some(author), None, None) => {
            format!("SELECT post_count FROM users WHERE username_key = {author}")
        }
        (None, None, Some(favoriter), None) => {
            format!("SELECT favorite_count FROM users WHERE username_key = {favoriter}")
        }
        (None, None, None, Some(follower)) => format!(
            "SELECT SUM(fu.post_count) FROM follows ff JOIN users fu ON fu.id = ff.followee_id \
             WHERE ff.follower_id = {follower}"
        ),
        _ => format!("SELECT COUNT(*) FROM posts p{matching}"),
    };

    // Limit and offset are written as integer literals, not bound: SQLite plans a LIMIT by its
    // value, so a bound one expires the prepared statement at every execution and forces a
    // full re-prepare. Both are integers formatted here, so nothing from the client is spliced.
    let limit = page.limit;
    let offset = page.offset;
    let sql = format!(
        concat!(
            "SELECT COALESCE(({count}), 0) AS total, (SELECT json_group_array(",
            post_json!(),
            " ORDER BY published_at DESC, id DESC) FROM (SELECT ",
            post_columns!("NULL"),
            " FROM posts p JOIN users u ON u.id = p.author_id{matching} \
             ORDER BY p.published_at DESC, p.id DESC LIMIT {limit} OFFSET {offset})) AS page"
        ),
        count = count,
        matching = matching,
        limit = limit,
        offset = offset,
    );
    Ok((sql, args))
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
        self.stmt();
        let row: Option<PostRow> = sqlx::query_as(concat!(
            "SELECT ",
            post_columns!("p.body"),
            " FROM posts p JOIN users u ON u.id = p.author_id WHERE p.id = $2"
        ))
        .bind(viewer_id(viewer))
        .bind(id.get())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        row.map(PostRow::into_post).transpose()
    }

    async fn post_by_slug(&self, slug: &Slug, viewer: Option<UserId>) -> Result<Option<Post>> {
        self.stmt();
        let row: Option<PostRow> = sqlx::query_as(concat!(
            "SELECT ",
            post_columns!("p.body"),
            " FROM posts p JOIN users u ON u.id = p.author_id WHERE p.slug = $2"
        ))
        .bind(viewer_id(viewer))
        .bind(slug.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        row.map(PostRow::into_post).transpose()
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
        let (sql, args) = list_statement(filter, page, viewer)?;
        self.stmt();
        let (total, json): (i64, String) = sqlx::query_as_with(AssertSqlSafe(sql), args)
            .fetch_one(&self.reader)
            .await
            .map_err(db_error)?;
        let total = u64::try_from(total).map_err(|_| {
            Error::internal(format!("a post counter is negative ({total}): {filter:?}"))
        })?;
        let rows: Vec<PostRow> = serde_json::from_str(&json)
            .map_err(|error| Error::internal(format!("decoding a page of posts: {error}")))?;
        let posts = rows
            .into_iter()
            .map(PostRow::into_post)
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
        let json: String = sqlx::query_scalar(
            "SELECT json_group_array(name ORDER BY post_count DESC, name) FROM tags \
             WHERE post_count > 0",
        )
        .fetch_one(&self.reader)
        .await
        .map_err(db_error)?;
        let names: Vec<String> = serde_json::from_str(&json)
            .map_err(|error| Error::internal(format!("decoding tags: {error}")))?;
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
