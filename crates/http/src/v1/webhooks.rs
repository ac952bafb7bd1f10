//! `/api/v1/webhooks`: webhook endpoints, their signing secrets, deliveries and delivery log
//! (admins only; docs/webhooks.md).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use quire_core::ids::{DeliveryId, WebhookId};
use quire_core::paging;
use quire_core::ports::Store;
use quire_core::service::{WebhookDraft, WebhookUpdate};
use quire_core::time::Timestamp;
use quire_core::webhooks::{Attempt, Delivery, SigningSecret, Webhook};
use quire_core::{Error, FieldErrors, Resource};
use serde::{Deserialize, Serialize};

use super::caller::Authenticated;
use super::negotiate::{
    Format, FromWire, Preconditions, Representation, Wire, body_format, parse_body, parse_patch,
};
use super::problem::V1Error;
use super::proto;
use super::users::location;
use crate::AppState;
use crate::caching::Caching;
use crate::patch::Field;

/// A webhook endpoint as `/api/v1` represents it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WebhookRepr {
    webhook_id: i64,
    url: String,
    description: String,
    /// The event types it receives, or `["*"]` for every type.
    event_types: Vec<String>,
    enabled: bool,
    /// Why a delivery disabled it: `gone` (it answered 410).
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    /// `closed`, or `open` until `circuitOpenUntil`, after which the next attempt is a probe.
    circuit: &'static str,
    consecutive_failures: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    circuit_open_until: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl WebhookRepr {
    fn of(webhook: &Webhook) -> Self {
        Self {
            webhook_id: webhook.id.get(),
            url: webhook.url.as_str().to_owned(),
            description: webhook.description.clone(),
            event_types: webhook
                .event_types
                .as_slice()
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            enabled: webhook.enabled,
            disabled_reason: webhook.disabled_reason.clone(),
            circuit: webhook.circuit.state(),
            consecutive_failures: webhook.circuit.failures,
            circuit_open_until: webhook.circuit.open_until.map(Timestamp::to_rfc3339),
            created_at: webhook.created_at.to_rfc3339(),
            updated_at: webhook.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookList {
    items: Vec<WebhookRepr>,
}

/// A newly registered endpoint and its signing secret.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedWebhook {
    webhook: WebhookRepr,
    /// `whsec_` and the key in base64 (Standard Webhooks).
    secret: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookSecret {
    /// `whsec_` and the key in base64 (Standard Webhooks).
    secret: String,
}

impl From<SigningSecret> for WebhookSecret {
    fn from(secret: SigningSecret) -> Self {
        Self {
            secret: secret.expose().to_owned(),
        }
    }
}

/// One event's delivery to one endpoint.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveryRepr {
    delivery_id: i64,
    webhook_id: i64,
    /// The event's id, sent as `webhook-id`.
    event_id: String,
    event_type: String,
    /// `pending`, `delivered` or `failed`.
    state: &'static str,
    /// Attempts since it was made (or last redelivered).
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    finished_at: Option<String>,
}

impl From<&Delivery> for DeliveryRepr {
    fn from(delivery: &Delivery) -> Self {
        Self {
            delivery_id: delivery.id.get(),
            webhook_id: delivery.webhook.get(),
            event_id: delivery.event_id.clone(),
            event_type: delivery.event_type.clone(),
            state: delivery.state.as_str(),
            attempts: delivery.attempts,
            next_attempt_at: delivery.next_attempt_at.map(Timestamp::to_rfc3339),
            created_at: delivery.created_at.to_rfc3339(),
            finished_at: delivery.finished_at.map(Timestamp::to_rfc3339),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveryList {
    items: Vec<DeliveryRepr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// One attempt at a delivery, as the delivery log keeps it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttemptRepr {
    delivery_id: i64,
    event_id: String,
    event_type: String,
    #[schema(format = DateTime)]
    attempted_at: String,
    /// The endpoint's HTTP status; absent when it did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    latency_millis: u32,
    /// The first 1,024 bytes of the endpoint's response body.
    response: String,
    /// Why the endpoint did not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<&Attempt> for AttemptRepr {
    fn from(attempt: &Attempt) -> Self {
        Self {
            delivery_id: attempt.delivery.get(),
            event_id: attempt.event_id.clone(),
            event_type: attempt.event_type.clone(),
            attempted_at: attempt.attempted_at.to_rfc3339(),
            status: attempt.status,
            latency_millis: attempt.latency_millis,
            response: attempt.response.clone(),
            error: attempt.error.clone(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AttemptList {
    items: Vec<AttemptRepr>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct NewWebhook {
    #[schema(required = true, nullable = false)]
    url: Option<String>,
    description: Option<String>,
    /// Documented event types (docs/events.md), or `["*"]`; absent means every type.
    event_types: Option<Vec<String>>,
    /// `whsec_` and a 24- to 64-byte key in base64; generated when absent.
    secret: Option<String>,
    /// `true` when absent.
    enabled: Option<bool>,
}

/// A JSON merge patch (RFC 7396) of an endpoint.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct WebhookPatch {
    #[serde(default)]
    #[schema(value_type = Option<String>, nullable = false)]
    url: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    description: Field<String>,
    /// `null` means every type.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    event_types: Field<Vec<String>>,
    /// `true` also closes the circuit.
    #[serde(default)]
    #[schema(value_type = Option<bool>, nullable = false)]
    enabled: Field<bool>,
}

#[derive(Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretRotation {
    /// The new secret; generated when absent.
    secret: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct DeliveryQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct AttemptQuery {
    limit: Option<String>,
    delivery: Option<String>,
}

fn webhook_id(text: &str) -> Result<WebhookId, V1Error> {
    WebhookId::parse(text).ok_or(V1Error::Core(Error::NotFound(Resource::Webhook)))
}

fn delivery_id(text: &str) -> Result<DeliveryId, V1Error> {
    DeliveryId::parse(text).ok_or(V1Error::Core(Error::NotFound(Resource::Delivery)))
}

fn respond<T: Wire>(
    format: Format,
    root: &str,
    value: &T,
    status: StatusCode,
    caching: Caching,
) -> Result<Response, V1Error> {
    Ok(Representation::of(format, root, value)?.respond(status, caching))
}

/// `GET /api/v1/webhooks`: every endpoint, by id.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    operation_id = "listWebhooks",
    tag = "webhooks",
    security(("bearer" = [])),
    responses((status = 200, description = "every endpoint", body = WebhookList))
)]
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let webhooks = state.quire.webhooks(&actor).await?;
    let body = WebhookList {
        items: webhooks.iter().map(WebhookRepr::of).collect(),
    };
    respond(format, "webhooks", &body, StatusCode::OK, Caching::Private)
}

/// `POST /api/v1/webhooks`: registers an endpoint; 201 with its signing secret.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    operation_id = "createWebhook",
    tag = "webhooks",
    request_body(content = NewWebhook, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 201, description = "registered", body = CreatedWebhook))
)]
pub(crate) async fn create<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    // Only admins learn anything about the body.
    state.quire.webhooks_allowed(&actor)?;
    let input: NewWebhook = parse_body(body_format(&headers, "application/json")?, &body)?;
    let (webhook, secret) = state
        .quire
        .create_webhook(
            &actor,
            WebhookDraft {
                url: input.url,
                description: input.description,
                event_types: input.event_types,
                secret: input.secret,
                enabled: input.enabled,
            },
        )
        .await?;
    let path = format!("/api/v1/webhooks/{}", webhook.id);
    let created = CreatedWebhook {
        webhook: WebhookRepr::of(&webhook),
        secret: secret.expose().to_owned(),
    };
    let response = respond(
        format,
        "created",
        &created,
        StatusCode::CREATED,
        Caching::NoStore,
    )?;
    Ok(location(response, &path))
}

/// `GET /api/v1/webhooks/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    operation_id = "getWebhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the endpoint's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the endpoint", body = WebhookRepr))
)]
pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let webhook = state.quire.webhook(&actor, webhook_id(&id)?).await?;
    let repr = WebhookRepr::of(&webhook);
    respond(format, "webhook", &repr, StatusCode::OK, Caching::Private)
}

/// `PATCH /api/v1/webhooks/{id}`: a JSON merge patch; enabling also closes the circuit.
#[utoipa::path(
    patch,
    path = "/api/v1/webhooks/{id}",
    operation_id = "updateWebhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the endpoint's id")),
    request_body(content = WebhookPatch, content_type = "application/merge-patch+json"),
    security(("bearer" = [])),
    responses((status = 200, description = "changed", body = WebhookRepr))
)]
pub(crate) async fn patch<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    preconditions: Preconditions,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let id = webhook_id(&id)?;
    let current = state.quire.webhook(&actor, id).await?;
    let patch: WebhookPatch = parse_patch(
        body_format(&headers, "application/merge-patch+json")?,
        &body,
    )?;
    Representation::of(format, "webhook", &WebhookRepr::of(&current))?
        .check_if_match(&preconditions)?;
    let webhook = state
        .quire
        .change_webhook(
            &actor,
            id,
            WebhookUpdate {
                url: patch.url.into(),
                description: patch.description.into(),
                event_types: patch.event_types.into(),
                enabled: patch.enabled.into(),
            },
        )
        .await?;
    let repr = WebhookRepr::of(&webhook);
    respond(format, "webhook", &repr, StatusCode::OK, Caching::Private)
}

/// `DELETE /api/v1/webhooks/{id}`: 204, with its deliveries and log.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    operation_id = "deleteWebhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the endpoint's id")),
    security(("bearer" = [])),
    responses((status = 204, description = "deleted"))
)]
pub(crate) async fn delete<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    state.quire.delete_webhook(&actor, webhook_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/webhooks/{id}/secret`: the current signing secret.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/secret",
    operation_id = "getWebhookSecret",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the endpoint's id")),
    security(("bearer" = [])),
    responses((status = 200, description = "the secret", body = WebhookSecret))
)]
pub(crate) async fn secret<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let secret = state.quire.webhook_secret(&actor, webhook_id(&id)?).await?;
    respond(
        format,
        "secret",
        &WebhookSecret::from(secret),
        StatusCode::OK,
        Caching::NoStore,
    )
}

/// `POST /api/v1/webhooks/{id}/secret/rotate`: a new secret (given or generated); for a day
/// deliveries carry signatures by both.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/secret/rotate",
    operation_id = "rotateWebhookSecret",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the endpoint's id")),
    request_body(content = SecretRotation, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 200, description = "the new secret", body = WebhookSecret))
)]
pub(crate) async fn rotate<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let id = webhook_id(&id)?;
    state.quire.webhook(&actor, id).await?;
    let input = if body.is_empty() {
        SecretRotation::default()
    } else {
        parse_body::<SecretRotation>(body_format(&headers, "application/json")?, &body)?
    };
    let secret = state
        .quire
        .rotate_webhook_secret(&actor, id, input.secret.as_deref())
        .await?;
    respond(
        format,
        "secret",
        &WebhookSecret::from(secret),
        StatusCode::OK,
        Caching::NoStore,
    )
}

/// `GET /api/v1/webhooks/{id}/deliveries`: newest first.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    operation_id = "listWebhookDeliveries",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the endpoint's id"), ("limit" = Option<u32>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "from the previous page's nextCursor")),
    security(("bearer" = [])),
    responses((status = 200, description = "the endpoint's deliveries, newest first", body = DeliveryList))
)]
pub(crate) async fn deliveries<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    query: axum::extract::Query<DeliveryQuery>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let id = webhook_id(&id)?;
    let limit = paging::page_size_text("limit", query.limit.as_deref())?;
    let before = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(DeliveryId::parse(text).ok_or_else(|| {
            Error::Malformed(FieldErrors::single(
                "cursor",
                "is not a cursor this server made",
            ))
        })?),
    };
    let mut found = state
        .quire
        .webhook_deliveries(&actor, id, before, limit.saturating_add(1))
        .await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let body = DeliveryList {
        next_cursor: more
            .then(|| found.last().map(|d| d.id.to_string()))
            .flatten(),
        items: found.iter().map(DeliveryRepr::from).collect(),
    };
    respond(
        format,
        "deliveries",
        &body,
        StatusCode::OK,
        Caching::Private,
    )
}

/// `GET /api/v1/webhooks/{id}/attempts`: the delivery log, newest first, of every delivery
/// or of one (`delivery`).
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/attempts",
    operation_id = "listWebhookAttempts",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the endpoint's id"), ("limit" = Option<u32>, Query, description = "1 to 100, default 20"), ("delivery" = Option<i64>, Query, description = "one delivery's attempts only")),
    security(("bearer" = [])),
    responses((status = 200, description = "attempts, newest first", body = AttemptList))
)]
pub(crate) async fn attempts<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    query: axum::extract::Query<AttemptQuery>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let id = webhook_id(&id)?;
    let limit = paging::page_size_text("limit", query.limit.as_deref())?;
    let delivery = match query.delivery.as_deref() {
        None => None,
        Some(text) => Some(DeliveryId::parse(text).ok_or_else(|| {
            Error::Malformed(FieldErrors::single("delivery", "is not a delivery id"))
        })?),
    };
    let found = state
        .quire
        .webhook_attempts(&actor, id, delivery, limit)
        .await?;
    let body = AttemptList {
        items: found.iter().map(AttemptRepr::from).collect(),
    };
    respond(format, "attempts", &body, StatusCode::OK, Caching::Private)
}

/// `POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver`: makes it due now, with a
/// fresh retry schedule; 202. It goes when its endpoint takes deliveries: at once if enabled
/// with a closed circuit, else once re-enabled or at the circuit's probe.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    operation_id = "redeliverWebhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "the endpoint's id"), ("delivery_id" = i64, Path, description = "the delivery's id")),
    security(("bearer" = [])),
    responses((status = 202, description = "due again now", body = DeliveryRepr))
)]
pub(crate) async fn redeliver<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let id = webhook_id(&id)?;
    let delivery = state
        .quire
        .redeliver(&actor, id, delivery_id(&delivery)?)
        .await?;
    respond(
        format,
        "delivery",
        &DeliveryRepr::from(&delivery),
        StatusCode::ACCEPTED,
        Caching::NoStore,
    )
}

impl Wire for WebhookRepr {
    type Proto = proto::Webhook;
    fn proto(&self) -> proto::Webhook {
        proto::Webhook {
            webhook_id: self.webhook_id,
            url: self.url.clone(),
            description: self.description.clone(),
            event_types: self.event_types.clone(),
            enabled: self.enabled,
            disabled_reason: self.disabled_reason.clone(),
            circuit: self.circuit.to_owned(),
            consecutive_failures: self.consecutive_failures,
            circuit_open_until: self.circuit_open_until.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

impl Wire for WebhookList {
    type Proto = proto::WebhookList;
    fn proto(&self) -> proto::WebhookList {
        proto::WebhookList {
            items: self.items.iter().map(Wire::proto).collect(),
        }
    }
}

impl Wire for CreatedWebhook {
    type Proto = proto::CreatedWebhook;
    fn proto(&self) -> proto::CreatedWebhook {
        proto::CreatedWebhook {
            webhook: Some(self.webhook.proto()),
            secret: self.secret.clone(),
        }
    }
}

impl Wire for WebhookSecret {
    type Proto = proto::WebhookSecret;
    fn proto(&self) -> proto::WebhookSecret {
        proto::WebhookSecret {
            secret: self.secret.clone(),
        }
    }
}

impl Wire for DeliveryRepr {
    type Proto = proto::WebhookDelivery;
    fn proto(&self) -> proto::WebhookDelivery {
        proto::WebhookDelivery {
            delivery_id: self.delivery_id,
            webhook_id: self.webhook_id,
            event_id: self.event_id.clone(),
            event_type: self.event_type.clone(),
            state: self.state.to_owned(),
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at.clone(),
            created_at: self.created_at.clone(),
            finished_at: self.finished_at.clone(),
        }
    }
}

impl Wire for DeliveryList {
    type Proto = proto::WebhookDeliveryList;
    fn proto(&self) -> proto::WebhookDeliveryList {
        proto::WebhookDeliveryList {
            items: self.items.iter().map(Wire::proto).collect(),
            next_cursor: self.next_cursor.clone(),
        }
    }
}

impl Wire for AttemptRepr {
    type Proto = proto::DeliveryAttempt;
    fn proto(&self) -> proto::DeliveryAttempt {
        proto::DeliveryAttempt {
            delivery_id: self.delivery_id,
            event_id: self.event_id.clone(),
            event_type: self.event_type.clone(),
            attempted_at: self.attempted_at.clone(),
            status: self.status.map(u32::from),
            latency_millis: self.latency_millis,
            response: self.response.clone(),
            error: self.error.clone(),
        }
    }
}

impl Wire for AttemptList {
    type Proto = proto::DeliveryAttemptList;
    fn proto(&self) -> proto::DeliveryAttemptList {
        proto::DeliveryAttemptList {
            items: self.items.iter().map(Wire::proto).collect(),
        }
    }
}

impl FromWire for NewWebhook {
    type Proto = proto::NewWebhook;
    fn from_proto(message: proto::NewWebhook) -> Self {
        Self {
            url: message.url,
            description: message.description,
            // Protobuf cannot tell an absent list from an empty one: empty means every type.
            event_types: (!message.event_types.is_empty()).then_some(message.event_types),
            secret: message.secret,
            enabled: message.enabled,
        }
    }
}

impl FromWire for SecretRotation {
    type Proto = proto::SecretRotation;
    fn from_proto(message: proto::SecretRotation) -> Self {
        Self {
            secret: message.secret,
        }
    }
}
