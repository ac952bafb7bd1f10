//! `/api/v1/audit`: the audit log, newest first (admins only; docs/security.md, "Audit log").

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use quire_core::audit::AuditEntry;
use quire_core::paging;
use quire_core::ports::Store;
use serde::{Deserialize, Serialize};

use super::caller::Authenticated;
use super::negotiate::{Format, Representation, Wire};
use super::problem::V1Error;
use super::proto;
use crate::AppState;
use crate::caching::Caching;

/// An audit entry as `/api/v1` represents it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditEntryRepr {
    /// The entry's id, also its `audit.recorded` event's (a UUIDv7).
    id: String,
    #[schema(format = DateTime)]
    occurred_at: String,
    /// Who acted; absent for an anonymous caller (a sign-in) or quire itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    actor_id: Option<i64>,
    /// What happened, e.g. `authn.login_fail`, `authz.roles_changed`, `webhook.created`.
    action: String,
    /// What it was done to: `user/7`, `webhook/3`, `key/<kid>`, `email/<as typed>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_ip: Option<String>,
    /// Anything else worth knowing (roles before and after, a reason); never a secret.
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

impl From<&AuditEntry> for AuditEntryRepr {
    fn from(entry: &AuditEntry) -> Self {
        Self {
            id: entry.id.to_string(),
            occurred_at: entry.occurred_at.to_rfc3339(),
            actor_id: entry.actor.map(|actor| actor.get()),
            action: entry.data.action.name(),
            subject: entry.data.subject.clone(),
            request_id: entry.data.request_id.clone(),
            client_ip: entry.data.client_ip.clone(),
            details: entry.data.details.clone(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditLog {
    items: Vec<AuditEntryRepr>,
    /// The `cursor` of the next (older) page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

impl Wire for AuditEntryRepr {
    type Proto = proto::AuditEntry;
    fn proto(&self) -> proto::AuditEntry {
        proto::AuditEntry {
            id: self.id.clone(),
            occurred_at: self.occurred_at.clone(),
            actor_id: self.actor_id,
            action: self.action.clone(),
            subject: self.subject.clone(),
            request_id: self.request_id.clone(),
            client_ip: self.client_ip.clone(),
            details_json: self.details.to_string(),
        }
    }
}

impl Wire for AuditLog {
    type Proto = proto::AuditLog;
    fn proto(&self) -> proto::AuditLog {
        proto::AuditLog {
            items: self.items.iter().map(Wire::proto).collect(),
            next: self.next_cursor.clone(),
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v1/audit`: the audit log, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    operation_id = "listAuditEntries",
    tag = "users",
    params(("limit" = Option<u32>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "from the previous page's nextCursor")),
    security(("bearer" = [])),
    responses((status = 200, description = "audit entries, newest first", body = AuditLog))
)]
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    query: Query<AuditQuery>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let limit = paging::page_size_text("limit", query.limit.as_deref())?;
    let mut found = state
        .quire
        .audit_log(&actor, query.cursor.as_deref(), limit.saturating_add(1))
        .await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let body = AuditLog {
        next_cursor: more
            .then(|| found.last().map(|entry| entry.id.to_string()))
            .flatten(),
        items: found.iter().map(AuditEntryRepr::from).collect(),
    };
    Ok(Representation::of(format, "audit", &body)?.respond(StatusCode::OK, Caching::NoStore))
}
