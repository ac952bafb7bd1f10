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
use crate::sql::{Dialect, Sql, on_reader};

/// The start of a list statement's page part, up to the page's ids.
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
            " FROM ("
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
/// The end of the page part: the page's posts and their authors, read by id (`CROSS JOIN`
/// keeps SQLite from reading posts before the page's ids), as one JSON array.
const PAGE_TAIL: &str = ") AS page_ids CROSS JOIN posts p JOIN users u ON u.id = p.author_id \
                         WHERE p.id = page_ids.post_id) AS page_rows) AS page";

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

/// The posts that match a filter, as a `FROM … WHERE …` clause, with the columns that order
/// them (sort time, then post id, both descending).
///
/// A page is read in its order from an index, never sorted from all the matches: a published
/// list by tag walks `post_tags (tag_id, published_at, post_id)`, one by favoriter
/// `favorites (user_id, published_at, post_id)` (each link holds a copy of its post's publish
/// time, written with the link and carried along by a trigger when the post's time changes:
/// migration 0019), the others `posts (status, published_at, id)`. A page at any depth
/// of any of them costs its offset plus its size in index entries, whatever the data. The feed
/// reads each followed author's posts from `posts (author_id, status, published_at, id)` and
/// sorts those. Filters beyond the first are tested per entry.
struct Matches {
    clause: String,
    /// The sort time's column.
    at: &'static str,
    /// The post id's column.
    id: &'static str,
}

/// The table whose index gives a list its order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Driver {
    Drafts,
    Posts,
    Tag,
    Favoriter,
    Follower,
}

/// The feed's posts on PostgreSQL: each followed author's newest `reach` posts (after the
/// cursor, if any), read from `posts (author_id, status, published_at, id)`, so a page costs
/// the followed authors times its reach, whatever their archives. PostgreSQL's planner would
/// otherwise walk every published post newest first, probing `follows` for each (measured at
/// 100,000 posts: 5,294 posts read for a reader of two authors, 155 ms). SQLite has no
/// `LATERAL`; its join is forced follows first by `CROSS JOIN` instead.
fn feed_on_postgres(follower: &str, after: Option<&(String, String)>, reach: u64) -> String {
    let after = after.map_or_else(String::new, |(at, id)| {
        format!(" AND (x.published_at, x.id) < ({at}, {id})")
    });
    format!(
        "FROM follows fw CROSS JOIN LATERAL (SELECT x.id, x.published_at FROM posts x \
         WHERE x.author_id = fw.followee_id AND x.status = 'published'{after} \
         ORDER BY x.published_at DESC, x.id DESC LIMIT {reach}) p WHERE fw.follower_id = {follower}"
    )
}

fn matches(filter: &PostFilter, at: &Placeholders, dialect: Dialect, reach: u64) -> Matches {
    let tag_id = |tag: &str| format!("(SELECT id FROM tags WHERE name = {tag})");
    let user_id = |user: &str| format!("(SELECT id FROM users WHERE username_key = {user})");
    let driver = match (&at.tag, &at.favoriter, &at.follower) {
        _ if filter.drafts => Driver::Drafts,
        (Some(_), _, _) => Driver::Tag,
        (None, Some(_), _) => Driver::Favoriter,
        (None, None, Some(_)) => Driver::Follower,
        (None, None, None) => Driver::Posts,
    };
    // Conditions on a post's own columns.
    let own_columns = at.author.is_some() || at.language.is_some() || at.author_id.is_some();
    if let (Dialect::Postgres, Driver::Follower, false, Some(follower)) =
        (dialect, driver, own_columns, &at.follower)
    {
        return Matches {
            clause: feed_on_postgres(follower, at.after.as_ref(), reach),
            at: "p.published_at",
            id: "p.id",
        };
    }
    let mut conditions = Vec::new();
    let (from, time, id) = match driver {
        Driver::Drafts => {
            conditions.push("p.status = 'draft'".to_owned());
            ("FROM posts p", "p.created_at", "p.id")
        }
        Driver::Posts => {
            conditions.push("p.status = 'published'".to_owned());
            ("FROM posts p", "p.published_at", "p.id")
        }
        Driver::Tag => ("FROM post_tags pt", "pt.published_at", "pt.post_id"),
        Driver::Favoriter => ("FROM favorites f", "f.published_at", "f.post_id"),
        Driver::Follower => (
            "FROM follows fw CROSS JOIN posts p",
            "p.published_at",
            "p.id",
        ),
    };
    if let Some(tag) = &at.tag {
        conditions.push(if driver == Driver::Tag {
            format!(
                "pt.tag_id = {} AND pt.published_at IS NOT NULL",
                tag_id(tag)
            )
        } else {
            format!(
                "EXISTS (SELECT 1 FROM post_tags xt WHERE xt.post_id = {id} AND xt.tag_id = {})",
                tag_id(tag)
            )
        });
    }
    if let Some(favoriter) = &at.favoriter {
        conditions.push(if driver == Driver::Favoriter {
            format!(
                "f.user_id = {} AND f.published_at IS NOT NULL",
                user_id(favoriter)
            )
        } else {
            format!(
                "EXISTS (SELECT 1 FROM favorites xf WHERE xf.post_id = {id} AND xf.user_id = {})",
                user_id(favoriter)
            )
        });
    }
    if let Some(follower) = &at.follower {
        conditions.push(if driver == Driver::Follower {
            format!(
                "fw.follower_id = {follower} AND p.author_id = fw.followee_id \
                 AND p.status = 'published'"
            )
        } else {
            format!(
                "EXISTS (SELECT 1 FROM follows xw WHERE xw.follower_id = {follower} \
                 AND xw.followee_id = p.author_id)"
            )
        });
    }
    if let Some(author) = &at.author {
        conditions.push(format!("p.author_id = {}", user_id(author)));
    }
    if let Some(language) = &at.language {
        conditions.push(format!("p.language = {language}"));
    }
    if let Some(author_id) = &at.author_id {
        conditions.push(format!("p.author_id = {author_id}"));
    }
    // The feed and conditions on a post's own columns need the post beside a link table.
    let on_posts = at.follower.is_some() || own_columns;
    let join = match driver {
        Driver::Tag | Driver::Favoriter if on_posts => format!(" JOIN posts p ON p.id = {id}"),
        _ => String::new(),
    };
    Matches {
        clause: format!("{from}{join} WHERE {}", conditions.join(" AND ")),
        at: time,
        id,
    }
}

/// How the total is read: single filters read the counters kept in step with every change;
/// only combined filters count rows, and a keyset page counts only when asked.
fn count(filter: &PostFilter, window: Window, at: &Placeholders, matches: &str) -> String {
    match (&at.tag, &at.author, &at.favoriter, &at.follower) {
        _ if matches!(window, Window::After(KeysetRequest { count: false, .. })) => {
            "SELECT CAST(0 AS BIGINT)".to_owned()
        }
        _ if at.language.is_some() || at.author_id.is_some() || filter.drafts => {
            format!("SELECT COUNT(*) {matches}")
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
        _ => format!("SELECT COUNT(*) {matches}"),
    }
}

/// The statement for `filter` and `window` as `viewer` sees it, and the values to bind.
fn list_statement(
    dialect: Dialect,
    filter: &PostFilter,
    window: Window,
    viewer: Option<UserId>,
) -> (String, Vec<Bound>) {
    let head = if filter.drafts {
        DRAFTS_HEAD
    } else {
        PAGE_HEAD
    }
    .of(dialect);
    let mut binds = vec![Bound::Int(viewer_id(viewer))];
    let at = Placeholders::bind(filter, window, &mut binds);
    // How many of the ordered matches a page reaches into.
    let reach = match window {
        Window::Offset(page) => u64::from(page.limit).saturating_add(page.offset),
        Window::After(page) => u64::from(page.limit) + 1,
    };
    let matches = matches(filter, &at, dialect, reach);
    let count = count(filter, window, &at, &matches.clause);
    let (time, id) = (matches.at, matches.id);
    // Limit and offset are written as integer literals, not bound: SQLite plans a LIMIT by its
    // value, so a bound one expires the prepared statement at every execution and forces a
    // full re-prepare. Both are integers formatted here, so nothing from the client is spliced.
    let (keyset, limit, offset) = match window {
        Window::Offset(page) => (String::new(), u64::from(page.limit), page.offset),
        Window::After(page) => (
            at.after.map_or_else(String::new, |(after_at, after_id)| {
                format!(" AND ({time}, {id}) < ({after_at}, {after_id})")
            }),
            u64::from(page.limit) + 1,
            0,
        ),
    };
    // The page's ids first, from the index alone; only they are then read whole.
    let sql = format!(
        "SELECT COALESCE(({count}), 0) AS total, {head}SELECT {id} AS post_id {clause}{keyset} \
         ORDER BY {time} DESC, {id} DESC LIMIT {limit} OFFSET {offset}{PAGE_TAIL}",
        clause = matches.clause,
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
            let (statement, binds) = list_statement(dialect, filter, window, viewer);
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
