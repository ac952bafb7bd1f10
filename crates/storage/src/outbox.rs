//! The transactional outbox: writes record their events here in their own transaction
//! ([`Db::record`]); the relay reads pending rows in `seq` order, marks them sent once the bus
//! confirmed them, and prunes sent rows after the retention period. And the leases that let
//! exactly one process run the relay (or any job that one must run) at a time.
//!
//! Writers only insert rows (one statement for all of a write's events); only the relay
//! holding the lease updates or deletes them: no row that every writer touches.

use quire_core::events::{Event, SCHEMA_VERSION};
use quire_core::ports::{Backlog, BoxFuture, OutboxStore, PendingEvent};
use quire_core::time::Timestamp;
use quire_core::{Error, Result};
use serde::Serialize;

use crate::counters::{Tally, add_to_slots_pg, add_to_slots_sqlite};
use crate::db::{Db, Tx};
use crate::error::db_error;
use crate::sql::{Sql, ids_in, json_list, on_reader, on_tx, on_writer};

/// SQLite's [`RECORD`], reading the JSON array bound as `$param`.
macro_rules! record_sqlite {
    ($param:literal) => {
        concat!(
            "INSERT INTO outbox (id, type, aggregate_type, aggregate_id, occurred_at, actor_id, \
             schema_version, data) \
             SELECT json_extract(value, '$.id'), json_extract(value, '$.type'), \
             json_extract(value, '$.aggregate_type'), json_extract(value, '$.aggregate_id'), \
             json_extract(value, '$.occurred_at'), json_extract(value, '$.actor_id'), \
             json_extract(value, '$.schema_version'), json_extract(value, '$.data') \
             FROM json_each(",
            $param,
            ") ORDER BY key"
        )
    };
}

/// PostgreSQL's [`RECORD`], reading the JSON array bound as `$param`.
macro_rules! record_pg {
    ($param:literal) => {
        concat!(
            "INSERT INTO outbox (id, type, aggregate_type, aggregate_id, occurred_at, actor_id, \
             schema_version, data) \
             SELECT e->>'id', e->>'type', e->>'aggregate_type', \
             CAST(e->>'aggregate_id' AS BIGINT), CAST(e->>'occurred_at' AS BIGINT), \
             CAST(e->>'actor_id' AS BIGINT), CAST(e->>'schema_version' AS BIGINT), e->>'data' \
             FROM json_array_elements(",
            $param,
            "::json) WITH ORDINALITY AS recorded(e, n) ORDER BY n"
        )
    };
}

/// All of a write's events in one statement, from a JSON array bound as `$1`, in array order.
const RECORD: Sql = Sql {
    sqlite: record_sqlite!("$1"),
    pg: record_pg!("$1"),
};

/// A write's events (`$2`) and its counters (`$1`) in one round trip to the database. On
/// PostgreSQL the events' insert is a data-modifying `WITH`, which runs whether or not the
/// rest reads it; on SQLite two statements sent as one (sqlx binds `$n` by number in each), so
/// the single writer pays one hand-off to SQLite's worker thread, not two.
const RECORD_AND_COUNT: Sql = Sql {
    sqlite: concat!(record_sqlite!("$2"), "; ", add_to_slots_sqlite!("$1")),
    pg: concat!(
        "WITH recorded AS (",
        record_pg!("$2"),
        ") ",
        add_to_slots_pg!()
    ),
};

const PENDING: Sql = Sql::both(
    "SELECT seq, id, type, occurred_at, actor_id, data FROM outbox \
     WHERE sent_at IS NULL AND seq > $2 ORDER BY seq LIMIT $1",
);

const MARK_SENT: Sql = Sql {
    sqlite: concat!(
        "UPDATE outbox SET sent_at = $1 WHERE seq IN ",
        ids_in!(sqlite, "$2")
    ),
    pg: concat!(
        "UPDATE outbox SET sent_at = $1 WHERE seq IN ",
        ids_in!(pg, "$2")
    ),
};

const PRUNE: Sql = Sql::both(
    "DELETE FROM outbox WHERE seq IN \
     (SELECT seq FROM outbox WHERE sent_at < $1 ORDER BY sent_at LIMIT $2)",
);

const BACKLOG: Sql = Sql::both(
    "SELECT CAST(COUNT(*) AS BIGINT), MIN(occurred_at) FROM outbox WHERE sent_at IS NULL",
);

/// Takes a free or expired lease, or renews one's own; returns a row when `$2` holds it.
const ACQUIRE_LEASE: Sql = Sql::both(
    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $4) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
     WHERE leases.holder = excluded.holder OR leases.expires_at < $3 \
     RETURNING holder",
);

const RELEASE_LEASE: Sql = Sql::both("DELETE FROM leases WHERE name = $1 AND holder = $2");

/// One event as [`RECORD`] reads it.
#[derive(Serialize)]
struct Recorded<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    aggregate_type: &'static str,
    aggregate_id: i64,
    occurred_at: i64,
    actor_id: Option<i64>,
    schema_version: u32,
    /// The event's `data` as JSON text.
    data: String,
}

impl Db {
    /// Runs `stmt` (binding `binds`, integers all) as one write that may change nothing, and
    /// records `events` in the same transaction only if it changed a row. Errors go through
    /// `error`.
    pub(crate) async fn change_recording(
        &self,
        stmt: Sql,
        binds: &[i64],
        events: &[Event],
        error: fn(sqlx::Error) -> Error,
    ) -> Result<()> {
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            let changed = on_tx!(self, &mut tx, stmt, |ex, sql| {
                let mut query = sqlx::query(sql);
                for bind in binds {
                    query = query.bind(*bind);
                }
                query.execute(ex).await.map(|done| done.rows_affected())
            })
            .map_err(error)?;
            if changed > 0 {
                self.record(&mut tx, events).await?;
            }
            self.commit(tx).await
        })
        .await
    }

    /// Records `events` and applies `tally` inside the open write `tx`, in one statement when
    /// there are both (the counters after every other table the write changes, as `counters`
    /// asks; the audit rows and the idempotency key that follow touch no counter).
    pub(crate) async fn record_and_count(
        &self,
        tx: &mut Tx,
        events: &[Event],
        tally: &Tally,
    ) -> Result<()> {
        let Some(deltas) = tally.json()?.filter(|_| !events.is_empty()) else {
            self.record(tx, events).await?;
            return self.apply_tally(tx, tally).await;
        };
        let rows = recorded_rows(events)?;
        on_tx!(self, &mut *tx, RECORD_AND_COUNT, |ex, sql| {
            sqlx::query(sql)
                .bind(&deltas)
                .bind(&rows)
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)?;
        self.recorded_in(tx, events).await
    }

    /// Records `events` in the outbox inside the open write `tx`, in order.
    pub(crate) async fn record(&self, tx: &mut Tx, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let rows = recorded_rows(events)?;
        on_tx!(self, &mut *tx, RECORD, |ex, sql| {
            sqlx::query(sql).bind(&rows).execute(ex).await.map(drop)
        })
        .map_err(db_error)?;
        self.recorded_in(tx, events).await
    }

    /// What follows `events` being written to the outbox in `tx`: the audit log's rows, the
    /// events kept to tell after commit, the idempotency key's outcome.
    async fn recorded_in(&self, tx: &mut Tx, events: &[Event]) -> Result<()> {
        self.record_audit(tx, events).await?;
        tx.recorded.extend_from_slice(events);
        self.mark_claimed_key(tx, events).await
    }
}

/// `events` as the JSON array [`RECORD`] reads.
fn recorded_rows(events: &[Event]) -> Result<String> {
    json_list(events.iter().map(|event| {
        let aggregate = event.kind.aggregate();
        Recorded {
            id: event.id.as_str(),
            kind: event.kind.type_name(),
            aggregate_type: aggregate.kind(),
            aggregate_id: aggregate.id(),
            occurred_at: event.occurred_at.as_millis(),
            actor_id: event.actor.map(|actor| actor.get()),
            schema_version: SCHEMA_VERSION,
            data: event.data_json(),
        }
    }))
}

type PendingRow = (i64, String, String, i64, Option<i64>, String);

impl OutboxStore for Db {
    async fn pending_events(&self, after: Option<i64>, limit: u32) -> Result<Vec<PendingEvent>> {
        // Read through the writer's path on SQLite too would queue behind writes; a reader
        // sees every committed row, which is all the relay may send.
        let rows: Vec<PendingRow> = on_reader!(self, PENDING, |ex, sql| {
            sqlx::query_as(sql)
                .bind(i64::from(limit))
                .bind(after.unwrap_or(0))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        rows.into_iter()
            .map(|(seq, id, kind, occurred_at, actor, data)| {
                let data = serde_json::from_str(&data)
                    .map_err(|error| Error::internal(format!("outbox row {seq}: {error}")))?;
                let event = Event::from_parts(&id, &kind, occurred_at, actor, data)
                    .map_err(|error| Error::internal(format!("outbox row {seq}: {error}")))?;
                Ok(PendingEvent { seq, event })
            })
            .collect()
    }

    async fn mark_events_sent(&self, seqs: &[i64], at: Timestamp) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let seqs = json_list(seqs)?;
        on_writer!(self, MARK_SENT, |ex, sql| {
            sqlx::query(sql)
                .bind(at.as_millis())
                .bind(&seqs)
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)
    }

    async fn prune_sent_events(&self, sent_before: Timestamp, limit: u32) -> Result<u64> {
        on_writer!(self, PRUNE, |ex, sql| {
            sqlx::query(sql)
                .bind(sent_before.as_millis())
                .bind(i64::from(limit))
                .execute(ex)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(db_error)
    }

    async fn outbox_backlog(&self) -> Result<Backlog> {
        let (pending, oldest): (i64, Option<i64>) = on_reader!(self, BACKLOG, |ex, sql| {
            sqlx::query_as(sql).fetch_one(ex).await
        })
        .map_err(db_error)?;
        Ok(Backlog {
            pending: u64::try_from(pending).unwrap_or(0),
            oldest: oldest.map(Timestamp::from_millis),
        })
    }

    fn recorded(&self) -> BoxFuture<'static, ()> {
        let recorded = std::sync::Arc::clone(&self.recorded);
        Box::pin(async move { recorded.notified().await })
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool> {
        let held: Option<String> = on_writer!(self, ACQUIRE_LEASE, |ex, sql| {
            sqlx::query_scalar(sql)
                .bind(name)
                .bind(holder)
                .bind(now.as_millis())
                .bind(until.as_millis())
                .fetch_optional(ex)
                .await
        })
        .map_err(db_error)?;
        Ok(held.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        on_writer!(self, RELEASE_LEASE, |ex, sql| {
            sqlx::query(sql)
                .bind(name)
                .bind(holder)
                .execute(ex)
                .await
                .map(drop)
        })
        .map_err(db_error)
    }
}
