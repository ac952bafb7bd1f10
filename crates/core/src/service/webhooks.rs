//! Webhook endpoints (admins only), and delivering committed events to them: signed, retried
//! on a schedule, spared by a circuit breaker while they fail, logged attempt by attempt.

use super::{Patch, Quire};
use crate::audit::AuditAction;
use crate::error::{Error, FieldErrors, Resource, Result};
use crate::events::Event;
use crate::ids::{DeliveryId, WebhookId};
use crate::policy::{self, Actor};
use crate::ports::{Store, WebhookRequest};
use crate::time::Timestamp;
use crate::webhooks::{
    Admission, Attempt, AttemptOutcome, Breaker, Delivery, DeliveryState, DueDelivery, EventTypes,
    LOGGED_RESPONSE_BYTES, MAX_DELIVERY_AGE_MILLIS, NewWebhook, ROTATION_OVERLAP_MILLIS,
    RetrySchedule, SECRET_BYTES, SealedSecrets, SigningSecret, Webhook, WebhookChanges, WebhookUrl,
};

/// A new endpoint as a contract received it, unchecked. Its `Debug` leaves the secret out.
#[derive(Clone, Default)]
pub struct WebhookDraft {
    pub url: Option<String>,
    pub description: Option<String>,
    /// `None`: every type.
    pub event_types: Option<Vec<String>>,
    /// `None`: a secret is generated.
    pub secret: Option<String>,
    /// `None`: enabled.
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for WebhookDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDraft")
            .field("url", &self.url)
            .field("description", &self.description)
            .field("event_types", &self.event_types)
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Changes to an endpoint as a contract received them, unchecked.
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate {
    pub url: Patch<String>,
    pub description: Patch<String>,
    pub event_types: Patch<Vec<String>>,
    pub enabled: Patch<bool>,
}

/// How deliveries are made: the retry schedule and the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    pub retries: RetrySchedule,
    pub breaker: Breaker,
    /// Deliveries per endpoint per round at most.
    pub per_endpoint: u32,
}

/// What one round of delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivered {
    /// Attempts made.
    pub attempts: usize,
    /// Of those, answered 2xx.
    pub succeeded: usize,
    /// Due deliveries held back by an open circuit.
    pub held: usize,
}

const DESCRIPTION_MAX: usize = 500;

fn check_description(errors: &mut FieldErrors, text: &str) -> Option<String> {
    if text.chars().count() > DESCRIPTION_MAX {
        errors.add("description", "is too long (maximum is 500 characters)");
        return None;
    }
    Some(text.trim().to_owned())
}

fn check_types(errors: &mut FieldErrors, types: &[String]) -> Option<EventTypes> {
    match EventTypes::parse(types.iter().map(String::as_str)) {
        Ok(types) => Some(types),
        Err(message) => {
            errors.add("eventTypes", message);
            None
        }
    }
}

impl<S: Store> Quire<S> {
    /// Whether `actor` may manage webhooks, for contracts that must refuse before reading a
    /// body.
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin.
    pub fn webhooks_allowed(&self, actor: &Actor) -> Result<()> {
        if policy::may_manage_webhooks(actor) {
            Ok(())
        } else {
            Err(Error::Forbidden(Resource::Webhook))
        }
    }

    /// Checks that the sender may reach `url`, recording why not under `url`.
    async fn check_url(&self, errors: &mut FieldErrors, text: &str) -> Option<WebhookUrl> {
        let url = errors.check("url", WebhookUrl::parse(text))?;
        match self.adapters.webhooks.check_destination(&url).await {
            Ok(()) => Some(url),
            Err(reason) => {
                errors.add("url", reason);
                None
            }
        }
    }

    /// Checks at start-up that this process's key opens the stored secrets (the first
    /// endpoint's): a process with another key would sign nothing.
    ///
    /// # Errors
    /// [`Error::Internal`] when it does not; a storage error.
    pub async fn check_sealing_key(&self) -> Result<()> {
        let Some(first) = self.store.webhooks().await?.into_iter().next() else {
            return Ok(());
        };
        let Some(sealed) = self.store.webhook_secrets(first.id).await? else {
            return Ok(());
        };
        self.open_secret(&sealed.current).map(drop)
    }

    /// Every endpoint.
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin.
    pub async fn webhooks(&self, actor: &Actor) -> Result<Vec<Webhook>> {
        self.webhooks_allowed(actor)?;
        self.store.webhooks().await
    }

    /// One endpoint.
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin; [`Error::NotFound`].
    pub async fn webhook(&self, actor: &Actor, id: WebhookId) -> Result<Webhook> {
        self.webhooks_allowed(actor)?;
        self.store
            .webhook(id)
            .await?
            .ok_or(Error::NotFound(Resource::Webhook))
    }

    /// Registers an endpoint; answers it with its signing secret (generated unless given).
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin; [`Error::Invalid`] for a URL that is
    /// malformed or whose destination is refused, unknown event types, or a malformed secret.
    pub async fn create_webhook(
        &self,
        actor: &Actor,
        draft: WebhookDraft,
    ) -> Result<(Webhook, SigningSecret)> {
        self.webhooks_allowed(actor)?;
        let mut errors = FieldErrors::new();
        let url = match draft.url.as_deref() {
            Some(text) => self.check_url(&mut errors, text).await,
            None => {
                errors.add("url", super::BLANK);
                None
            }
        };
        let description = check_description(
            &mut errors,
            draft.description.as_deref().unwrap_or_default(),
        );
        let event_types = match &draft.event_types {
            Some(types) => check_types(&mut errors, types),
            None => Some(EventTypes::all()),
        };
        let secret = match draft.secret.as_deref() {
            Some(text) => errors.check("secret", SigningSecret::parse(text)),
            None => Some(self.new_secret()),
        };
        errors.into_result()?;
        let (Some(url), Some(description), Some(event_types), Some(secret)) =
            (url, description, event_types, secret)
        else {
            return Err(Error::internal("a checked webhook field is missing"));
        };
        let webhook = self
            .store
            .insert_webhook(&NewWebhook {
                url,
                description,
                event_types,
                enabled: draft.enabled.unwrap_or(true),
                secret: self.adapters.secrets.seal(secret.expose())?,
                at: self.adapters.clock.now(),
            })
            .await?;
        self.audit_webhook(actor, AuditAction::WebhookCreated, &webhook)
            .await;
        Ok((webhook, secret))
    }

    /// Changes an endpoint. Enabling it again closes its circuit.
    ///
    /// # Errors
    /// As [`Quire::create_webhook`], and [`Error::NotFound`].
    pub async fn change_webhook(
        &self,
        actor: &Actor,
        id: WebhookId,
        update: WebhookUpdate,
    ) -> Result<Webhook> {
        self.webhook(actor, id).await?;
        let mut errors = FieldErrors::new();
        let mut changes = WebhookChanges::default();
        match &update.url {
            Patch::Absent => {}
            Patch::Null => errors.add("url", super::BLANK),
            Patch::Value(text) => changes.url = self.check_url(&mut errors, text).await,
        }
        match &update.description {
            Patch::Absent => {}
            Patch::Null => changes.description = Some(String::new()),
            Patch::Value(text) => changes.description = check_description(&mut errors, text),
        }
        match &update.event_types {
            Patch::Absent => {}
            Patch::Null => changes.event_types = Some(EventTypes::all()),
            Patch::Value(types) => changes.event_types = check_types(&mut errors, types),
        }
        match update.enabled {
            Patch::Absent => {}
            Patch::Null => errors.add("enabled", super::BLANK),
            Patch::Value(enabled) => changes.enabled = Some(enabled),
        }
        errors.into_result()?;
        let webhook = self
            .store
            .update_webhook(id, &changes, self.adapters.clock.now())
            .await?
            .ok_or(Error::NotFound(Resource::Webhook))?;
        self.audit_webhook(actor, AuditAction::WebhookUpdated, &webhook)
            .await;
        Ok(webhook)
    }

    /// Audits a change to an endpoint: where it sends and what, never its secret.
    async fn audit_webhook(&self, actor: &Actor, action: AuditAction, webhook: &Webhook) {
        let details = serde_json::json!({
            "url": webhook.url.as_str(),
            "eventTypes": webhook.event_types.as_slice(),
            "enabled": webhook.enabled,
        });
        let subject = Some(format!("webhook/{}", webhook.id.get()));
        let event = self.audit_event(Some(actor.user_id), action, subject, details);
        self.audit(vec![event]).await;
    }

    /// Removes an endpoint with its deliveries and their log.
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin; [`Error::NotFound`].
    pub async fn delete_webhook(&self, actor: &Actor, id: WebhookId) -> Result<()> {
        self.webhooks_allowed(actor)?;
        if self.store.delete_webhook(id).await? {
            let subject = Some(format!("webhook/{}", id.get()));
            let deleted = self.audit_event(
                Some(actor.user_id),
                AuditAction::WebhookDeleted,
                subject,
                serde_json::json!({}),
            );
            self.audit(vec![deleted]).await;
            Ok(())
        } else {
            Err(Error::NotFound(Resource::Webhook))
        }
    }

    /// The endpoint's current signing secret.
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin; [`Error::NotFound`].
    pub async fn webhook_secret(&self, actor: &Actor, id: WebhookId) -> Result<SigningSecret> {
        self.webhooks_allowed(actor)?;
        let sealed = self
            .store
            .webhook_secrets(id)
            .await?
            .ok_or(Error::NotFound(Resource::Webhook))?;
        self.open_secret(&sealed.current)
    }

    /// Replaces the endpoint's secret with `secret` (generated unless given); deliveries carry
    /// a signature by the old one too for [`ROTATION_OVERLAP_MILLIS`], so receivers can switch
    /// without losing any. (A rotation within that time ends the older secret's overlap: only
    /// the one it replaces stays in force beside the new one.)
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin; [`Error::NotFound`]; [`Error::Invalid`]
    /// for a malformed secret; [`Error::Stale`] when another rotation happened at once.
    pub async fn rotate_webhook_secret(
        &self,
        actor: &Actor,
        id: WebhookId,
        secret: Option<&str>,
    ) -> Result<SigningSecret> {
        self.webhooks_allowed(actor)?;
        let secret = match secret {
            Some(text) => SigningSecret::parse(text)
                .map_err(|message| Error::Invalid(FieldErrors::single("secret", message)))?,
            None => self.new_secret(),
        };
        let sealed = self
            .store
            .webhook_secrets(id)
            .await?
            .ok_or(Error::NotFound(Resource::Webhook))?;
        let now = self.adapters.clock.now();
        let until = Timestamp::from_millis(now.as_millis().saturating_add(ROTATION_OVERLAP_MILLIS));
        let rotated = SealedSecrets {
            current: self.adapters.secrets.seal(secret.expose())?,
            previous: Some((sealed.current.clone(), until)),
        };
        if self
            .store
            .set_webhook_secrets(id, &rotated, &sealed.current, now)
            .await?
        {
            Ok(secret)
        } else if self.store.webhook_secrets(id).await?.is_none() {
            Err(Error::NotFound(Resource::Webhook))
        } else {
            // Another rotation won the race: this one's secret was never in force.
            Err(Error::Stale(Resource::Webhook))
        }
    }

    /// The endpoint's deliveries, newest first.
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin; [`Error::NotFound`].
    pub async fn webhook_deliveries(
        &self,
        actor: &Actor,
        id: WebhookId,
        before: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Vec<Delivery>> {
        self.webhook(actor, id).await?;
        self.store.deliveries(id, before, limit).await
    }

    /// The endpoint's delivery log (of one delivery, or all), newest first.
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin; [`Error::NotFound`].
    pub async fn webhook_attempts(
        &self,
        actor: &Actor,
        id: WebhookId,
        delivery: Option<DeliveryId>,
        limit: u32,
    ) -> Result<Vec<Attempt>> {
        self.webhook(actor, id).await?;
        self.store.attempts(id, delivery, limit).await
    }

    /// Sends a delivery again now, with a fresh retry schedule, whatever became of it.
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin; [`Error::NotFound`] for the endpoint or
    /// the delivery.
    pub async fn redeliver(
        &self,
        actor: &Actor,
        id: WebhookId,
        delivery: DeliveryId,
    ) -> Result<Delivery> {
        self.webhook(actor, id).await?;
        self.store
            .redeliver(id, delivery, self.adapters.clock.now())
            .await?
            .ok_or(Error::NotFound(Resource::Delivery))
    }

    /// Makes deliveries of committed `events` to the endpoints that want them (the relay calls
    /// this before it publishes; doing it twice adds nothing).
    ///
    /// # Errors
    /// A storage error.
    pub async fn enqueue_deliveries(&self, events: &[Event]) -> Result<()> {
        self.store
            .enqueue_deliveries(events, self.adapters.clock.now())
            .await
    }

    /// Attempts up to `limit` due deliveries: each endpoint's in order, one at a time, as its
    /// circuit allows; different endpoints at once. No attempt starts at or after
    /// `start_before`, so a caller that must finish by a deadline passes the deadline less
    /// the longest an attempt takes; the deliveries left stay due.
    ///
    /// # Errors
    /// A storage error reading what is due, or recording an attempt (that delivery stays due
    /// and is tried again).
    pub async fn deliver_due(
        &self,
        settings: &WebhookSettings,
        limit: u32,
        start_before: Timestamp,
    ) -> Result<Delivered> {
        let now = self.adapters.clock.now();
        let due = self
            .store
            .due_deliveries(now, limit, settings.per_endpoint)
            .await?;
        let mut by_endpoint: Vec<(WebhookId, Vec<DueDelivery>)> = Vec::new();
        for delivery in due {
            let webhook = delivery.delivery.webhook;
            match by_endpoint.iter_mut().find(|(id, _)| *id == webhook) {
                Some((_, list)) => list.push(delivery),
                None => by_endpoint.push((webhook, vec![delivery])),
            }
        }
        let turns = by_endpoint
            .into_iter()
            .map(|(webhook, list)| self.endpoint_turn(settings, webhook, list, start_before));
        let mut total = Delivered::default();
        for done in futures_util::future::join_all(turns).await {
            let done = done?;
            total.attempts += done.attempts;
            total.succeeded += done.succeeded;
            total.held += done.held;
        }
        Ok(total)
    }

    /// One endpoint's due deliveries, in order, while its circuit lets them through.
    async fn endpoint_turn(
        &self,
        settings: &WebhookSettings,
        webhook: WebhookId,
        due: Vec<DueDelivery>,
        start_before: Timestamp,
    ) -> Result<Delivered> {
        let mut done = Delivered::default();
        let mut circuit = due.first().map(|d| d.circuit).unwrap_or_default();
        let count = due.len();
        for (index, delivery) in due.into_iter().enumerate() {
            let now = self.adapters.clock.now();
            if now >= start_before {
                break;
            }
            let secrets = match self.signing_secrets(&delivery.secrets, now) {
                Ok(secrets) => secrets,
                Err(error) => {
                    // The key does not open this endpoint's secret: a fault of this process's
                    // configuration, not of the endpoint. Nothing is attempted or counted;
                    // the endpoint waits a cool-down and is tried again.
                    tracing::error!(
                        %error,
                        %webhook,
                        "a webhook secret does not open with this process's key; check QUIRE_WEBHOOK_KEY"
                    );
                    let until = Timestamp::from_millis(
                        now.as_millis()
                            .saturating_add(settings.breaker.cooldown_millis),
                    );
                    self.store.postpone_deliveries(webhook, until).await?;
                    done.held += count - index;
                    break;
                }
            };
            let admitted = match settings.breaker.admission(circuit, now) {
                Admission::All => true,
                Admission::Probe => done.attempts == 0,
                Admission::Wait(until) => {
                    self.store.postpone_deliveries(webhook, until).await?;
                    false
                }
            };
            if !admitted {
                done.held += count - index;
                break;
            }
            let outcome = self.attempt(settings, &delivery, &secrets, circuit).await;
            circuit = outcome.circuit;
            self.store.record_attempt(webhook, &outcome).await?;
            done.attempts += 1;
            if outcome.state == DeliveryState::Delivered {
                done.succeeded += 1;
            }
            if outcome.disable.is_some() {
                break;
            }
        }
        Ok(done)
    }

    /// Gives up deliveries that waited longer than [`MAX_DELIVERY_AGE_MILLIS`] (behind an open
    /// circuit, say), and deletes at most `limit` deliveries finished more than
    /// `retention_millis` ago, with their log. Answers (given up, deleted).
    ///
    /// # Errors
    /// A storage error.
    pub async fn webhook_housekeeping(
        &self,
        retention_millis: i64,
        limit: u32,
    ) -> Result<(u64, u64)> {
        let now = self.adapters.clock.now();
        let ago = |millis: i64| Timestamp::from_millis(now.as_millis().saturating_sub(millis));
        let expired = self
            .store
            .expire_deliveries(ago(MAX_DELIVERY_AGE_MILLIS), now)
            .await?;
        let pruned = self
            .store
            .prune_deliveries(ago(retention_millis), limit)
            .await?;
        Ok((expired, pruned))
    }

    /// Sends one delivery and decides what comes of it.
    async fn attempt(
        &self,
        settings: &WebhookSettings,
        due: &DueDelivery,
        secrets: &[SigningSecret],
        circuit: crate::webhooks::Circuit,
    ) -> AttemptOutcome {
        let now = self.adapters.clock.now();
        let response = self
            .adapters
            .webhooks
            .send(WebhookRequest {
                url: &due.url,
                message_id: &due.delivery.event_id,
                timestamp: now,
                body: &due.payload,
                secrets,
            })
            .await;
        let attempts = due.delivery.attempts.saturating_add(1);
        let succeeded = response.status.is_some_and(|s| (200..300).contains(&s));
        let gone = response.status == Some(410);
        let after = self.adapters.clock.now();
        let (state, next_attempt_at, circuit) = if succeeded {
            (DeliveryState::Delivered, None, settings.breaker.succeeded())
        } else if gone {
            (DeliveryState::Failed, None, circuit)
        } else {
            let circuit = settings.breaker.failed(circuit, after);
            match settings
                .retries
                .next_attempt(attempts, after, self.jitter())
            {
                Some(at) => (DeliveryState::Pending, Some(at), circuit),
                None => (DeliveryState::Failed, None, circuit),
            }
        };
        AttemptOutcome {
            attempt: Attempt {
                delivery: due.delivery.id,
                event_id: due.delivery.event_id.clone(),
                event_type: due.delivery.event_type.clone(),
                attempted_at: now,
                status: response.status,
                latency_millis: response.latency_millis,
                response: truncate(response.body, LOGGED_RESPONSE_BYTES),
                error: response.error,
            },
            state,
            next_attempt_at,
            circuit,
            disable: gone.then_some("gone"),
        }
    }

    /// The secrets that sign a delivery made at `now`: the current one, and the previous one
    /// while its overlap lasts.
    fn signing_secrets(
        &self,
        sealed: &SealedSecrets,
        now: Timestamp,
    ) -> Result<Vec<SigningSecret>> {
        let mut secrets = vec![self.open_secret(&sealed.current)?];
        if let Some((previous, until)) = &sealed.previous
            && now < *until
        {
            secrets.push(self.open_secret(previous)?);
        }
        Ok(secrets)
    }

    fn open_secret(&self, sealed: &str) -> Result<SigningSecret> {
        let plain = self.adapters.secrets.open(sealed)?;
        SigningSecret::parse(&plain).map_err(Error::internal)
    }

    fn new_secret(&self) -> SigningSecret {
        let mut key = [0u8; SECRET_BYTES];
        self.adapters.random.fill(&mut key);
        SigningSecret::from_key(&key)
    }

    /// A number in `[0, 1)` from the injected randomness.
    fn jitter(&self) -> f64 {
        let mut bytes = [0u8; 2];
        self.adapters.random.fill(&mut bytes);
        f64::from(u16::from_le_bytes(bytes)) / 65_536.0
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
