//! The audit log's rows: written beside the outbox row of each `audit.recorded` event, in the
//! same transaction, and read newest first by admins.

use quire_core::audit::{AuditData, AuditEntry};
use quire_core::events::{DomainEvent, Event, EventId};
use quire_core::ids::UserId;
use quire_core::ports::AuditStore;
use quire_core::time::Timestamp;
use quire_core::{Error, Result};

use crate::db::{Db, Tx};
use crate::error::db_error;
use crate::sql::{Sql, on_reader, on_tx};

const INSERT: Sql = Sql::both(
    "INSERT INTO audit_log (id, occurred_at, actor_id, action, subject, request_id, client_ip, \
     details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
);

const PAGE: Sql = Sql {
    sqlite: "SELECT id, occurred_at, actor_id, action, subject, request_id, client_ip, details \
             FROM audit_log WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
    pg: "SELECT id, occurred_at, actor_id, action, subject, request_id, client_ip, details \
         FROM audit_log WHERE ($1::text IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
};

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    occurred_at: i64,
    actor_id: Option<i64>,
    action: String,
    subject: Option<String>,
    request_id: Option<String>,
    client_ip: Option<String>,
    details: String,
}

impl Row {
    fn entry(self) -> Result<AuditEntry> {
        let id = EventId::parse(&self.id)
            .ok_or_else(|| Error::internal(format!("audit entry id {}", self.id)))?;
        let action = serde_json::from_value(serde_json::Value::String(self.action))
            .map_err(Error::internal)?;
        Ok(AuditEntry {
            id,
            occurred_at: Timestamp::from_millis(self.occurred_at),
            actor: self.actor_id.map(UserId::new),
            data: AuditData {
                action,
                subject: self.subject,
                request_id: self.request_id,
                client_ip: self.client_ip,
                details: serde_json::from_str(&self.details).map_err(Error::internal)?,
            },
        })
    }
}

impl Db {
    /// Writes the audit rows of `events`' `audit.recorded` ones, in `tx`.
    pub(crate) async fn record_audit(&self, tx: &mut Tx, events: &[Event]) -> Result<()> {
        for event in events {
            let DomainEvent::AuditRecorded(data) = &event.kind else {
                continue;
            };
            let action = data.action.name();
            on_tx!(self, &mut *tx, INSERT, |ex, sql| {
                sqlx::query(sql)
                    .bind(event.id.as_str())
                    .bind(event.occurred_at.as_millis())
                    .bind(event.actor.map(UserId::get))
                    .bind(&action)
                    .bind(data.subject.as_deref())
                    .bind(data.request_id.as_deref())
                    .bind(data.client_ip.as_deref())
                    .bind(data.details.to_string())
                    .execute(ex)
                    .await
                    .map(drop)
            })
            .map_err(db_error)?;
        }
        Ok(())
    }
}

impl AuditStore for Db {
    async fn record_alone(&self, events: &[Event]) -> Result<()> {
        self.retrying(|| async {
            let mut tx = self.begin().await?;
            self.record(&mut tx, events).await?;
            self.commit(tx).await
        })
        .await
    }

    async fn audit_log(&self, before: Option<&EventId>, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows: Vec<Row> = on_reader!(self, PAGE, |ex, sql| {
            sqlx::query_as(sql)
                .bind(before.map(EventId::as_str))
                .bind(i64::from(limit))
                .fetch_all(ex)
                .await
        })
        .map_err(db_error)?;
        rows.into_iter().map(Row::entry).collect()
    }
}
