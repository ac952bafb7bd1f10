//! The one statement that answers every list of posts (RealWorld's offset pages, keyset pages,
//! feeds, drafts): how many posts match, and the page of them as one JSON array, in one row.
//! One statement means one snapshot (the count agrees with the page) and one hand-off from the
//! database, whatever the page size.
//!
//! The SQL is assembled only from the fixed fragments below and two integers; every other value
//! is a bound parameter: `$1` the viewer, then the filter's values.

use quire_core::ids::UserId;
use quire_core::model::{KeysetRequest, PageRequest, PostFilter};
use quire_core::{Error, Result};
use sqlx::AssertSqlSafe;

use crate::counters::{counter_sum, counter_total};
use crate::db::Db;
use crate::error::db_error;
use crate::rows::{
    PostRow, author_columns, json_agg_close, json_agg_open, json_object, post_columns, post_json,
    tag_names, viewer_id,
};
use crate::sql::{Sql, on_reader};

/// The start of a list statement's page part, up to the filter.
macro_rules! page_head {
    ($engine:tt, $order:literal) => {
        concat!(
            "(SELECT ",
            json_agg_open!($engine),
            post_json!($engine),
            " ORDER BY ",
            $order,
            " DESC, id DESC",
            json_agg_close!($engine),
            " FROM (SELECT ",
            post_columns!($engine, "NULL"),
            " FROM posts p JOIN users u ON u.id = p.author_id"
        )
    };
}
/// Published posts, newest published first.
const PAGE_HEAD: Sql = Sql {
    sqlite: page_head!(sqlite, "published_at"),
    pg: page_head!(pg, "published_at"),
};
/// Drafts, newest created first.
const DRAFTS_HEAD: Sql = Sql {
    sqlite: page_head!(sqlite, "created_at"),
    pg: page_head!(pg, "created_at"),
};

/// A value bound to a list statement.
enum Bound {
    Int(i64),
    Text(String),
}

/// Which rows of the ordered matches a list statement returns.
#[derive(Clone, Copy)]
pub(crate) enum Window {
    /// RealWorld's limit and offset.
    Offset(PageRequest),
    /// A keyset page: up to `limit` + 1 rows after the cursor (the extra row tells whether a
    /// next page exists), and the count only when asked.
    After(KeysetRequest),
}

/// The placeholders of a filter's values, each bound once, in order.
struct Placeholders {
    tag: Option<String>,
    favoriter: Option<String>,
    follower: Option<String>,
    author: Option<String>,
    language: Option<String>,
    author_id: Option<String>,
    /// The cursor's sort time and id.
    after: Option<(String, String)>,
}

impl Placeholders {
    fn bind(filter: &PostFilter, window: Window, binds: &mut Vec<Bound>) -> Self {
        let mut bind = |value: Bound| {
            binds.push(value);
            format!("${}", binds.len())
        };
        let tag = filter
            .tag
            .as_ref()
            .map(|tag| bind(Bound::Text(tag.as_str().to_owned())));
        let favoriter = filter
            .favorited_by
            .as_ref()
            .map(|user| bind(Bound::Text(user.key())));
        let follower = filter.followed_by.map(|user| bind(Bound::Int(user.get())));
        let author = filter
            .author
            .as_ref()
            .map(|user| bind(Bound::Text(user.key())));
        let language = filter
            .language
            .as_ref()
            .map(|language| bind(Bound::Text(language.clone())));
        let author_id = filter.author_id.map(|id| bind(Bound::Int(id.get())));
        let after = match window {
            Window::After(KeysetRequest {
                after: Some(cursor),
                ..
            }) => Some((
                bind(Bound::Int(cursor.at.as_millis())),
                bind(Bound::Int(cursor.id.get())),
            )),
            _ => None,
        };
        Self {
            tag,
            favoriter,
            follower,
            author,
            language,
            author_id,
            after,
        }
    }
}

/// The joins and conditions that select the matching posts, after `FROM posts p`.
fn matching(filter: &PostFilter, at: &Placeholders) -> String {
    let mut matching = String::new();
    if let Some(tag) = &at.tag {
        matching.push_str(&format!(
            " JOIN post_tags pt ON pt.post_id = p.id \
             AND pt.tag_id = (SELECT id FROM tags WHERE name = {tag})"
        ));
    }
    if let Some(favoriter) = &at.favoriter {
        matching.push_str(&format!(
            " JOIN favorites f ON f.post_id = p.id \
             AND f.user_id = (SELECT id FROM users WHERE username_key = {favoriter})"
        ));
    }
    if let Some(follower) = &at.follower {
        matching.push_str(&format!(
            " JOIN follows fw ON fw.followee_id = p.author_id AND fw.follower_id = {follower}"
        ));
    }
    let status = if filter.drafts { "draft" } else { "published" };
    matching.push_str(&format!(" WHERE p.status = '{status}'"));
    if let Some(author) = &at.author {
        matching.push_str(&format!(
            " AND p.author_id = (SELECT id FROM users WHERE username_key = {author})"
        ));
    }
    if let Some(language) = &at.language {
        matching.push_str(&format!(" AND p.language = {language}"));
    }
    if let Some(author_id) = &at.author_id {
        matching.push_str(&format!(" AND p.author_id = {author_id}"));
    }
    matching
}

/// How the total is read: single filters read the counters kept in step with every change;
/// only combined filters count rows, and a keyset page counts only when asked.
fn count(filter: &PostFilter, window: Window, at: &Placeholders, matching: &str) -> String {
    match (&at.tag, &at.author, &at.favoriter, &at.follower) {
        _ if matches!(window, Window::After(KeysetRequest { count: false, .. })) => {
            "SELECT CAST(0 AS BIGINT)".to_owned()
        }
        _ if at.language.is_some() || at.author_id.is_some() || filter.drafts => {
            format!("SELECT COUNT(*) FROM posts p{matching}")
        }
        (None, None, None, None) => counter_sum!("posts", "0").to_owned(),
        (Some(tag), None, None, None) => counter_total(
            "tag_posts",
            &format!("(SELECT id FROM tags WHERE name = {tag})"),
        ),
        (None, Some(author), None, None) => counter_total(
            "author_posts",
            &format!("(SELECT id FROM users WHERE username_key = {author})"),
        ),
        (None, None, Some(favoriter), None) => counter_total(
            "user_favorites",
            &format!("(SELECT id FROM users WHERE username_key = {favoriter})"),
        ),
        (None, None, None, Some(follower)) => format!(
            "SELECT CAST(SUM(c.value) AS BIGINT) FROM follows ff JOIN counter_slots c \
             ON c.counter = 'author_posts' AND c.subject = ff.followee_id \
             WHERE ff.follower_id = {follower}"
        ),
        _ => format!("SELECT COUNT(*) FROM posts p{matching}"),
    }
}

/// The statement for `filter` and `window` as `viewer` sees it, and the values to bind.
fn list_statement(
    head: &str,
    filter: &PostFilter,
    window: Window,
    viewer: Option<UserId>,
) -> (String, Vec<Bound>) {
    let mut binds = vec![Bound::Int(viewer_id(viewer))];
    let at = Placeholders::bind(filter, window, &mut binds);
    let matching = matching(filter, &at);
    let count = count(filter, window, &at, &matching);
    // Drafts have no publish time: they are ordered, and paged, by creation.
    let order = if filter.drafts {
        "p.created_at"
    } else {
        "p.published_at"
    };
    // Limit and offset are written as integer literals, not bound: SQLite plans a LIMIT by its
    // value, so a bound one expires the prepared statement at every execution and forces a
    // full re-prepare. Both are integers formatted here, so nothing from the client is spliced.
    let (keyset, limit, offset) = match window {
        Window::Offset(page) => (String::new(), u64::from(page.limit), page.offset),
        Window::After(page) => (
            at.after.map_or_else(String::new, |(at, id)| {
                format!(" AND ({order}, p.id) < ({at}, {id})")
            }),
            u64::from(page.limit) + 1,
            0,
        ),
    };
    let sql = format!(
        "SELECT COALESCE(({count}), 0) AS total, {head}{matching}{keyset} \
         ORDER BY {order} DESC, p.id DESC LIMIT {limit} OFFSET {offset}) AS page_rows) \
         AS page"
    );
    (sql, binds)
}

impl Db {
    /// Runs a list statement: the total and the rows of the window.
    pub(crate) async fn run_list(
        &self,
        filter: &PostFilter,
        window: Window,
        viewer: Option<UserId>,
    ) -> Result<(u64, Vec<PostRow>)> {
        let (total, json): (i64, String) = on_reader!(self, |ex, dialect| {
            let head = if filter.drafts {
                DRAFTS_HEAD
            } else {
                PAGE_HEAD
            };
            let (statement, binds) = list_statement(head.of(dialect), filter, window, viewer);
            let mut query = sqlx::query_as(AssertSqlSafe(statement));
            for value in &binds {
                query = match value {
                    Bound::Int(value) => query.bind(*value),
                    Bound::Text(value) => query.bind(value.clone()),
                };
            }
            query.fetch_one(ex).await
        })
        .map_err(db_error)?;
        // A negative count is drift in the counters: report it loudly, but still serve the list.
        let total = u64::try_from(total).unwrap_or_else(|_| {
            tracing::error!(total, ?filter, "a post counter is negative");
            0
        });
        let rows = serde_json::from_str(&json)
            .map_err(|error| Error::internal(format!("decoding a page of posts: {error}")))?;
        Ok((total, rows))
    }
}
