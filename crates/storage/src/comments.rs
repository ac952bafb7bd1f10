//! Comments on posts.

use quire_core::events::Event;
use quire_core::ids::{CommentId, PostId, UserId};
use quire_core::model::{Comment, CommentRef, CommentWindow, NewComment};
use quire_core::ports::{CommentStore, Record};
use quire_core::{Error, Resource, Result};

use crate::db::Db;
use crate::error::{db_error, db_error_or_gone};
use crate::rows::{
    CommentRow, author_columns, comment_columns, comment_json, json_agg_close, json_agg_open,
    json_object, viewer_id,
};
use crate::sql::{Sql, on_reader, on_tx};

const INSERT_COMMENT: Sql = Sql::both(
    "INSERT INTO comments (post_id, author_id, body, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $4) RETURNING id",
);

const COMMENT_REF: Sql = Sql::both("SELECT post_id, author_id FROM comments WHERE id = $1");

const COMMENT: Sql = Sql::both(concat!(
    "SELECT ",
    comment_columns!(),
    " FROM comments c JOIN users u ON u.id = c.author_id WHERE c.id = $2"
));

/// Comments from `$from` (which names them `c`) as one JSON array in one row, oldest first.
macro_rules! comments_from {
    ($engine:tt, $from:expr) => {
        concat!(
            "SELECT ",
            json_agg_open!($engine),
            comment_json!($engine),
            " ORDER BY id",
            json_agg_close!($engine),
            " FROM (SELECT ",
            comment_columns!(),
            " FROM ",
            $from,
            " JOIN users u ON u.id = c.author_id) AS page_rows"
        )
    };
}
pub(crate) use comments_from;

/// A window of a post's comments: post `$2`, after id `$3` (0 for none), `$4` of them from
/// the `$5`th. The range and its order are those of the `(post_id, id)` index.
macro_rules! post_window {
    () => {
        "(SELECT * FROM comments WHERE post_id = $2 AND id > $3 ORDER BY id LIMIT $4 OFFSET $5) AS c"
    };
}
const COMMENTS: Sql = Sql {
    sqlite: comments_from!(sqlite, post_window!()),
    pg: comments_from!(pg, post_window!()),
};

const DELETE_COMMENT: Sql = Sql::both("DELETE FROM comments WHERE id = $1");

impl CommentStore for Db {
    async fn insert_comment(
        &self,
        comment: &NewComment,
        record: Record<'_, CommentId>,
    ) -> Result<CommentId> {
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            let id: i64 = on_tx!(self, &mut tx, INSERT_COMMENT, |ex, sql| {
                sqlx::query_scalar(sql)
                    .bind(comment.post_id.get())
                    .bind(comment.author_id.get())
                    .bind(comment.body.as_str())
                    .bind(comment.at.as_millis())
                    .fetch_one(ex)
                    .await
            })
            .map_err(|error| db_error_or_gone(error, Resource::Post))?;
            let id = CommentId::new(id);
            self.record(&mut tx, &record(&id)).await?;
            self.commit(tx).await?;
            Ok(id)
        })
        .await
    }

    async fn comment_ref(&self, id: CommentId) -> Result<Option<CommentRef>> {
        let row: Option<(i64, i64)> = on_reader!(self, COMMENT_REF, |ex, sql| {
            sqlx::query_as(sql).bind(id.get()).fetch_optional(ex).await
        })
        .map_err(db_error)?;
        Ok(row.map(|(post_id, author_id)| CommentRef {
            id,
            post_id: PostId::new(post_id),
            author_id: UserId::new(author_id),
        }))
    }

    async fn comment(&self, id: CommentId, viewer: Option<UserId>) -> Result<Option<Comment>> {
        // Through a reader: an insert has committed before anyone asks for its comment, and a
        // WAL reader sees every committed write (subscribers read here once per event, so this
        // must not queue on SQLite's single writer connection).
        let row: Option<CommentRow> = on_reader!(self, COMMENT, |ex, sql| {
            sqlx::query_as(sql)
                .bind(viewer_id(viewer))
                .bind(id.get())
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(row.map(Comment::from))
    }

    async fn comments(
        &self,
        post: PostId,
        window: CommentWindow,
        viewer: Option<UserId>,
    ) -> Result<Vec<Comment>> {
        let offset = i64::try_from(window.offset).unwrap_or(i64::MAX);
        let json: String = on_reader!(self, COMMENTS, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(viewer_id(viewer))
                .bind(post.get())
                .bind(window.after.map_or(0, |id| id.get()))
                .bind(i64::from(window.limit))
                .bind(offset)
                .fetch_one(ex)
                .await
        })
        .map_err(db_error)?;
        let rows: Vec<CommentRow> = serde_json::from_str(&json)
            .map_err(|error| Error::internal(format!("decoding comments: {error}")))?;
        Ok(rows.into_iter().map(Comment::from).collect())
    }

    async fn delete_comment(&self, id: CommentId, events: &[Event]) -> Result<()> {
        self.change_recording(DELETE_COMMENT, &[id.get()], events, db_error)
            .await
    }
}
