//! Webhook endpoints, their deliveries and delivery log in the schema (admins only): the
//! types, and the resolvers `Query` and `Mutation` call.

use std::marker::PhantomData;

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use quire_core::Resource;
use quire_core::ids::{DeliveryId, WebhookId};
use quire_core::ports::Store;
use quire_core::service::{WebhookDraft, WebhookUpdate};
use quire_core::time::Timestamp;
use quire_core::webhooks::{Attempt, Delivery, Webhook};

use crate::context::ContextExt;
use crate::error::OrGraphql;
use crate::mutation::patch;
use crate::types::{cost, page_size, parse_id};

/// A webhook endpoint: where quire POSTs the events it subscribes to, signed after the
/// Standard Webhooks specification.
pub struct WebhookNode<S> {
    webhook: Webhook,
    store: PhantomData<fn() -> S>,
}

#[Object(name = "Webhook")]
impl<S: Store> WebhookNode<S> {
    async fn id(&self) -> ID {
        ID(self.webhook.id.to_string())
    }

    async fn url(&self) -> &str {
        self.webhook.url.as_str()
    }

    async fn description(&self) -> &str {
        &self.webhook.description
    }

    /// The event types it receives, or `["*"]` for every type.
    async fn event_types(&self) -> Vec<&'static str> {
        self.webhook.event_types.as_slice().to_vec()
    }

    async fn enabled(&self) -> bool {
        self.webhook.enabled
    }

    /// Why a delivery disabled it: `gone` (it answered 410).
    async fn disabled_reason(&self) -> Option<&str> {
        self.webhook.disabled_reason.as_deref()
    }

    /// `closed`, or `open` until `circuitOpenUntil`, after which the next attempt is a probe.
    async fn circuit(&self) -> &'static str {
        self.webhook.circuit.state()
    }

    async fn consecutive_failures(&self) -> u32 {
        self.webhook.circuit.failures
    }

    /// RFC 3339.
    async fn circuit_open_until(&self) -> Option<String> {
        self.webhook.circuit.open_until.map(Timestamp::to_rfc3339)
    }

    /// RFC 3339.
    async fn created_at(&self) -> String {
        self.webhook.created_at.to_rfc3339()
    }

    /// RFC 3339.
    async fn updated_at(&self) -> String {
        self.webhook.updated_at.to_rfc3339()
    }

    /// Its deliveries, newest first: at most `first` (1 to 100, default 20), with ids below
    /// `before`.
    #[graphql(complexity = "cost(first) * child_complexity")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        before: Option<ID>,
    ) -> async_graphql::Result<Vec<WebhookDelivery>> {
        let before = before
            .map(|id| parse_id(&id, DeliveryId::parse, Resource::Delivery))
            .transpose()?;
        let found = ctx
            .quire::<S>()?
            .webhook_deliveries(ctx.actor()?, self.webhook.id, before, page_size(first)?)
            .await
            .or_graphql()?;
        Ok(found.iter().map(WebhookDelivery::from).collect())
    }

    /// Its delivery log, newest first: at most `first` (1 to 100, default 20) attempts, of
    /// every delivery or of `delivery`.
    #[graphql(complexity = "cost(first) * child_complexity")]
    async fn attempts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        delivery: Option<ID>,
    ) -> async_graphql::Result<Vec<DeliveryAttempt>> {
        let delivery = delivery
            .map(|id| parse_id(&id, DeliveryId::parse, Resource::Delivery))
            .transpose()?;
        let found = ctx
            .quire::<S>()?
            .webhook_attempts(ctx.actor()?, self.webhook.id, delivery, page_size(first)?)
            .await
            .or_graphql()?;
        Ok(found.iter().map(DeliveryAttempt::from).collect())
    }
}

/// One event's delivery to one endpoint.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    id: ID,
    webhook_id: ID,
    /// The event's id, sent as `webhook-id`.
    event_id: String,
    event_type: String,
    /// `pending`, `delivered` or `failed`.
    state: &'static str,
    /// Attempts since it was made (or last redelivered).
    attempts: u32,
    next_attempt_at: Option<String>,
    created_at: String,
    finished_at: Option<String>,
}

impl From<&Delivery> for WebhookDelivery {
    fn from(delivery: &Delivery) -> Self {
        Self {
            id: ID(delivery.id.to_string()),
            webhook_id: ID(delivery.webhook.to_string()),
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

/// One attempt at a delivery, as the delivery log keeps it.
#[derive(SimpleObject)]
pub struct DeliveryAttempt {
    delivery_id: ID,
    event_id: String,
    event_type: String,
    attempted_at: String,
    /// The endpoint's HTTP status; null when it did not answer.
    status: Option<u16>,
    latency_millis: u32,
    /// The first 1,024 bytes of the response body.
    response: String,
    /// Why the endpoint did not answer.
    error: Option<String>,
}

impl From<&Attempt> for DeliveryAttempt {
    fn from(attempt: &Attempt) -> Self {
        Self {
            delivery_id: ID(attempt.delivery.to_string()),
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

/// A newly registered endpoint and its signing secret (`whsec_…`).
pub struct CreatedWebhook<S> {
    webhook: WebhookNode<S>,
    secret: String,
}

#[Object(name = "CreatedWebhook")]
impl<S: Store> CreatedWebhook<S> {
    async fn webhook(&self) -> &WebhookNode<S> {
        &self.webhook
    }

    /// `whsec_` and the key in base64 (Standard Webhooks).
    async fn secret(&self) -> &str {
        &self.secret
    }
}

#[derive(InputObject)]
pub struct CreateWebhookInput {
    pub url: String,
    pub description: Option<String>,
    /// Documented event types, or `["*"]`; every type when absent.
    pub event_types: Option<Vec<String>>,
    /// `whsec_` and a 24- to 64-byte key in base64; generated when absent.
    pub secret: Option<String>,
    /// True when absent.
    pub enabled: Option<bool>,
}

/// Changes to an endpoint: an absent field stays; null event types mean every type;
/// enabling also closes the circuit.
#[derive(InputObject, Default)]
pub struct UpdateWebhookInput {
    pub url: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub event_types: MaybeUndefined<Vec<String>>,
    pub enabled: MaybeUndefined<bool>,
}

fn node<S: Store>(webhook: Webhook) -> WebhookNode<S> {
    WebhookNode {
        webhook,
        store: PhantomData,
    }
}

fn webhook_id(id: &ID) -> async_graphql::Result<WebhookId> {
    parse_id(id, WebhookId::parse, Resource::Webhook)
}

pub(crate) async fn webhooks<S: Store>(
    ctx: &Context<'_>,
) -> async_graphql::Result<Vec<WebhookNode<S>>> {
    let found = ctx
        .quire::<S>()?
        .webhooks(ctx.actor()?)
        .await
        .or_graphql()?;
    Ok(found.into_iter().map(node::<S>).collect())
}

pub(crate) async fn webhook<S: Store>(
    ctx: &Context<'_>,
    id: &ID,
) -> async_graphql::Result<WebhookNode<S>> {
    let webhook = ctx
        .quire::<S>()?
        .webhook(ctx.actor()?, webhook_id(id)?)
        .await
        .or_graphql()?;
    Ok(node::<S>(webhook))
}

pub(crate) async fn secret<S: Store>(ctx: &Context<'_>, id: &ID) -> async_graphql::Result<String> {
    let secret = ctx
        .quire::<S>()?
        .webhook_secret(ctx.actor()?, webhook_id(id)?)
        .await
        .or_graphql()?;
    Ok(secret.expose().to_owned())
}

pub(crate) async fn create<S: Store>(
    ctx: &Context<'_>,
    input: CreateWebhookInput,
) -> async_graphql::Result<CreatedWebhook<S>> {
    let (webhook, secret) = ctx
        .quire::<S>()?
        .create_webhook(
            ctx.actor()?,
            WebhookDraft {
                url: Some(input.url),
                description: input.description,
                event_types: input.event_types,
                secret: input.secret,
                enabled: input.enabled,
            },
        )
        .await
        .or_graphql()?;
    Ok(CreatedWebhook {
        webhook: node::<S>(webhook),
        secret: secret.expose().to_owned(),
    })
}

pub(crate) async fn update<S: Store>(
    ctx: &Context<'_>,
    id: &ID,
    input: UpdateWebhookInput,
) -> async_graphql::Result<WebhookNode<S>> {
    let webhook = ctx
        .quire::<S>()?
        .change_webhook(
            ctx.actor()?,
            webhook_id(id)?,
            WebhookUpdate {
                url: patch(input.url),
                description: patch(input.description),
                event_types: patch(input.event_types),
                enabled: patch(input.enabled),
            },
        )
        .await
        .or_graphql()?;
    Ok(node::<S>(webhook))
}

pub(crate) async fn delete<S: Store>(ctx: &Context<'_>, id: &ID) -> async_graphql::Result<ID> {
    ctx.quire::<S>()?
        .delete_webhook(ctx.actor()?, webhook_id(id)?)
        .await
        .or_graphql()?;
    Ok(id.clone())
}

pub(crate) async fn rotate<S: Store>(
    ctx: &Context<'_>,
    id: &ID,
    secret: Option<String>,
) -> async_graphql::Result<String> {
    let secret = ctx
        .quire::<S>()?
        .rotate_webhook_secret(ctx.actor()?, webhook_id(id)?, secret.as_deref())
        .await
        .or_graphql()?;
    Ok(secret.expose().to_owned())
}

pub(crate) async fn redeliver<S: Store>(
    ctx: &Context<'_>,
    id: &ID,
    delivery: &ID,
) -> async_graphql::Result<WebhookDelivery> {
    let delivery = parse_id(delivery, DeliveryId::parse, Resource::Delivery)?;
    let done = ctx
        .quire::<S>()?
        .redeliver(ctx.actor()?, webhook_id(id)?, delivery)
        .await
        .or_graphql()?;
    Ok(WebhookDelivery::from(&done))
}
