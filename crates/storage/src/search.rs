//! The search index: postings (term, post, weighted frequency) and each post's length and
//! body excerpt, written in the transaction that changes the post, and a BM25 ranking computed by one query whose
//! arithmetic is the same on both engines, so SQLite and PostgreSQL rank alike.

use quire_core::Result;
use quire_core::ids::{PostId, UserId};
use quire_core::model::{IndexEntry, SearchDocument, search_document};
use quire_core::ports::{IndexQuery, Ranked, SearchStats, SearchStore, ToIndex};
use quire_core::time::Timestamp;
use quire_core::values::{Body, Description, Title};

use crate::db::{Db, Tx};
use crate::error::db_error;
use crate::sql::{Sql, json_list, on_reader, on_tx};

const FORGET_POSTINGS: Sql = Sql::both("DELETE FROM search_postings WHERE post_id = $1");

/// `$2` is a JSON array of `[term, tf]` pairs.
const WRITE_POSTINGS: Sql = Sql {
    sqlite: "INSERT INTO search_postings (term, post_id, tf) \
             SELECT json_extract(value, '$[0]'), $1, json_extract(value, '$[1]') \
             FROM json_each($2) WHERE true \
             ON CONFLICT (term, post_id) DO UPDATE SET tf = excluded.tf",
    pg: "INSERT INTO search_postings (term, post_id, tf) \
         SELECT e->>0, $1, (e->>1)::bigint FROM json_array_elements($2::json) AS e \
         ON CONFLICT (term, post_id) DO UPDATE SET tf = excluded.tf",
};

const WRITE_DOCUMENT: Sql = Sql::both(
    "INSERT INTO search_documents (post_id, length, excerpt) VALUES ($1, $2, $3) \
     ON CONFLICT (post_id) DO UPDATE SET length = excluded.length, excerpt = excluded.excerpt",
);

/// The post's `updated_at`, locking its row on PostgreSQL (on SQLite the write lock is the
/// transaction's): an entry is written only for the post as it was read, and two writers of
/// one post's entry take turns.
const LOCK_POST: Sql = Sql {
    sqlite: "SELECT updated_at FROM posts WHERE id = $1",
    pg: "SELECT updated_at FROM posts WHERE id = $1 FOR UPDATE",
};

/// What an entry is made of, read inside the write that changed the post.
const POST_TEXT: Sql = Sql::both("SELECT title, description, body FROM posts WHERE id = $1");

/// How many indexed posts hold each term of the JSON array `$1` (0 for a term none holds):
/// one index range count per term.
const FREQUENCIES: Sql = Sql {
    sqlite: "SELECT q.value, (SELECT COUNT(*) FROM search_postings s WHERE s.term = q.value) \
             FROM json_each($1) AS q",
    pg: "SELECT q.term, (SELECT COUNT(*) FROM search_postings s WHERE s.term = q.term) \
         FROM json_array_elements_text($1::json) AS q(term)",
};

const STATS: Sql =
    Sql::both("SELECT COUNT(*), CAST(COALESCE(SUM(length), 0) AS BIGINT) FROM search_documents");

/// BM25 (k1 = 1.2, b = 0.75) over `$1`, a JSON array of `[term, idf]`, for published posts
/// holding every term (`$6` distinct terms); `$2` is the mean length. Ties go to the newer post.
/// The outer query adds each hit's excerpt. SQLite takes `CROSS JOIN` as the order to join in:
/// from each term's postings to their posts, never from every published post to its postings;
/// PostgreSQL plans the order itself.
macro_rules! ranked {
    ($terms:literal) => {
        concat!(
            "SELECT r.post_id, r.score, d.excerpt FROM (SELECT s.post_id, SUM(q.idf * CAST(s.tf AS DOUBLE PRECISION) * 2.2 \
                 / (CAST(s.tf AS DOUBLE PRECISION) + 1.2 * (0.25 + 0.75 \
                    * CAST(d.length AS DOUBLE PRECISION) / CAST($2 AS DOUBLE PRECISION)))) AS score \
             FROM ", $terms, " CROSS JOIN search_postings s CROSS JOIN search_documents d \
             CROSS JOIN posts p \
             WHERE s.term = q.term AND d.post_id = s.post_id AND p.id = s.post_id \
               AND p.status = 'published' \
               AND ($3 IS NULL OR p.language = $3) \
               AND ($4 IS NULL OR p.author_id = $4) \
               AND ($5 IS NULL OR EXISTS (SELECT 1 FROM post_tags pt JOIN tags t ON t.id = pt.tag_id \
                                          WHERE pt.post_id = p.id AND t.name = $5)) \
             GROUP BY s.post_id HAVING COUNT(*) = $6 \
             ORDER BY score DESC, s.post_id DESC LIMIT $7 OFFSET $8) AS r \
             JOIN search_documents d ON d.post_id = r.post_id \
             ORDER BY r.score DESC, r.post_id DESC"
        )
    };
}

const RANKED: Sql = Sql {
    sqlite: ranked!(
        "(SELECT json_extract(value, '$[0]') AS term, json_extract(value, '$[1]') AS idf \
          FROM json_each($1)) AS q"
    ),
    pg: ranked!(
        "(SELECT e->>0 AS term, (e->>1)::float8 AS idf \
          FROM json_array_elements($1::json) AS e) AS q"
    ),
};

const TO_INDEX: Sql = Sql::both(
    "SELECT id, updated_at, title, description, body FROM posts p WHERE id > $1 \
     AND (NOT $3 OR NOT EXISTS (SELECT 1 FROM search_documents d WHERE d.post_id = p.id)) \
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
        on_tx!(self, &mut *tx, FORGET_POSTINGS, |ex, sql| {
            sqlx::query(sql)
                .bind(post.get())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        let postings = json_list(&document.postings)?;
        on_tx!(self, &mut *tx, WRITE_POSTINGS, |ex, sql| {
            sqlx::query(sql)
                .bind(post.get())
                .bind(&postings)
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        on_tx!(self, &mut *tx, WRITE_DOCUMENT, |ex, sql| {
            sqlx::query(sql)
                .bind(post.get())
                .bind(i64::from(document.length))
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
    async fn term_frequencies(&self, terms: &[String]) -> Result<Vec<(String, i64)>> {
        let terms = json_list(terms)?;
        on_reader!(self, FREQUENCIES, |ex, sql| {
            sqlx::query_as(sql).bind(&terms).fetch_all(ex).await
        })
        .map_err(db_error)
    }

    async fn search_stats(&self) -> Result<SearchStats> {
        let (documents, length): (i64, i64) = on_reader!(self, STATS, |ex, sql| {
            sqlx::query_as(sql).fetch_one(ex).await
        })
        .map_err(db_error)?;
        Ok(SearchStats {
            documents,
            total_length: length,
        })
    }

    async fn search(&self, query: &IndexQuery) -> Result<Vec<Ranked>> {
        let terms = json_list(&query.terms)?;
        let distinct = i64::try_from(query.terms.len()).unwrap_or(i64::MAX);
        let rows: Vec<(i64, f64, String)> = on_reader!(self, RANKED, |ex, sql| {
            sqlx::query_as(sql)
                .bind(&terms)
                .bind(query.average_length)
                .bind(query.language.as_deref())
                .bind(query.author.map(UserId::get))
                .bind(query.tag.as_deref())
                .bind(distinct)
                .bind(i64::from(query.limit))
                .bind(i64::from(query.offset))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, score, excerpt)| (PostId::new(id), score, excerpt))
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
