//! The search index: postings (term, post, the term's impact in the post) and each post's body
//! excerpt, written in the transaction that changes the post; and one pass over a term's best
//! postings, scored by one query whose arithmetic is the same on both engines, so SQLite and
//! PostgreSQL rank alike.

use quire_core::Result;
use quire_core::ids::{PostId, UserId};
use quire_core::model::{IndexEntry, SearchDocument, search_document};
use quire_core::ports::{Candidates, IndexQuery, SearchStats, SearchStore, TermStats, ToIndex};
use quire_core::time::Timestamp;
use quire_core::values::{Body, Description, Title};

use crate::db::{Db, Tx};
use crate::error::db_error;
use sqlx::AssertSqlSafe;

use crate::sql::{Dialect, Sql, ids_in, json_list, on_reader, on_tx};

/// A post's whole index entry in one round trip: its postings (`$2`, a JSON array of `[term,
/// impact]` pairs) replace the ones it had, and its excerpt (`$3`) is written. On SQLite three
/// statements sent as one (sqlx binds `$n` by number in each), so the single writer pays one
/// hand-off to SQLite's worker thread, not three; on PostgreSQL one statement whose
/// data-modifying `WITH`s touch disjoint rows (the terms dropped, the terms written).
const WRITE_ENTRY: Sql = Sql {
    sqlite: "DELETE FROM search_impacts WHERE post_id = $1; \
             INSERT INTO search_impacts (term, post_id, impact) \
             SELECT json_extract(value, '$[0]'), $1, json_extract(value, '$[1]') \
             FROM json_each($2) WHERE true \
             ON CONFLICT (term, post_id) DO UPDATE SET impact = excluded.impact; \
             INSERT INTO search_excerpts (post_id, excerpt) VALUES ($1, $3) \
             ON CONFLICT (post_id) DO UPDATE SET excerpt = excluded.excerpt",
    pg: "WITH postings AS ( \
             SELECT e->>0 AS term, (e->>1)::bigint AS impact \
             FROM json_array_elements($2::json) AS e), \
         forgotten AS ( \
             DELETE FROM search_impacts WHERE post_id = $1 \
             AND term NOT IN (SELECT term FROM postings)), \
         written AS ( \
             INSERT INTO search_impacts (term, post_id, impact) \
             SELECT term, $1, impact FROM postings \
             ON CONFLICT (term, post_id) DO UPDATE SET impact = excluded.impact) \
         INSERT INTO search_excerpts (post_id, excerpt) VALUES ($1, $3) \
         ON CONFLICT (post_id) DO UPDATE SET excerpt = excluded.excerpt",
};

/// The post's `updated_at`, locking its row on PostgreSQL (on SQLite the write lock is the
/// transaction's): an entry is written only for the post as it was read, and two writers of
/// one post's entry take turns.
const LOCK_POST: Sql = Sql {
    sqlite: "SELECT updated_at FROM posts WHERE id = $1",
    pg: "SELECT updated_at FROM posts WHERE id = $1 FOR UPDATE",
};

/// What an entry is made of, read inside the write that changed the post.
const POST_TEXT: Sql = Sql::both("SELECT title, description, body FROM posts WHERE id = $1");

/// For each term of the JSON array `$1`: how many indexed posts hold it (one index range
/// count); 0 for a term none holds.
const TERM_STATS: Sql = Sql {
    sqlite: "SELECT q.value, (SELECT COUNT(*) FROM search_impacts s WHERE s.term = q.value) \
             FROM json_each($1) AS q",
    pg: "SELECT q.term, (SELECT COUNT(*) FROM search_impacts s WHERE s.term = q.term) \
         FROM json_array_elements_text($1::json) AS q(term)",
};

/// Every post has an entry, written with it (those written before the index existed have
/// theirs once workers have started): the posts are counted, through their narrowest index.
/// Counting `search_excerpts` read one page per post on SQLite, whose rows are mostly excerpt.
const STATS: Sql = Sql::both("SELECT COUNT(*) FROM posts");

/// One pass over the index, for `terms` terms (1 or more), in `dialect`: the `$2` best postings
/// of term `$1` (impact, then the newer post, first); the posts among them holding every other
/// term (term `$8` with idf `$9`, term `$10` with idf `$11`, …), one index lookup each, scored
/// Σ idf × impact with the first term's idf `$7`; of those, the `$6` best that are published
/// and pass the filters (language `$3`, author `$4`, tag `$5`, each when not NULL), read from
/// the `posts_search_filter` index rather than the post's row; then one row with a NULL post:
/// the impact of the last posting read, how many were read, and Σ idf × highest impact over
/// the other terms (the top of each one's impact index). One join per term, added in one
/// order, so that both engines sum alike; SQLite takes `CROSS JOIN` as the order to join in,
/// PostgreSQL plans the order itself.
fn pass_statement(dialect: Dialect, terms: usize) -> String {
    let mut score = String::from("$7 * CAST(d.impact AS DOUBLE PRECISION)");
    let mut joins = String::new();
    let mut holds = String::new();
    let mut others = String::from("CAST(0 AS DOUBLE PRECISION)");
    for k in 1..terms {
        let (term, idf) = (6 + 2 * k, 7 + 2 * k);
        score.push_str(&format!(
            " + ${idf} * CAST(o{k}.impact AS DOUBLE PRECISION)"
        ));
        joins.push_str(&format!(" CROSS JOIN search_impacts o{k}"));
        let and = if holds.is_empty() { " WHERE" } else { " AND" };
        holds.push_str(&format!(
            "{and} o{k}.term = ${term} AND o{k}.post_id = d.post_id"
        ));
        others.push_str(&format!(
            " + ${idf} * COALESCE(CAST((SELECT MAX(s.impact) FROM search_impacts s \
             WHERE s.term = ${term}) AS DOUBLE PRECISION), CAST(0 AS DOUBLE PRECISION))"
        ));
    }
    let filter_index = match dialect {
        Dialect::Sqlite => " INDEXED BY posts_search_filter",
        Dialect::Postgres => "",
    };
    format!(
        "WITH d AS (SELECT post_id, impact FROM search_impacts WHERE term = $1 \
                    ORDER BY impact DESC, post_id DESC LIMIT $2), \
              c AS (SELECT d.post_id, {score} AS score FROM d{joins}{holds}) \
         SELECT r.post_id, r.score, CAST(0 AS BIGINT), CAST(0 AS DOUBLE PRECISION) FROM ( \
           SELECT c.post_id, c.score FROM c CROSS JOIN posts p{filter_index} \
           WHERE p.id = c.post_id AND p.status = 'published' \
             AND ($3 IS NULL OR p.language = $3) \
             AND ($4 IS NULL OR p.author_id = $4) \
             AND ($5 IS NULL OR EXISTS (SELECT 1 FROM post_tags pt JOIN tags t ON t.id = pt.tag_id \
                                        WHERE pt.post_id = p.id AND t.name = $5)) \
           ORDER BY c.score DESC, c.post_id DESC LIMIT $6) AS r \
         UNION ALL \
         SELECT CAST(NULL AS BIGINT), CAST(MIN(impact) AS DOUBLE PRECISION), COUNT(*), {others} \
         FROM d"
    )
}

const EXCERPTS: Sql = Sql {
    sqlite: concat!(
        "SELECT post_id, excerpt FROM search_excerpts WHERE post_id IN ",
        ids_in!(sqlite, "$1")
    ),
    pg: concat!(
        "SELECT post_id, excerpt FROM search_excerpts WHERE post_id IN ",
        ids_in!(pg, "$1")
    ),
};

const TO_INDEX: Sql = Sql::both(
    "SELECT id, updated_at, title, description, body FROM posts p WHERE id > $1 \
     AND (NOT $3 OR NOT EXISTS (SELECT 1 FROM search_excerpts d WHERE d.post_id = p.id)) \
     ORDER BY id LIMIT $2",
);

impl Db {
    /// Replaces the index entry of `post` inside the open write `tx`.
    pub(crate) async fn write_search_document(
        &self,
        tx: &mut Tx,
        post: PostId,
        document: &SearchDocument,
    ) -> Result<()> {
        let postings = json_list(document.impacts())?;
        on_tx!(self, &mut *tx, WRITE_ENTRY, |ex, sql| {
            sqlx::query(sql)
                .bind(post.get())
                .bind(&postings)
                .bind(&document.excerpt)
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)
    }

    /// Writes a changed post's new index entry inside the write `tx` that changed it, which
    /// found the post at `updated_at`: the core's entry if it was made from that version, else
    /// one made now from the post as this write leaves it (another write came between).
    pub(crate) async fn write_changed_entry(
        &self,
        tx: &mut Tx,
        post: PostId,
        updated_at: i64,
        entry: &IndexEntry,
    ) -> Result<()> {
        if entry.made_from.as_millis() == updated_at {
            return self.write_search_document(tx, post, &entry.document).await;
        }
        let (title, description, body): (String, String, String) =
            on_tx!(self, &mut *tx, POST_TEXT, |ex, sql| {
                sqlx::query_as(sql).bind(post.get()).fetch_one(ex).await
            })
            .map_err(db_error)?;
        let document = search_document(
            &Title::from_trusted(title),
            &Description::from_trusted(description),
            &body,
        );
        self.write_search_document(tx, post, &document).await
    }
}

impl SearchStore for Db {
    async fn term_stats(&self, terms: &[String]) -> Result<Vec<TermStats>> {
        let terms = json_list(terms)?;
        let rows: Vec<(String, i64)> = on_reader!(self, TERM_STATS, |ex, sql| {
            sqlx::query_as(sql).bind(&terms).fetch_all(ex).await
        })
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(term, documents_with)| TermStats {
                term,
                documents_with,
            })
            .collect())
    }

    async fn search_stats(&self) -> Result<SearchStats> {
        let documents: i64 = on_reader!(self, STATS, |ex, sql| {
            sqlx::query_scalar(sql).fetch_one(ex).await
        })
        .map_err(db_error)?;
        Ok(SearchStats { documents })
    }

    async fn search(&self, query: &IndexQuery) -> Result<Candidates> {
        let Some(((first, first_idf), others)) = query.terms.split_first() else {
            return Ok(Candidates::default());
        };
        let rows: Vec<(Option<i64>, Option<f64>, i64, f64)> = on_reader!(self, |ex, dialect| {
            let statement = pass_statement(dialect, query.terms.len());
            let mut pass = sqlx::query_as(AssertSqlSafe(statement))
                .bind(first)
                .bind(i64::from(query.scan))
                .bind(query.language.as_deref())
                .bind(query.author.map(UserId::get))
                .bind(query.tag.as_deref())
                .bind(i64::from(query.wanted))
                .bind(*first_idf);
            for (term, idf) in others {
                pass = pass.bind(term).bind(*idf);
            }
            pass.fetch_all(ex).await
        })
        .map_err(db_error)?;
        let mut candidates = Candidates::default();
        for (post, score, scanned, others) in rows {
            match post {
                Some(id) => candidates
                    .ranked
                    .push((PostId::new(id), score.unwrap_or(0.0))),
                None => {
                    candidates.scanned = u32::try_from(scanned).unwrap_or(u32::MAX);
                    // An impact, below 2^53: exact as f64 and back.
                    candidates.floor = score.map_or(0, |impact| impact as i64);
                    candidates.others = others;
                }
            }
        }
        // Best first, the newer post first among equals: the order the query ranked in, which
        // a union need not keep.
        candidates
            .ranked
            .sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.get().cmp(&a.0.get())));
        Ok(candidates)
    }

    async fn excerpts(&self, posts: &[PostId]) -> Result<Vec<(PostId, String)>> {
        let ids = json_list(posts.iter().map(|id| id.get()))?;
        let rows: Vec<(i64, String)> = on_reader!(self, EXCERPTS, |ex, sql| {
            sqlx::query_as(sql).bind(&ids).fetch_all(ex).await
        })
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, excerpt)| (PostId::new(id), excerpt))
            .collect())
    }

    async fn posts_to_index(
        &self,
        after: i64,
        limit: u32,
        missing_only: bool,
    ) -> Result<Vec<ToIndex>> {
        let rows: Vec<(i64, i64, String, String, String)> =
            on_reader!(self, TO_INDEX, |ex, sql| {
                sqlx::query_as(sql)
                    .bind(after)
                    .bind(i64::from(limit))
                    .bind(missing_only)
                    .fetch_all(ex)
                    .await
            })
            .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, updated_at, title, description, body)| {
                (
                    PostId::new(id),
                    Timestamp::from_millis(updated_at),
                    Title::from_trusted(title),
                    Description::from_trusted(description),
                    Body::from_trusted(body),
                )
            })
            .collect())
    }

    async fn write_search_documents(
        &self,
        documents: &[(PostId, Timestamp, SearchDocument)],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        for (post, read_at, document) in documents {
            let now: Option<i64> = on_tx!(self, &mut tx, LOCK_POST, |ex, sql| {
                sqlx::query_scalar(sql)
                    .bind(post.get())
                    .fetch_optional(ex)
                    .await
            })
            .map_err(db_error)?;
            if now == Some(read_at.as_millis()) {
                self.write_search_document(&mut tx, *post, document).await?;
            }
        }
        self.commit(tx).await
    }
}
