//! Reads by many keys in one statement each, for batch loaders. The keys travel as one JSON
//! array parameter, so each statement's text is fixed and stays prepared.

use quire_core::ids::{PostId, UserId};
use quire_core::model::{Comment, FollowDirection, Post, PostBody, PostRef, User, ViewerMarks};
use quire_core::ports::BatchStore;
use quire_core::values::Body;
use quire_core::{Error, Result};

use crate::comments::comments_from;
use crate::db::Db;
use crate::error::db_error;
use crate::posts::post_ref;
use crate::rows::{
    CommentRow, PostRow, UserRow, author_columns, comment_columns, comment_json, json_agg_close,
    json_agg_open, json_object, post_columns, post_json, tag_names, user_columns, viewer_id,
};
use crate::sql::{Sql, ids_in, json_list, on_reader};

macro_rules! users_by_ids {
    ($engine:tt) => {
        concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id IN ",
            ids_in!($engine, "$1")
        )
    };
}
const USERS_BY_IDS: Sql = Sql {
    sqlite: users_by_ids!(sqlite),
    pg: users_by_ids!(pg),
};

macro_rules! followed_among {
    ($engine:tt) => {
        concat!(
            "SELECT followee_id FROM follows WHERE follower_id = $1 AND followee_id IN ",
            ids_in!($engine, "$2")
        )
    };
}
const FOLLOWED_AMONG: Sql = Sql {
    sqlite: followed_among!(sqlite),
    pg: followed_among!(pg),
};

macro_rules! viewer_marks {
    ($engine:tt) => {
        concat!(
            "SELECT 0, post_id FROM favorites WHERE user_id = $1 AND post_id IN ",
            ids_in!($engine, "$2"),
            " UNION ALL SELECT 1, followee_id FROM follows WHERE follower_id = $3 \
             AND followee_id IN ",
            ids_in!($engine, "$4")
        )
    };
}
/// A viewer's favorites among some posts and follows among some users, marked 0 and 1.
const VIEWER_MARKS: Sql = Sql {
    sqlite: viewer_marks!(sqlite),
    pg: viewer_marks!(pg),
};

macro_rules! post_refs {
    ($engine:tt, $columns:literal) => {
        concat!(
            "SELECT ",
            $columns,
            " FROM posts WHERE id IN ",
            ids_in!($engine, "$1")
        )
    };
}
const POST_REFS: Sql = Sql {
    sqlite: post_refs!(sqlite, "id, author_id, status"),
    pg: post_refs!(pg, "id, author_id, status"),
};
const POST_BODIES: Sql = Sql {
    sqlite: post_refs!(sqlite, "id, author_id, status, body, rendered"),
    pg: post_refs!(pg, "id, author_id, status, body, rendered"),
};

/// Each author's newest published posts, numbered per author by a window function, as one
/// JSON array in one row.
macro_rules! posts_by_authors {
    ($engine:tt) => {
        concat!(
            "SELECT ",
            json_agg_open!($engine),
            post_json!($engine),
            " ORDER BY author_id, published_at DESC, id DESC",
            json_agg_close!($engine),
            " FROM (SELECT ",
            post_columns!($engine, "NULL"),
            " FROM (SELECT posts.*, ROW_NUMBER() OVER (PARTITION BY author_id \
             ORDER BY published_at DESC, id DESC) AS place FROM posts \
             WHERE status = 'published' AND author_id IN ",
            ids_in!($engine, "$2"),
            ") p JOIN users u ON u.id = p.author_id WHERE p.place <= $3) AS page_rows"
        )
    };
}
const POSTS_BY_AUTHORS: Sql = Sql {
    sqlite: posts_by_authors!(sqlite),
    pg: posts_by_authors!(pg),
};

/// A post's status test where the posts are found by id: on SQLite `+` keeps the planner from
/// reading every published post through the status index to test each against the ids.
macro_rules! published_by_id {
    (sqlite) => {
        "+p.status = 'published'"
    };
    (pg) => {
        "p.status = 'published'"
    };
}

/// Published posts by id, as lists show them, as one JSON array in one row.
macro_rules! published_posts {
    ($engine:tt) => {
        concat!(
            "SELECT ",
            json_agg_open!($engine),
            post_json!($engine),
            " ORDER BY id",
            json_agg_close!($engine),
            " FROM (SELECT ",
            post_columns!($engine, "NULL"),
            " FROM posts p JOIN users u ON u.id = p.author_id WHERE ",
            published_by_id!($engine),
            " AND p.id IN ",
            ids_in!($engine, "$2"),
            ") AS page_rows"
        )
    };
}
const PUBLISHED_POSTS: Sql = Sql {
    sqlite: published_posts!(sqlite),
    pg: published_posts!(pg),
};

/// The first `$3` comments of each post in `$2`: one index range per post, however many
/// comments a post has (a window function over all of them would read every one).
/// SQLite has no LATERAL; its rowid lookup driven by a correlated `IN` does the same.
const COMMENTS_OF_POSTS: Sql = Sql {
    sqlite: comments_from!(
        sqlite,
        "json_each($2) AS k JOIN comments c ON c.id IN \
         (SELECT id FROM comments WHERE post_id = k.value ORDER BY id LIMIT $3)"
    ),
    pg: comments_from!(
        pg,
        "json_array_elements_text($2::json) AS k CROSS JOIN LATERAL \
         (SELECT * FROM comments WHERE post_id = CAST(k.value AS BIGINT) ORDER BY id LIMIT $3) AS c"
    ),
};

/// The first members of several users' follow lists, numbered per list by a window function.
macro_rules! follow_lists {
    ($engine:tt, $subject:literal, $member:literal) => {
        concat!(
            "SELECT f.subject, ",
            user_columns!(),
            " FROM (SELECT ",
            $subject,
            " AS subject, ",
            $member,
            " AS member, ROW_NUMBER() OVER (PARTITION BY ",
            $subject,
            " ORDER BY ",
            $member,
            ") AS place FROM follows WHERE ",
            $subject,
            " IN ",
            ids_in!($engine, "$1"),
            ") f JOIN users ON users.id = f.member WHERE f.place <= $2 ORDER BY f.subject, users.id"
        )
    };
}
const FOLLOWERS_OF: Sql = Sql {
    sqlite: follow_lists!(sqlite, "followee_id", "follower_id"),
    pg: follow_lists!(pg, "followee_id", "follower_id"),
};
const FOLLOWING_OF: Sql = Sql {
    sqlite: follow_lists!(sqlite, "follower_id", "followee_id"),
    pg: follow_lists!(pg, "follower_id", "followee_id"),
};

fn decode<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<Vec<T>> {
    serde_json::from_str(json).map_err(|error| Error::internal(format!("decoding {what}: {error}")))
}

impl Db {
    /// Runs `statement`, which reads the viewer's id as `$1` and a JSON array of ids as `$2`
    /// and answers one row: the rows found as one JSON array.
    async fn rows_json(&self, statement: Sql, viewer: Option<UserId>, ids: &str) -> Result<String> {
        on_reader!(self, statement, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(viewer_id(viewer))
                .bind(ids)
                .fetch_one(ex)
                .await
        })
        .map_err(db_error)
    }

    /// [`Db::rows_json`] for a statement that also reads how many rows per key as `$3`.
    async fn rows_json_per_key(
        &self,
        statement: Sql,
        viewer: Option<UserId>,
        ids: &str,
        per_key: u32,
    ) -> Result<String> {
        on_reader!(self, statement, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(viewer_id(viewer))
                .bind(ids)
                .bind(i64::from(per_key))
                .fetch_one(ex)
                .await
        })
        .map_err(db_error)
    }
}

impl BatchStore for Db {
    async fn users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>> {
        let ids = json_list(ids.iter().map(|id| id.get()))?;
        let rows: Vec<UserRow> = on_reader!(self, USERS_BY_IDS, |ex, sql| {
            sqlx::query_as(sql).bind(&ids).fetch_all(ex).await
        })
        .map_err(db_error)?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn followed_among(&self, follower: UserId, ids: &[UserId]) -> Result<Vec<UserId>> {
        let ids = json_list(ids.iter().map(|id| id.get()))?;
        let rows: Vec<i64> = on_reader!(self, FOLLOWED_AMONG, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(follower.get())
                .bind(&ids)
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(rows.into_iter().map(UserId::new).collect())
    }

    async fn viewer_marks(
        &self,
        viewer: UserId,
        posts: &[PostId],
        authors: &[UserId],
    ) -> Result<ViewerMarks> {
        let posts = json_list(posts.iter().map(|id| id.get()))?;
        let authors = json_list(authors.iter().map(|id| id.get()))?;
        let rows: Vec<(i32, i64)> = on_reader!(self, VIEWER_MARKS, |ex, sql| {
            sqlx::query_as(sql)
                .bind(viewer.get())
                .bind(&posts)
                .bind(viewer.get())
                .bind(&authors)
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        let mut marks = ViewerMarks::default();
        for (kind, id) in rows {
            if kind == 0 {
                marks.favorited.push(PostId::new(id));
            } else {
                marks.following.push(UserId::new(id));
            }
        }
        Ok(marks)
    }

    async fn post_refs(&self, ids: &[PostId]) -> Result<Vec<PostRef>> {
        let ids = json_list(ids.iter().map(|id| id.get()))?;
        let rows: Vec<(i64, i64, String)> = on_reader!(self, POST_REFS, |ex, sql| {
            sqlx::query_as(sql).bind(&ids).fetch_all(ex).await
        })
        .map_err(db_error)?;
        rows.into_iter()
            .filter_map(|row| post_ref(Some(row)).transpose())
            .collect()
    }

    async fn post_bodies(&self, ids: &[PostId]) -> Result<Vec<(PostRef, PostBody)>> {
        let ids = json_list(ids.iter().map(|id| id.get()))?;
        let rows: Vec<(i64, i64, String, String, Option<String>)> =
            on_reader!(self, POST_BODIES, |ex, sql| {
                sqlx::query_as(sql).bind(&ids).fetch_all(ex).await
            })
            .map_err(db_error)?;
        rows.into_iter()
            .filter_map(|(id, author, status, body, rendered)| {
                post_ref(Some((id, author, status)))
                    .transpose()
                    .map(|found| {
                        found.map(|post| {
                            let body = PostBody {
                                body: Body::from_trusted(body),
                                rendered: crate::rows::rendering(rendered),
                            };
                            (post, body)
                        })
                    })
            })
            .collect()
    }

    async fn posts_by_authors(
        &self,
        authors: &[UserId],
        per_author: u32,
        viewer: Option<UserId>,
    ) -> Result<Vec<Post>> {
        let ids = json_list(authors.iter().map(|id| id.get()))?;
        let json = self
            .rows_json_per_key(POSTS_BY_AUTHORS, viewer, &ids, per_author)
            .await?;
        decode::<PostRow>("posts by authors", &json)?
            .into_iter()
            .map(PostRow::into_post)
            .collect()
    }

    async fn published_posts(&self, ids: &[PostId], viewer: Option<UserId>) -> Result<Vec<Post>> {
        let ids = json_list(ids.iter().map(|id| id.get()))?;
        let json = self.rows_json(PUBLISHED_POSTS, viewer, &ids).await?;
        decode::<PostRow>("published posts", &json)?
            .into_iter()
            .map(PostRow::into_post)
            .collect()
    }

    async fn follow_lists(
        &self,
        users: &[UserId],
        direction: FollowDirection,
        per_user: u32,
    ) -> Result<Vec<(UserId, User)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            subject: i64,
            #[sqlx(flatten)]
            user: UserRow,
        }
        let ids = json_list(users.iter().map(|id| id.get()))?;
        let statement = match direction {
            FollowDirection::Followers => FOLLOWERS_OF,
            FollowDirection::Following => FOLLOWING_OF,
        };
        let rows: Vec<Row> = on_reader!(self, statement, |ex, sql| {
            sqlx::query_as(sql)
                .bind(&ids)
                .bind(i64::from(per_user))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|row| (UserId::new(row.subject), User::from(row.user)))
            .collect())
    }

    async fn comments_of_posts(
        &self,
        posts: &[PostId],
        per_post: u32,
        viewer: Option<UserId>,
    ) -> Result<Vec<Comment>> {
        let ids = json_list(posts.iter().map(|id| id.get()))?;
        let json = self
            .rows_json_per_key(COMMENTS_OF_POSTS, viewer, &ids, per_post)
            .await?;
        Ok(decode::<CommentRow>("comments of posts", &json)?
            .into_iter()
            .map(Comment::from)
            .collect())
    }
}
