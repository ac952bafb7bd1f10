//! The audit log: who did what to whose account or to the site's security, from where, as
//! `audit.recorded` events on the event stream and rows admins read (`GET /api/v1/audit`).
//! Entries name accounts by id (or, for a sign-in that matched no account, the email as
//! typed: an attempt is worth knowing about) and never carry a secret: no password, token,
//! key or webhook secret.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::events::EventId;
use crate::ids::UserId;
use crate::time::Timestamp;

/// What happened, as dotted lowercase names (OWASP's Logging Vocabulary where it has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditAction {
    #[serde(rename = "authn.login_success")]
    SignInSucceeded,
    #[serde(rename = "authn.login_fail")]
    SignInFailed,
    /// A sign-in refused because the email is locked out, or the failure that locked it.
    #[serde(rename = "authn.login_lock")]
    SignInLocked,
    /// An admin cleared an email's failed sign-ins.
    #[serde(rename = "authn.login_unlock")]
    LockoutCleared,
    /// A used refresh token came back: its session was ended (RFC 9700 section 4.14.2).
    #[serde(rename = "authn.token_reuse")]
    RefreshTokenReused,
    /// An identity at an OpenID provider was linked to an account (by its verified email, or
    /// to the account made for it).
    #[serde(rename = "authn.identity_linked")]
    IdentityLinked,
    #[serde(rename = "authz.roles_changed")]
    RolesChanged,
    #[serde(rename = "user.deactivated")]
    UserDeactivated,
    #[serde(rename = "user.reactivated")]
    UserReactivated,
    #[serde(rename = "user.password_changed")]
    PasswordChanged,
    #[serde(rename = "keys.rotated")]
    KeysRotated,
    #[serde(rename = "webhook.created")]
    WebhookCreated,
    #[serde(rename = "webhook.updated")]
    WebhookUpdated,
    #[serde(rename = "webhook.deleted")]
    WebhookDeleted,
}

impl AuditAction {
    /// The action's name, e.g. `authn.login_fail`.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|name| name.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// One audit entry's content: the data of an `audit.recorded` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditData {
    pub action: AuditAction,
    /// What was acted on: `user/7`, `webhook/3`, `key/<kid>`, `email/<as typed>`.
    pub subject: Option<String>,
    /// The request it came in, when it came over HTTP (`X-Request-Id`).
    pub request_id: Option<String>,
    /// The client's address, as the rate limits see it (trusted proxies considered).
    pub client_ip: Option<String>,
    /// What else is worth knowing, never a secret: roles before and after, a reason.
    #[serde(default)]
    pub details: serde_json::Value,
}

/// An entry as admins read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: EventId,
    pub occurred_at: Timestamp,
    /// Who acted; `None` for an anonymous caller (a failed sign-in) or quire itself.
    pub actor: Option<UserId>,
    pub data: AuditData,
}

tokio::task_local! {
    /// The id of the request the current task serves.
    static REQUEST_ID: Arc<str>;
}

/// Runs `request` as the request `id`: audit entries it records carry the id.
pub async fn in_request<F: Future>(id: Arc<str>, request: F) -> F::Output {
    REQUEST_ID.scope(id, request).await
}

/// The id of the request being served, where a transport set one.
pub fn current_request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

impl AuditData {
    /// An entry for `action` on `subject`, from the current request and client.
    pub fn now(action: AuditAction, subject: Option<String>, details: serde_json::Value) -> Self {
        Self {
            action,
            subject,
            request_id: current_request_id().map(|id| id.to_string()),
            client_ip: crate::limits::current_client().map(|ip: IpAddr| ip.to_string()),
            details,
        }
    }
}
