//! Counters that lists report (published posts per site, author and tag; favorites per post
//! and per user), kept exact in the transaction of the change they count, without a row that
//! every writer updates.
//!
//! A counter is the sum of its slot rows in `counter_slots`. A PostgreSQL transaction adds to
//! the slot of its connection (backend pid modulo 16), so two writers wait on each other
//! only when their connections share a slot and they count the same subject; SQLite's single
//! writer always uses slot 0. A transaction collects its changes in a [`Tally`] and applies
//! them last, in one statement, in (counter, subject) order: the slot rows' locks are held only
//! for the commit, and are always taken in the same order, so counting cannot deadlock.
//! Readers sum at most 16 rows per counter (see [`counter_sum`]).

use std::collections::BTreeMap;

use quire_core::Result;
use quire_core::ids::{PostId, UserId};

use crate::db::{Db, Tx};
use crate::error::db_error;
use crate::sql::{Sql, on_tx};

/// PostgreSQL's [`ADD`]: each `{counter, subject, delta}` of the JSON array `$1` added to the
/// slot of this connection, in (counter, subject) order.
macro_rules! add_to_slots_pg {
    () => {
        "INSERT INTO counter_slots (counter, subject, slot, value) \
         SELECT d.counter, d.subject, mod(pg_backend_pid(), 16), d.delta \
         FROM json_to_recordset($1::json) AS d (counter TEXT, subject BIGINT, delta BIGINT) \
         ORDER BY d.counter, d.subject \
         ON CONFLICT (counter, subject, slot) \
         DO UPDATE SET value = counter_slots.value + excluded.value"
    };
}
pub(crate) use add_to_slots_pg;

/// SQLite's [`ADD`], reading the JSON array bound as `$param`: SQLite has one writer, so one
/// slot.
macro_rules! add_to_slots_sqlite {
    ($param:literal) => {
        concat!(
            "INSERT INTO counter_slots (counter, subject, slot, value) \
             SELECT json_extract(value, '$.counter'), json_extract(value, '$.subject'), 0, \
             json_extract(value, '$.delta') FROM json_each(",
            $param,
            ") WHERE true \
             ON CONFLICT (counter, subject, slot) \
             DO UPDATE SET value = counter_slots.value + excluded.value"
        )
    };
}
pub(crate) use add_to_slots_sqlite;

/// Adds each `{counter, subject, delta}` of a JSON array to this connection's slot.
const ADD: Sql = Sql {
    sqlite: add_to_slots_sqlite!("$1"),
    pg: add_to_slots_pg!(),
};

/// Forgets a counter whose subject is gone.
const FORGET: Sql = Sql::both("DELETE FROM counter_slots WHERE counter = $1 AND subject = $2");

/// The value of counter `$name` for the subject given by the SQL expression `$subject`, as a
/// scalar subquery (0 when nothing was ever counted).
macro_rules! counter_sum {
    ($name:literal, $subject:literal) => {
        concat!(
            "(SELECT CAST(COALESCE(SUM(value), 0) AS BIGINT) FROM counter_slots \
             WHERE counter = '",
            $name,
            "' AND subject = ",
            $subject,
            ")"
        )
    };
}
pub(crate) use counter_sum;

/// [`counter_sum`] for a subject expression built at run time (a subquery on placeholders).
pub(crate) fn counter_total(counter: &str, subject: &str) -> String {
    format!(
        "(SELECT CAST(COALESCE(SUM(value), 0) AS BIGINT) FROM counter_slots \
         WHERE counter = '{counter}' AND subject = {subject})"
    )
}

/// A counter of one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Published posts on the site.
    Posts,
    /// Published posts written by a user.
    AuthorPosts(UserId),
    /// Published posts carrying a tag (by tag id).
    TagPosts(i64),
    /// Users who favorited a post.
    PostFavorites(PostId),
    /// Published posts a user favorited.
    UserFavorites(UserId),
}

impl Counter {
    fn key(self) -> (&'static str, i64) {
        match self {
            Self::Posts => ("posts", 0),
            Self::AuthorPosts(user) => ("author_posts", user.get()),
            Self::TagPosts(tag) => ("tag_posts", tag),
            Self::PostFavorites(post) => ("post_favorites", post.get()),
            Self::UserFavorites(user) => ("user_favorites", user.get()),
        }
    }
}

/// The counter changes of one transaction, applied together at its end.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    deltas: BTreeMap<(&'static str, i64), i64>,
}

impl Tally {
    /// Adds `delta` to `counter`.
    pub(crate) fn add(&mut self, counter: Counter, delta: i64) {
        *self.deltas.entry(counter.key()).or_default() += delta;
    }

    /// The changes that change something, as the JSON array [`ADD`] reads, in lock order.
    pub(crate) fn json(&self) -> Result<Option<String>> {
        #[derive(serde::Serialize)]
        struct Delta {
            counter: &'static str,
            subject: i64,
            delta: i64,
        }
        let deltas: Vec<Delta> = self
            .deltas
            .iter()
            .filter(|(_, delta)| **delta != 0)
            .map(|(&(counter, subject), &delta)| Delta {
                counter,
                subject,
                delta,
            })
            .collect();
        if deltas.is_empty() {
            return Ok(None);
        }
        serde_json::to_string(&deltas)
            .map(Some)
            .map_err(quire_core::Error::internal)
    }
}

impl Db {
    /// Applies a transaction's counter changes: call it last, just before committing.
    pub(crate) async fn apply_tally(&self, tx: &mut Tx, tally: &Tally) -> Result<()> {
        let Some(deltas) = tally.json()? else {
            return Ok(());
        };
        on_tx!(self, &mut *tx, ADD, |ex, sql| {
            sqlx::query(sql).bind(&deltas).execute(ex).await.map(drop)
        })
        .map_err(db_error)
    }

    /// Deletes the slot rows of a counter whose subject is being deleted.
    pub(crate) async fn forget_counter(&self, tx: &mut Tx, counter: Counter) -> Result<()> {
        let (name, subject) = counter.key();
        on_tx!(self, &mut *tx, FORGET, |ex, sql| {
            sqlx::query(sql)
                .bind(name)
                .bind(subject)
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_merges_changes_and_orders_them_for_locking() {
        let mut tally = Tally::default();
        tally.add(Counter::UserFavorites(UserId::new(2)), 1);
        tally.add(Counter::TagPosts(9), 1);
        tally.add(Counter::TagPosts(3), 1);
        tally.add(Counter::Posts, 1);
        tally.add(Counter::TagPosts(9), -1);
        let json = tally.json().unwrap().unwrap();
        assert_eq!(
            json,
            r#"[{"counter":"posts","subject":0,"delta":1},{"counter":"tag_posts","subject":3,"delta":1},{"counter":"user_favorites","subject":2,"delta":1}]"#
        );
    }

    #[test]
    fn a_tally_that_changes_nothing_runs_no_statement() {
        let mut tally = Tally::default();
        tally.add(Counter::Posts, 1);
        tally.add(Counter::Posts, -1);
        assert_eq!(tally.json().unwrap(), None);
    }
}
