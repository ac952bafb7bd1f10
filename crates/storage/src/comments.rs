//! Comments on posts.

use quire_core::ids::{CommentId, PostId, UserId};
use quire_core::model::{Comment, CommentRef, NewComment};
use quire_core::ports::CommentStore;
use quire_core::{Error, Resource, Result};

use crate::db::Db;
use crate::error::{db_error, db_error_or_gone};
use crate::rows::{CommentRow, author_columns, comment_columns, comment_json, viewer_id};

impl CommentStore for Db {
    async fn insert_comment(&self, comment: &NewComment) -> Result<CommentId> {
        self.stmt();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO comments (post_id, author_id, body, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(comment.post_id.get())
        .bind(comment.author_id.get())
        .bind(comment.body.as_str())
        .bind(comment.at.as_millis())
        .fetch_one(&self.writer)
        .await
        .map_err(|error| db_error_or_gone(error, Resource::Post))?;
        Ok(CommentId::new(id))
    }

    async fn comment_ref(&self, id: CommentId) -> Result<Option<CommentRef>> {
        self.stmt();
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT post_id, author_id FROM comments WHERE id = $1")
                .bind(id.get())
                .fetch_optional(&self.reader)
                .await
                .map_err(db_error)?;
        Ok(row.map(|(post_id, author_id)| CommentRef {
            id,
            post_id: PostId::new(post_id),
            author_id: UserId::new(author_id),
        }))
    }

    async fn comment(&self, id: CommentId, viewer: Option<UserId>) -> Result<Option<Comment>> {
        self.stmt();
        let row: Option<CommentRow> = sqlx::query_as(concat!(
            "SELECT ",
            comment_columns!(),
            " FROM comments c JOIN users u ON u.id = c.author_id WHERE c.id = $2"
        ))
        .bind(viewer_id(viewer))
        .bind(id.get())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(row.map(Comment::from))
    }

    async fn comments(&self, post: PostId, viewer: Option<UserId>) -> Result<Vec<Comment>> {
        self.stmt();
        let json: String = sqlx::query_scalar(concat!(
            "SELECT json_group_array(",
            comment_json!(),
            " ORDER BY id) FROM (SELECT ",
            comment_columns!(),
            " FROM comments c JOIN users u ON u.id = c.author_id WHERE c.post_id = $2)"
        ))
        .bind(viewer_id(viewer))
        .bind(post.get())
        .fetch_one(&self.reader)
        .await
        .map_err(db_error)?;
        let rows: Vec<CommentRow> = serde_json::from_str(&json)
            .map_err(|error| Error::internal(format!("decoding comments: {error}")))?;
        Ok(rows.into_iter().map(Comment::from).collect())
    }

    async fn delete_comment(&self, id: CommentId) -> Result<()> {
        self.stmt();
        sqlx::query("DELETE FROM comments WHERE id = $1")
            .bind(id.get())
            .execute(&self.writer)
            .await
            .map(drop)
            .map_err(db_error)
    }
}
