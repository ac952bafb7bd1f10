//! Idempotency keys.

use quire_core::events::{Aggregate, Event};
use quire_core::model::{Claim, IdempotentResponse};
use quire_core::ports::IdempotencyStore;
use quire_core::service::idempotency::claimed_key;
use quire_core::time::Timestamp;
use quire_core::{Error, FieldErrors, Result};

use crate::db::{Db, Tx};
use crate::error::db_error;
use crate::sql::{Sql, on_tx, on_writer};

/// Forgets this caller's key if it expired, or if its claim died before completing (the
/// process stopped, or the request was dropped) and is older than a request can run; and up to
/// 16 of the oldest expired keys of anyone. Claims prune a little each, so no sweep is needed;
/// on PostgreSQL they skip keys another claim is pruning instead of waiting on them, so
/// concurrent claims never queue on the same expired rows.
const FORGET_EXPIRED: Sql = Sql {
    sqlite: "DELETE FROM idempotency_keys WHERE (user_id, key) IN (SELECT user_id, key \
             FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT 16) \
             OR (user_id = $2 AND key = $3 \
                 AND (created_at < $1 \
                      OR (status IS NULL AND committed_id IS NULL AND created_at < $4)))",
    pg: "WITH expired AS (DELETE FROM idempotency_keys WHERE (user_id, key) IN \
         (SELECT user_id, key FROM idempotency_keys WHERE created_at < $1 \
         AND NOT (user_id = $2 AND key = $3) \
         ORDER BY created_at LIMIT 16 FOR UPDATE SKIP LOCKED)) \
         DELETE FROM idempotency_keys WHERE user_id = $2 AND key = $3 \
         AND (created_at < $1 OR (status IS NULL AND committed_id IS NULL AND created_at < $4))",
};

const CLAIM: Sql = Sql::both(
    "INSERT INTO idempotency_keys (user_id, key, fingerprint, created_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT DO NOTHING",
);

const FIND: Sql = Sql::both(
    "SELECT fingerprint, status, headers, body, committed_type, committed_id \
     FROM idempotency_keys WHERE user_id = $1 AND key = $2",
);

const COMPLETE: Sql = Sql::both(
    "UPDATE idempotency_keys SET status = $3, headers = $4, body = $5 WHERE user_id = $1 AND key = $2",
);

/// A key whose change committed is kept: a retry must learn of the change, not make it again.
const RELEASE: Sql = Sql::both(
    "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND status IS NULL \
     AND committed_id IS NULL",
);

/// Marks a claimed key with the aggregate its request created, inside that write's
/// transaction: the first such write marks it, later ones keep the mark. Only the claim made
/// at `$5` is marked: if it was given up and the key claimed again, nothing is.
const MARK_COMMITTED: Sql = Sql::both(
    "UPDATE idempotency_keys SET committed_type = COALESCE(committed_type, $3), \
     committed_id = COALESCE(committed_id, $4) \
     WHERE user_id = $1 AND key = $2 AND created_at = $5 AND status IS NULL",
);

type Stored = (
    String,
    Option<i64>,
    Option<String>,
    Option<Vec<u8>>,
    Option<String>,
    Option<i64>,
);

impl Db {
    /// Marks the key the running request claimed ([`claimed_key`]), if any, with the first of
    /// `events` about the kind of aggregate the request creates, inside the open write `tx`.
    ///
    /// # Errors
    /// [`Error::Conflict`] on `Idempotency-Key` when the claim was given up meanwhile (the
    /// request ran past `ABANDONED_CLAIM_MILLIS`) and the write must not commit: a retry
    /// holds the key now.
    pub(crate) async fn mark_claimed_key(&self, tx: &mut Tx, events: &[Event]) -> Result<()> {
        let Some(claimed) = claimed_key() else {
            return Ok(());
        };
        let Some(aggregate) = events
            .iter()
            .map(|event| event.kind.aggregate())
            .find(|aggregate| aggregate.kind() == claimed.creates)
        else {
            return Ok(());
        };
        let marked = on_tx!(self, &mut *tx, MARK_COMMITTED, |ex, sql| {
            sqlx::query(sql)
                .bind(claimed.scope)
                .bind(&claimed.key)
                .bind(aggregate.kind())
                .bind(aggregate.id())
                .bind(claimed.claimed_at.as_millis())
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)?;
        if marked == 0 {
            return Err(Error::Conflict(FieldErrors::single(
                "Idempotency-Key",
                "was given up while this request ran, and is another request's now",
            )));
        }
        Ok(())
    }
}

impl IdempotencyStore for Db {
    async fn claim_key(
        &self,
        scope: i64,
        key: &str,
        fingerprint: &str,
        at: Timestamp,
        expired_before: Timestamp,
        abandoned_before: Timestamp,
    ) -> Result<Claim> {
        on_writer!(self, FORGET_EXPIRED, |ex, sql| {
            sqlx::query(sql)
                .bind(expired_before.as_millis())
                .bind(scope)
                .bind(key)
                .bind(abandoned_before.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        let claimed = on_writer!(self, CLAIM, |ex, sql| {
            sqlx::query(sql)
                .bind(scope)
                .bind(key)
                .bind(fingerprint)
                .bind(at.as_millis())
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)?;
        if claimed == 1 {
            return Ok(Claim::Claimed { at });
        }
        // Read from the writer's side: the claim was just decided there.
        let found: Option<Stored> = on_writer!(self, FIND, |ex, sql| {
            sqlx::query_as(sql)
                .bind(scope)
                .bind(key)
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        let Some((stored_fingerprint, status, headers, body, committed_type, committed_id)) = found
        else {
            // Released between our claim and our look: the caller may simply retry.
            return Ok(Claim::InProgress);
        };
        if stored_fingerprint != fingerprint {
            return Ok(Claim::Mismatch);
        }
        let Some(status) = status else {
            let committed = committed_type
                .zip(committed_id)
                .and_then(|(kind, id)| Aggregate::from_parts(&kind, id));
            return Ok(committed.map_or(Claim::InProgress, Claim::Committed));
        };
        let headers: Vec<(String, String)> =
            serde_json::from_str(headers.as_deref().unwrap_or("[]"))
                .map_err(|error| Error::internal(format!("stored headers: {error}")))?;
        Ok(Claim::Replay(IdempotentResponse {
            status: u16::try_from(status).map_err(Error::internal)?,
            headers,
            body: body.unwrap_or_default(),
        }))
    }

    async fn complete_key(
        &self,
        scope: i64,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<()> {
        let headers = serde_json::to_string(&response.headers).map_err(Error::internal)?;
        on_writer!(self, COMPLETE, |ex, sql| {
            sqlx::query(sql)
                .bind(scope)
                .bind(key)
                .bind(i64::from(response.status))
                .bind(&headers)
                .bind(&response.body)
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)
    }

    async fn release_key(&self, scope: i64, key: &str) -> Result<()> {
        on_writer!(self, RELEASE, |ex, sql| {
            sqlx::query(sql)
                .bind(scope)
                .bind(key)
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)
    }
}
