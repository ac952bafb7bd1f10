//! Webhook endpoints, their deliveries and the delivery log (`migrations/*/0006_webhooks.sql`).
//!
//! Secrets arrive sealed by the core's `SecretBox` and are stored as given: this module never
//! sees one in clear.

use quire_core::events::Event;
use quire_core::ids::{DeliveryId, WebhookId};
use quire_core::ports::WebhookStore;
use quire_core::time::Timestamp;
use quire_core::webhooks::{
    Attempt, AttemptOutcome, Circuit, Delivery, DeliveryState, DueDelivery, EventTypes, NewWebhook,
    SealedSecrets, Webhook, WebhookChanges, WebhookUrl,
};
use quire_core::{Error, Result};
use serde::Serialize;

use crate::db::Db;
use crate::error::db_error;
use crate::sql::{Sql, json_list, on_reader, on_tx, on_writer};

macro_rules! webhook_columns {
    () => {
        "id, url, description, event_types, enabled, disabled_reason, failures, open_until, \
         created_at, updated_at"
    };
}

const LIST: Sql = Sql::both(concat!(
    "SELECT ",
    webhook_columns!(),
    " FROM webhooks ORDER BY id"
));

const GET: Sql = Sql::both(concat!(
    "SELECT ",
    webhook_columns!(),
    " FROM webhooks WHERE id = $1"
));

const INSERT: Sql = Sql::both(concat!(
    "INSERT INTO webhooks (url, description, event_types, secret, enabled, created_at, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
    webhook_columns!()
));

/// Enabling (`$5` true) closes the circuit and forgets why the endpoint was disabled.
const UPDATE: Sql = Sql::both(concat!(
    "UPDATE webhooks SET url = COALESCE($2, url), description = COALESCE($3, description), \
     event_types = COALESCE($4, event_types), enabled = COALESCE($5, enabled), \
     disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END, \
     failures = CASE WHEN $5 THEN 0 ELSE failures END, \
     open_until = CASE WHEN $5 THEN NULL ELSE open_until END, \
     updated_at = $6 WHERE id = $1 RETURNING ",
    webhook_columns!()
));

const DELETE: Sql = Sql::both("DELETE FROM webhooks WHERE id = $1");

const SECRETS: Sql =
    Sql::both("SELECT secret, previous_secret, previous_secret_until FROM webhooks WHERE id = $1");

const SET_SECRETS: Sql = Sql::both(
    "UPDATE webhooks SET secret = $2, previous_secret = $3, previous_secret_until = $4, \
     updated_at = $5 WHERE id = $1 AND secret = $6",
);

/// One delivery per (event in the JSON array `$1`, enabled endpoint whose types match it: its
/// type, or the event's `wildcard` when it has one), due at `$2`; those already made are left
/// alone.
const ENQUEUE: Sql = Sql {
    sqlite: "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, payload, state, \
             attempts, next_attempt_at, created_at) \
             SELECT w.id, json_extract(e.value, '$.id'), json_extract(e.value, '$.type'), \
             json_extract(e.value, '$.payload'), 'pending', 0, $2, $2 \
             FROM json_each($1) AS e JOIN webhooks AS w ON w.enabled \
             AND EXISTS (SELECT 1 FROM json_each(w.event_types) AS t \
             WHERE t.value IN (json_extract(e.value, '$.wildcard'), json_extract(e.value, '$.type'))) \
             WHERE true ORDER BY e.key, w.id \
             ON CONFLICT (webhook_id, event_id) DO NOTHING",
    pg: "INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, payload, state, \
         attempts, next_attempt_at, created_at) \
         SELECT w.id, e->>'id', e->>'type', e->>'payload', 'pending', 0, $2, $2 \
         FROM json_array_elements($1::json) WITH ORDINALITY AS x(e, n) \
         JOIN webhooks AS w ON w.enabled \
         AND EXISTS (SELECT 1 FROM json_array_elements_text(w.event_types::json) AS t(v) \
         WHERE t.v IN (e->>'wildcard', e->>'type')) \
         ORDER BY n, w.id \
         ON CONFLICT (webhook_id, event_id) DO NOTHING",
};

/// Whether any endpoint could receive a delivery: when none, the relay's offer takes no write.
const ANY_ENABLED: Sql = Sql::both("SELECT EXISTS (SELECT 1 FROM webhooks WHERE enabled)");

/// Due deliveries, at most `$3` per endpoint (numbered in each endpoint's order), at most
/// `$2` in all.
const DUE: Sql = Sql::both(
    "SELECT id, webhook_id, event_id, event_type, attempts, next_attempt_at, created_at, \
     payload, url, secret, previous_secret, previous_secret_until, failures, open_until \
     FROM (SELECT d.id, d.webhook_id, d.event_id, d.event_type, d.attempts, \
     d.next_attempt_at, d.created_at, d.payload, w.url, w.secret, w.previous_secret, \
     w.previous_secret_until, w.failures, w.open_until, \
     ROW_NUMBER() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id) AS place \
     FROM webhook_deliveries AS d JOIN webhooks AS w ON w.id = d.webhook_id \
     WHERE d.state = 'pending' AND d.next_attempt_at <= $1 AND w.enabled) AS due \
     WHERE place <= $3 ORDER BY next_attempt_at, id LIMIT $2",
);

const EXPIRE: Sql = Sql::both(
    "UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = NULL, finished_at = $2 \
     WHERE state = 'pending' AND created_at < $1",
);

const PRUNE: Sql = Sql::both(
    "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
     WHERE state <> 'pending' AND finished_at < $1 ORDER BY finished_at LIMIT $2)",
);

const POSTPONE: Sql = Sql::both(
    "UPDATE webhook_deliveries SET next_attempt_at = $2 \
     WHERE webhook_id = $1 AND state = 'pending' AND next_attempt_at < $2",
);

/// The delivery's new state after an attempt; no row when it was deleted meanwhile.
const FINISH_ATTEMPT: Sql = Sql::both(
    "UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, next_attempt_at = $3, \
     finished_at = $4 WHERE id = $1 RETURNING id",
);

const INSERT_ATTEMPT: Sql = Sql::both(
    "INSERT INTO webhook_attempts (delivery_id, webhook_id, attempted_at, status, \
     latency_millis, response, error) VALUES ($1, $2, $3, $4, $5, $6, $7)",
);

/// The endpoint's circuit after an attempt; a reason in `$4` disables it.
const SET_CIRCUIT: Sql = Sql::both(
    "UPDATE webhooks SET failures = $2, open_until = $3, \
     enabled = CASE WHEN CAST($4 AS TEXT) IS NULL THEN enabled ELSE false END, \
     disabled_reason = COALESCE($4, disabled_reason) WHERE id = $1",
);

macro_rules! delivery_columns {
    () => {
        "id, webhook_id, event_id, event_type, state, attempts, next_attempt_at, created_at, \
         finished_at"
    };
}

const DELIVERIES: Sql = Sql::both(concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM webhook_deliveries WHERE webhook_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
));

const ATTEMPTS: Sql = Sql::both(
    "SELECT a.delivery_id, d.event_id, d.event_type, a.attempted_at, a.status, \
     a.latency_millis, a.response, a.error \
     FROM webhook_attempts AS a JOIN webhook_deliveries AS d ON d.id = a.delivery_id \
     WHERE a.webhook_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR a.delivery_id = $2) \
     ORDER BY a.id DESC LIMIT $3",
);

const REDELIVER: Sql = Sql::both(concat!(
    "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = $3, \
     finished_at = NULL WHERE id = $2 AND webhook_id = $1 RETURNING ",
    delivery_columns!()
));

type WebhookRow = (
    i64,
    String,
    String,
    String,
    bool,
    Option<String>,
    i64,
    Option<i64>,
    i64,
    i64,
);

fn webhook(row: WebhookRow) -> Result<Webhook> {
    let (
        id,
        url,
        description,
        types,
        enabled,
        disabled_reason,
        failures,
        open_until,
        created,
        updated,
    ) = row;
    let corrupt = |what: &str| Error::internal(format!("webhook {id}: stored {what} is invalid"));
    let types: Vec<String> = serde_json::from_str(&types).map_err(|_| corrupt("event_types"))?;
    Ok(Webhook {
        id: WebhookId::new(id),
        url: WebhookUrl::parse(&url).map_err(|_| corrupt("url"))?,
        description,
        event_types: EventTypes::parse(types.iter().map(String::as_str))
            .map_err(|_| corrupt("event_types"))?,
        enabled,
        disabled_reason,
        circuit: Circuit {
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            open_until: open_until.map(Timestamp::from_millis),
        },
        created_at: Timestamp::from_millis(created),
        updated_at: Timestamp::from_millis(updated),
    })
}

type DeliveryRow = (
    i64,
    i64,
    String,
    String,
    String,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
);

fn delivery(row: DeliveryRow) -> Result<Delivery> {
    let (id, webhook, event_id, event_type, state, attempts, next, created, finished) = row;
    Ok(Delivery {
        id: DeliveryId::new(id),
        webhook: WebhookId::new(webhook),
        event_id,
        event_type,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| Error::internal(format!("delivery {id}: unknown state {state}")))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: next.map(Timestamp::from_millis),
        created_at: Timestamp::from_millis(created),
        finished_at: finished.map(Timestamp::from_millis),
    })
}

type DueRow = (
    i64,
    i64,
    String,
    String,
    i64,
    Option<i64>,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    i64,
    Option<i64>,
);

type AttemptRow = (
    i64,
    String,
    String,
    i64,
    Option<i64>,
    i64,
    String,
    Option<String>,
);

/// One event as [`ENQUEUE`] reads it.
#[derive(Serialize)]
struct Offered<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    /// The filter besides `type` that matches it (`*`), or none (null) for an opt-in type.
    wildcard: Option<&'static str>,
    payload: String,
}

fn types_json(types: &EventTypes) -> Result<String> {
    json_list(types.as_slice())
}

impl WebhookStore for Db {
    async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let rows: Vec<WebhookRow> = on_reader!(self, LIST, |ex, sql| sqlx::query_as(sql)
            .fetch_all(ex)
            .await)
        .map_err(db_error)?;
        rows.into_iter().map(webhook).collect()
    }

    async fn webhook(&self, id: WebhookId) -> Result<Option<Webhook>> {
        let row: Option<WebhookRow> = on_reader!(self, GET, |ex, sql| {
            sqlx::query_as(sql).bind(id.get()).fetch_optional(ex).await
        })
        .map_err(db_error)?;
        row.map(webhook).transpose()
    }

    async fn insert_webhook(&self, new: &NewWebhook) -> Result<Webhook> {
        let types = types_json(&new.event_types)?;
        let row: WebhookRow = on_writer!(self, INSERT, |ex, sql| {
            sqlx::query_as(sql)
                .bind(new.url.as_str())
                .bind(&new.description)
                .bind(&types)
                .bind(&new.secret)
                .bind(new.enabled)
                .bind(new.at.as_millis())
                .fetch_one(ex)
                .await
        })
        .map_err(db_error)?;
        webhook(row)
    }

    async fn update_webhook(
        &self,
        id: WebhookId,
        changes: &WebhookChanges,
        at: Timestamp,
    ) -> Result<Option<Webhook>> {
        let types = changes.event_types.as_ref().map(types_json).transpose()?;
        let row: Option<WebhookRow> = on_writer!(self, UPDATE, |ex, sql| {
            sqlx::query_as(sql)
                .bind(id.get())
                .bind(changes.url.as_ref().map(WebhookUrl::as_str))
                .bind(changes.description.as_deref())
                .bind(types.as_deref())
                .bind(changes.enabled)
                .bind(at.as_millis())
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        row.map(webhook).transpose()
    }

    async fn delete_webhook(&self, id: WebhookId) -> Result<bool> {
        let deleted = on_writer!(self, DELETE, |ex, sql| {
            sqlx::query(sql)
                .bind(id.get())
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)?;
        Ok(deleted > 0)
    }

    async fn webhook_secrets(&self, id: WebhookId) -> Result<Option<SealedSecrets>> {
        let row: Option<(String, Option<String>, Option<i64>)> =
            on_reader!(self, SECRETS, |ex, sql| {
                sqlx::query_as(sql).bind(id.get()).fetch_optional(ex).await
            })
            .map_err(db_error)?;
        Ok(row.map(|(current, previous, until)| sealed(current, previous, until)))
    }

    async fn set_webhook_secrets(
        &self,
        id: WebhookId,
        secrets: &SealedSecrets,
        replacing: &str,
        at: Timestamp,
    ) -> Result<bool> {
        let (previous, until) = match &secrets.previous {
            Some((previous, until)) => (Some(previous.as_str()), Some(until.as_millis())),
            None => (None, None),
        };
        let changed = on_writer!(self, SET_SECRETS, |ex, sql| {
            sqlx::query(sql)
                .bind(id.get())
                .bind(&secrets.current)
                .bind(previous)
                .bind(until)
                .bind(at.as_millis())
                .bind(replacing)
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)?;
        Ok(changed > 0)
    }

    async fn enqueue_deliveries(&self, events: &[Event], at: Timestamp) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        // Most sites have no endpoint: a read on the reader pool spares the writer (on SQLite,
        // the one writer every request's write waits for).
        let any: bool = on_reader!(self, ANY_ENABLED, |ex, sql| {
            sqlx::query_scalar(sql).fetch_one(ex).await
        })
        .map_err(db_error)?;
        if !any {
            return Ok(());
        }
        let offered = json_list(events.iter().map(|event| Offered {
            id: event.id.as_str(),
            kind: event.kind.type_name(),
            wildcard: quire_core::webhooks::wildcard_of(event.kind.type_name()),
            payload: String::from_utf8_lossy(&event.to_json()).into_owned(),
        }))?;
        on_writer!(self, ENQUEUE, |ex, sql| {
            sqlx::query(sql)
                .bind(&offered)
                .bind(at.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
        per_endpoint: u32,
    ) -> Result<Vec<DueDelivery>> {
        let rows: Vec<DueRow> = on_reader!(self, DUE, |ex, sql| {
            sqlx::query_as(sql)
                .bind(now.as_millis())
                .bind(i64::from(limit))
                .bind(i64::from(per_endpoint))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        rows.into_iter()
            .map(|row| {
                let (id, webhook, event_id, event_type, attempts, next, created, payload, url) = (
                    row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8,
                );
                Ok(DueDelivery {
                    delivery: Delivery {
                        id: DeliveryId::new(id),
                        webhook: WebhookId::new(webhook),
                        event_id,
                        event_type,
                        state: DeliveryState::Pending,
                        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                        next_attempt_at: next.map(Timestamp::from_millis),
                        created_at: Timestamp::from_millis(created),
                        finished_at: None,
                    },
                    url: WebhookUrl::parse(&url).map_err(|_| {
                        Error::internal(format!("webhook {webhook}: stored url is invalid"))
                    })?,
                    payload,
                    secrets: sealed(row.9, row.10, row.11),
                    circuit: Circuit {
                        failures: u32::try_from(row.12).unwrap_or(u32::MAX),
                        open_until: row.13.map(Timestamp::from_millis),
                    },
                })
            })
            .collect()
    }

    async fn expire_deliveries(&self, made_before: Timestamp, at: Timestamp) -> Result<u64> {
        on_writer!(self, EXPIRE, |ex, sql| {
            sqlx::query(sql)
                .bind(made_before.as_millis())
                .bind(at.as_millis())
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)
    }

    async fn prune_deliveries(&self, finished_before: Timestamp, limit: u32) -> Result<u64> {
        on_writer!(self, PRUNE, |ex, sql| {
            sqlx::query(sql)
                .bind(finished_before.as_millis())
                .bind(i64::from(limit))
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)
    }

    async fn postpone_deliveries(&self, webhook: WebhookId, until: Timestamp) -> Result<()> {
        on_writer!(self, POSTPONE, |ex, sql| {
            sqlx::query(sql)
                .bind(webhook.get())
                .bind(until.as_millis())
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)
    }

    async fn record_attempt(&self, webhook: WebhookId, outcome: &AttemptOutcome) -> Result<()> {
        let attempt = &outcome.attempt;
        let finished = (outcome.state != DeliveryState::Pending).then_some(attempt.attempted_at);
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            let finished: Option<i64> = on_tx!(self, &mut tx, FINISH_ATTEMPT, |ex, sql| {
                sqlx::query_scalar(sql)
                    .bind(attempt.delivery.get())
                    .bind(outcome.state.as_str())
                    .bind(outcome.next_attempt_at.map(Timestamp::as_millis))
                    .bind(finished.map(Timestamp::as_millis))
                    .fetch_optional(ex)
                    .await
            })
            .map_err(db_error)?;
            if finished.is_none() {
                // Deleted meanwhile, with its endpoint: nothing to record.
                return self.commit(tx).await;
            }
            on_tx!(self, &mut tx, INSERT_ATTEMPT, |ex, sql| {
                sqlx::query(sql)
                    .bind(attempt.delivery.get())
                    .bind(webhook.get())
                    .bind(attempt.attempted_at.as_millis())
                    .bind(attempt.status.map(i64::from))
                    .bind(i64::from(attempt.latency_millis))
                    .bind(&attempt.response)
                    .bind(attempt.error.as_deref())
                    .execute(ex)
                    .await
                    .map(drop)
            })
            .map_err(db_error)?;
            on_tx!(self, &mut tx, SET_CIRCUIT, |ex, sql| {
                sqlx::query(sql)
                    .bind(webhook.get())
                    .bind(i64::from(outcome.circuit.failures))
                    .bind(outcome.circuit.open_until.map(Timestamp::as_millis))
                    .bind(outcome.disable)
                    .execute(ex)
                    .await
                    .map(drop)
            })
            .map_err(db_error)?;
            self.commit(tx).await
        })
        .await
    }

    async fn deliveries(
        &self,
        webhook: WebhookId,
        before: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        let rows: Vec<DeliveryRow> = on_reader!(self, DELIVERIES, |ex, sql| {
            sqlx::query_as(sql)
                .bind(webhook.get())
                .bind(before.map_or(i64::MAX, DeliveryId::get))
                .bind(i64::from(limit))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        rows.into_iter().map(delivery).collect()
    }

    async fn attempts(
        &self,
        webhook: WebhookId,
        of: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Vec<Attempt>> {
        let rows: Vec<AttemptRow> = on_reader!(self, ATTEMPTS, |ex, sql| {
            sqlx::query_as(sql)
                .bind(webhook.get())
                .bind(of.map(DeliveryId::get))
                .bind(i64::from(limit))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(
                |(delivery, event_id, event_type, at, status, latency, response, error)| Attempt {
                    delivery: DeliveryId::new(delivery),
                    event_id,
                    event_type,
                    attempted_at: Timestamp::from_millis(at),
                    status: status.and_then(|s| u16::try_from(s).ok()),
                    latency_millis: u32::try_from(latency).unwrap_or(u32::MAX),
                    response,
                    error,
                },
            )
            .collect())
    }

    async fn redeliver(
        &self,
        webhook: WebhookId,
        id: DeliveryId,
        at: Timestamp,
    ) -> Result<Option<Delivery>> {
        let row: Option<DeliveryRow> = on_writer!(self, REDELIVER, |ex, sql| {
            sqlx::query_as(sql)
                .bind(webhook.get())
                .bind(id.get())
                .bind(at.as_millis())
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        row.map(delivery).transpose()
    }
}

fn sealed(current: String, previous: Option<String>, until: Option<i64>) -> SealedSecrets {
    SealedSecrets {
        current,
        previous: previous.zip(until.map(Timestamp::from_millis)),
    }
}
