//! Failed sign-ins by account, for brute-force lockouts (`quire_core::ports::SignInStore`).

use quire_core::Result;
use quire_core::ports::{SignInFailures, SignInStore};
use quire_core::time::Timestamp;

use crate::db::Db;
use crate::error::db_error;
use crate::sql::{Sql, on_reader, on_writer};

const FIND: Sql = Sql::both(
    "SELECT account, failures, last_failed_at, locked_until FROM sign_in_failures \
     WHERE account = $1",
);

/// One more failure for `$1` at `$2`; a failure after a quiet spell (the last before `$3`)
/// counts from one again. The count is computed by the row's own update, so concurrent
/// failures each count.
const RECORD: Sql = Sql::both(
    "INSERT INTO sign_in_failures (account, failures, last_failed_at) VALUES ($1, 1, $2) \
     ON CONFLICT (account) DO UPDATE SET \
       failures = CASE WHEN sign_in_failures.last_failed_at < $3 THEN 1 \
                       ELSE sign_in_failures.failures + 1 END, \
       last_failed_at = excluded.last_failed_at \
     RETURNING failures",
);

/// Up to 16 records, of other accounts, that no longer count: their last failure is before
/// `$1` and their lock (if any) has passed by `$2`.
const PRUNE: Sql = Sql {
    sqlite: "DELETE FROM sign_in_failures WHERE account IN (SELECT account \
             FROM sign_in_failures WHERE last_failed_at < $1 \
             AND (locked_until IS NULL OR locked_until <= $2) AND account <> $3 \
             ORDER BY last_failed_at LIMIT 16)",
    pg: "DELETE FROM sign_in_failures WHERE account IN (SELECT account \
         FROM sign_in_failures WHERE last_failed_at < $1 \
         AND (locked_until IS NULL OR locked_until <= $2) AND account <> $3 \
         ORDER BY last_failed_at LIMIT 16 FOR UPDATE SKIP LOCKED)",
};

const LOCK: Sql = Sql {
    sqlite: "UPDATE sign_in_failures SET locked_until = MAX(COALESCE(locked_until, 0), $2) \
             WHERE account = $1",
    pg: "UPDATE sign_in_failures SET locked_until = GREATEST(COALESCE(locked_until, 0), $2) \
         WHERE account = $1",
};

const CLEAR: Sql = Sql::both("DELETE FROM sign_in_failures WHERE account = $1");

const LOCKED: Sql = Sql::both(
    "SELECT account, failures, last_failed_at, locked_until FROM sign_in_failures \
     WHERE locked_until > $1 ORDER BY locked_until DESC, account LIMIT $2",
);

type Row = (String, i64, i64, Option<i64>);

fn failures((account, failures, last_failed_at, locked_until): Row) -> SignInFailures {
    SignInFailures {
        account,
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        last_failed_at: Timestamp::from_millis(last_failed_at),
        locked_until: locked_until.map(Timestamp::from_millis),
    }
}

impl SignInStore for Db {
    async fn sign_in_failures(&self, account: &str) -> Result<Option<SignInFailures>> {
        let row: Option<Row> = on_reader!(self, FIND, |ex, sql| {
            sqlx::query_as(sql).bind(account).fetch_optional(ex).await
        })
        .map_err(db_error)?;
        Ok(row.map(failures))
    }

    async fn record_sign_in_failure(
        &self,
        account: &str,
        at: Timestamp,
        restart_before: Timestamp,
    ) -> Result<u32> {
        let count: i64 = on_writer!(self, RECORD, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(account)
                .bind(at.as_millis())
                .bind(restart_before.as_millis())
                .fetch_one(ex)
                .await
        })
        .map_err(db_error)?;
        on_writer!(self, PRUNE, |ex, sql| {
            sqlx::query(sql)
                .bind(restart_before.as_millis())
                .bind(at.as_millis())
                .bind(account)
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn lock_sign_in(&self, account: &str, until: Timestamp) -> Result<()> {
        on_writer!(self, LOCK, |ex, sql| {
            sqlx::query(sql)
                .bind(account)
                .bind(until.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)
    }

    async fn clear_sign_in_failures(&self, account: &str) -> Result<bool> {
        let cleared = on_writer!(self, CLEAR, |ex, sql| {
            sqlx::query(sql)
                .bind(account)
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)?;
        Ok(cleared > 0)
    }

    async fn sign_in_lockouts(&self, now: Timestamp, limit: u32) -> Result<Vec<SignInFailures>> {
        let rows: Vec<Row> = on_reader!(self, LOCKED, |ex, sql| {
            sqlx::query_as(sql)
                .bind(now.as_millis())
                .bind(i64::from(limit))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(rows.into_iter().map(failures).collect())
    }
}
