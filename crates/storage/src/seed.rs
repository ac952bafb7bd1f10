//! Seeding a database for load tests: users, tags with a long tail, posts in several
//! languages (one in twenty a draft), comments, favorites and follows, written set by set in
//! SQL rather than through the use-cases, so that a million posts take minutes.
//!
//! The data are a pure function of the sizes: the same seed gives the same rows on both
//! engines. Counters are computed from the rows at the end; renderings and search entries
//! are left to the core's `render_missing` and `reindex_search`, and no events are recorded.

use quire_core::ids::UserId;
use quire_core::time::Timestamp;
use quire_core::{Error, Result};

use crate::db::{Db, Tx};
use crate::error::db_error;
use crate::sql::{Sql, on_reader, on_tx, on_writer};

/// Posts written per transaction: a progress step, and a bound on the write-ahead log.
pub const SEED_CHUNK: i64 = 10_000;

/// How much to seed, derived from the number of posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedSize {
    /// Posts, of which one in twenty is a draft.
    pub posts: i64,
    /// Users (one per 50 posts, at least 10); every one may write.
    pub users: i64,
    /// Tags (one per 100 posts, at least 20); each post carries 1 to 4, the low ids most.
    pub tags: i64,
}

impl SeedSize {
    /// The sizes for `posts` posts.
    pub fn for_posts(posts: i64) -> Self {
        Self {
            posts,
            users: (posts / 50).max(10),
            tags: (posts / 100).max(20),
        }
    }
}

/// A pseudo-random number in `0..1000003` of an integer expression, the same on both engines.
macro_rules! spread {
    ($x:literal) => {
        concat!("((", $x, ") * 2654435761 % 1000003)")
    };
}

/// The series `i` from `$1` to `$2` (inclusive), as the head of a statement.
macro_rules! series {
    () => {
        "WITH RECURSIVE n(i) AS (SELECT CAST($1 AS BIGINT) UNION ALL \
         SELECT i + 1 FROM n WHERE i < $2), \
         k(j) AS (SELECT CAST(0 AS BIGINT) UNION ALL SELECT j + 1 FROM k WHERE j < 11) "
    };
}

/// Users `$1..=$2` (`user<i>`, `user<i>@example.com`), with the password hash and roles of
/// user `$3`; `$4` is the time of the first.
const USERS: Sql = Sql::both(concat!(
    series!(),
    "INSERT INTO users (id, username, username_key, email, email_key, name, bio, image, \
     password_hash, roles, is_active, created_at, updated_at) \
     SELECT i, 'user' || i, 'user' || i, 'user' || i || '@example.com', \
     'user' || i || '@example.com', 'User ' || i, 'Writes now and then (' || i || ').', NULL, \
     s.password_hash, s.roles, s.is_active, $4 + i, $4 + i \
     FROM n CROSS JOIN (SELECT password_hash, roles, is_active FROM users WHERE id = $3) s"
));

/// Tags `$1..=$2`, named `topic-<i>`.
const TAGS: Sql = Sql::both(concat!(
    series!(),
    "INSERT INTO tags (id, name) SELECT i, 'topic-' || i FROM n"
));

/// Posts `$1..=$2` by users `1..=$3`, one minute apart from `$4` on; `$5`, `$6` and `$7` are
/// the bodies in English, Korean and Japanese, with `{n}` for the post's number. The author
/// is skewed (low ids write most), every twentieth post is a draft.
const POSTS: Sql = Sql::both(concat!(
    series!(),
    "INSERT INTO posts (id, slug, title, description, body, author_id, status, published_at, \
     language, category, series_name, series_position, created_at, updated_at) \
     SELECT i, 'seeded-post-' || i, \
     'Seeded post ' || i || ' on ' || CASE i % 8 WHEN 0 THEN 'caching' WHEN 1 THEN 'queues' \
       WHEN 2 THEN 'indexes' WHEN 3 THEN 'replication' WHEN 4 THEN 'tracing' \
       WHEN 5 THEN 'rate limits' WHEN 6 THEN 'schemas' ELSE 'backpressure' END, \
     'What seeded post ' || i || ' is about, in a sentence.', \
     replace(CASE WHEN i % 10 < 7 THEN $5 WHEN i % 10 < 9 THEN $6 ELSE $7 END, '{n}', \
       CAST(i AS TEXT)), \
     1 + (",
    spread!("i"),
    " * ",
    spread!("i"),
    " / 1000003) * $3 / 1000003, \
     CASE WHEN i % 20 = 0 THEN 'draft' ELSE 'published' END, \
     CASE WHEN i % 20 = 0 THEN NULL ELSE $4 + i * 60000 END, \
     CASE WHEN i % 10 < 7 THEN 'en' WHEN i % 10 < 9 THEN 'ko' ELSE 'ja' END, \
     'category-' || (i % 12), \
     CASE WHEN i % 7 = 0 THEN 'Series ' || (i / 700) END, \
     CASE WHEN i % 7 = 0 THEN (i / 7) % 100 + 1 END, \
     $4 + i * 60000, $4 + i * 60000 FROM n"
));

/// One to four tags for each of posts `$1..=$2`, among tags `1..=$3`, skewed to the low ids
/// (a cube: a long tail).
const POST_TAGS: Sql = Sql::both(concat!(
    series!(),
    "INSERT INTO post_tags (post_id, published_at, tag_id) \
     SELECT i, (SELECT published_at FROM posts WHERE id = i), 1 + ",
    spread!("i * 4 + j"),
    " * ",
    spread!("i * 4 + j"),
    " / 1000003 * ",
    spread!("i * 4 + j"),
    " / 1000003 * $3 / 1000003 \
     FROM n CROSS JOIN k WHERE j <= i % 4 ON CONFLICT DO NOTHING"
));

/// Up to twelve favorites for each published post of `$1..=$2`, by users `1..=$3`; most
/// posts have few, some many.
const FAVORITES: Sql = Sql::both(concat!(
    series!(),
    "INSERT INTO favorites (user_id, post_id, created_at, published_at) \
     SELECT 1 + (i * 97 + j * 7919) % $3, i, $4 + i * 60000 + j, \
     (SELECT published_at FROM posts WHERE id = i) \
     FROM n CROSS JOIN k \
     WHERE i % 20 <> 0 AND j * 1000003 * 1000003 < 12 * ",
    spread!("i + 1"),
    " * ",
    spread!("i + 1"),
    " ON CONFLICT DO NOTHING"
));

/// Up to eight comments on each published post of `$1..=$2`, by users `1..=$3`.
const COMMENTS: Sql = Sql::both(concat!(
    series!(),
    "INSERT INTO comments (post_id, author_id, body, created_at, updated_at) \
     SELECT i, 1 + (i * 31 + j * 17) % $3, 'Comment ' || j || ' on seeded post ' || i || \
     ': a reader''s thought, a question, a correction.', $4 + i * 60000 + j, $4 + i * 60000 + j \
     FROM n CROSS JOIN k \
     WHERE i % 20 <> 0 AND j < 8 AND j * 1000003 < 8 * ",
    spread!("i + 7"),
    " / 1000003 * ",
    spread!("i + 7")
));

/// Users `$1..=$2` each follow 1 to 12 of users `1..=$3`, never themselves.
const FOLLOWS: Sql = Sql::both(concat!(
    series!(),
    "INSERT INTO follows (follower_id, followee_id, created_at) \
     SELECT i, 1 + (i * 13 + j * 7919) % $3, $4 + i \
     FROM n CROSS JOIN k WHERE j <= i % 12 AND 1 + (i * 13 + j * 7919) % $3 <> i \
     ON CONFLICT DO NOTHING"
));

/// Every counter, computed from the rows.
const COUNTERS: [Sql; 5] = [
    Sql::both(
        "INSERT INTO counter_slots (counter, subject, slot, value) \
         SELECT 'posts', 0, 0, COUNT(*) FROM posts WHERE status = 'published'",
    ),
    Sql::both(
        "INSERT INTO counter_slots (counter, subject, slot, value) \
         SELECT 'author_posts', author_id, 0, COUNT(*) FROM posts WHERE status = 'published' \
         GROUP BY author_id",
    ),
    Sql::both(
        "INSERT INTO counter_slots (counter, subject, slot, value) \
         SELECT 'tag_posts', pt.tag_id, 0, COUNT(*) FROM post_tags pt \
         JOIN posts p ON p.id = pt.post_id WHERE p.status = 'published' GROUP BY pt.tag_id",
    ),
    Sql::both(
        "INSERT INTO counter_slots (counter, subject, slot, value) \
         SELECT 'post_favorites', post_id, 0, COUNT(*) FROM favorites GROUP BY post_id",
    ),
    Sql::both(
        "INSERT INTO counter_slots (counter, subject, slot, value) \
         SELECT 'user_favorites', f.user_id, 0, COUNT(*) FROM favorites f \
         JOIN posts p ON p.id = f.post_id WHERE p.status = 'published' GROUP BY f.user_id",
    ),
];

/// PostgreSQL's identity sequences moved past the ids written here (SQLite's AUTOINCREMENT
/// follows explicit ids by itself).
const IDENTITIES: Sql = Sql {
    sqlite: "SELECT 1",
    pg: "SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users)), \
         setval(pg_get_serial_sequence('posts', 'id'), (SELECT MAX(id) FROM posts)), \
         setval(pg_get_serial_sequence('tags', 'id'), (SELECT MAX(id) FROM tags))",
};

/// Whether the database holds only the seed's first user: no posts, tags or other users.
const EMPTY_BUT_ONE: Sql = Sql::both(
    "SELECT (SELECT COUNT(*) FROM users) = 1 AND (SELECT MIN(id) FROM users) = $1 \
     AND NOT EXISTS (SELECT 1 FROM posts) AND NOT EXISTS (SELECT 1 FROM tags)",
);

/// The bodies of seeded posts, with `{n}` for the post's number: about 1.2 KB of Markdown
/// with a heading, paragraphs, a list and a code block.
pub const SEED_BODIES: [&str; 3] = [
    "## Notes {n}\n\nA backend answers requests, keeps data safe and stays up when parts of it \
     fail. This post, number {n}, walks through one small part of that: where the time of a \
     request goes, and how to keep it flat as the data grows.\n\nMeasure first. A query that \
     is fast at two thousand rows may scan at a million; an index that fits in memory today \
     may not tomorrow. Read the plan, then read it again with real data.\n\n- Keep writes \
     short and reads cheap.\n- Count with counters, not with scans.\n- Page with keys, not \
     offsets.\n\n```sql\nSELECT id, title FROM posts WHERE published_at < $1 ORDER BY \
     published_at DESC LIMIT 20;\n```\n\nThat is all for post {n}.\n",
    "## 메모 {n}\n\n백엔드는 요청에 응답하고, 데이터를 안전하게 지키며, 일부가 실패해도 계속 \
     동작해야 합니다. {n}번 글에서는 요청의 시간이 어디에 쓰이는지, 데이터가 늘어도 그 시간을 \
     일정하게 유지하는 방법을 살펴봅니다.\n\n먼저 측정하세요. 이천 행에서 빠른 쿼리가 백만 \
     행에서는 전체를 훑을 수 있습니다. 실제 데이터로 실행 계획을 읽으세요.\n\n- 쓰기는 짧게, \
     읽기는 가볍게.\n- 개수는 카운터로 셉니다.\n- 페이지는 오프셋이 아닌 키로 넘깁니다.\n\n\
     ```sql\nSELECT id, title FROM posts ORDER BY published_at DESC LIMIT 20;\n```\n\n{n}번 \
     글은 여기까지입니다.\n",
    "## メモ {n}\n\nバックエンドはリクエストに応え、データを安全に守り、一部が故障しても動き続け\
     ます。{n}番目の記事では、リクエストの時間がどこに使われるか、データが増えてもそれを一定に\
     保つ方法を見ていきます。\n\nまず測定しましょう。二千行で速いクエリも百万行では全件を走査\
     するかもしれません。\n\n- 書き込みは短く、読み込みは軽く。\n- 件数はカウンターで数える。\n\
     - ページはオフセットではなくキーでめくる。\n\n```sql\nSELECT id, title FROM posts ORDER \
     BY published_at DESC LIMIT 20;\n```\n\n{n}番目の記事はここまでです。\n",
];

/// PostgreSQL's planner statistics gathered afresh, as the autovacuum would soon after such a
/// load. SQLite is left as a running server leaves it, without statistics: with them its
/// planner reads a popular tag's posts before ordering them, where today it walks the newest
/// posts (bench/README.md, the load report).
const ANALYZE: Sql = Sql {
    sqlite: "SELECT 1",
    pg: "ANALYZE",
};

/// Whether the database holds any user, post or tag.
const HOLDS_DATA: Sql = Sql::both(
    "SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM posts) \
     OR EXISTS (SELECT 1 FROM tags)",
);

/// Told how seeding goes: posts written so far, of all.
pub trait SeedProgress {
    fn seeded(&mut self, posts: i64, of: i64);
}

impl Db {
    /// Whether the database holds any user, post or tag: [`Db::seed`] wants a new one.
    pub async fn holds_data(&self) -> Result<bool> {
        on_reader!(self, HOLDS_DATA, |ex, sql| {
            sqlx::query_scalar(sql).fetch_one(ex).await
        })
        .map_err(db_error)
    }

    /// Seeds users `2..=size.users` (with the password hash and roles of `first`, user 1,
    /// created by the caller), the tags, the posts with their tags, favorites and comments,
    /// the follows and every counter; the first post is published `size.posts` minutes
    /// before `now`. Refuses a database that holds anything but `first`. Each chunk of
    /// [`SEED_CHUNK`] posts is one transaction.
    pub async fn seed(
        &self,
        size: SeedSize,
        first: UserId,
        now: Timestamp,
        progress: &mut dyn SeedProgress,
    ) -> Result<()> {
        let fresh: bool = on_reader!(self, EMPTY_BUT_ONE, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(first.get())
                .fetch_one(ex)
                .await
        })
        .map_err(db_error)?;
        if !fresh || first.get() != 1 {
            return Err(Error::internal(
                "quire seed fills a new, empty database; this one already holds data",
            ));
        }
        let start = now.as_millis() - (size.posts + 1) * 60_000;
        let mut tx = self.begin().await?;
        let users = [2, size.users, first.get(), start];
        self.run(&mut tx, USERS, &users, &[]).await?;
        self.run(&mut tx, TAGS, &[1, size.tags], &[]).await?;
        let follows = [1, size.users, size.users, start];
        self.run(&mut tx, FOLLOWS, &follows, &[]).await?;
        self.commit(tx).await?;

        let mut low = 1;
        while low <= size.posts {
            let high = (low + SEED_CHUNK - 1).min(size.posts);
            let mut tx = self.begin().await?;
            let posts = [low, high, size.users, start];
            self.run(&mut tx, POSTS, &posts, &SEED_BODIES).await?;
            self.run(&mut tx, POST_TAGS, &[low, high, size.tags], &[])
                .await?;
            self.run(&mut tx, FAVORITES, &posts, &[]).await?;
            self.run(&mut tx, COMMENTS, &posts, &[]).await?;
            self.commit(tx).await?;
            progress.seeded(high, size.posts);
            low = high + 1;
        }

        let mut tx = self.begin().await?;
        for statement in COUNTERS {
            self.run(&mut tx, statement, &[], &[]).await?;
        }
        self.run(&mut tx, IDENTITIES, &[], &[]).await?;
        self.commit(tx).await?;
        // Plans fit for the new data from the first request, not from the autovacuum's pass.
        on_writer!(self, ANALYZE, |ex, sql| {
            sqlx::query(sql).execute(ex).await.map(drop)
        })
        .map_err(db_error)
    }

    /// Runs `statement` in `tx` with `numbers`, then `texts`, as its parameters in order.
    async fn run(
        &self,
        tx: &mut Tx,
        statement: Sql,
        numbers: &[i64],
        texts: &[&str],
    ) -> Result<()> {
        on_tx!(self, tx, statement, |ex, sql| {
            let mut query = sqlx::query(sql);
            for number in numbers {
                query = query.bind(*number);
            }
            for text in texts {
                query = query.bind(*text);
            }
            query.execute(ex).await.map(drop)
        })
        .map_err(db_error)
    }
}
