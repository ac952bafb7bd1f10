//! The webhook delivery worker: while it holds the `webhooks` lease, attempts due deliveries
//! ([`Quire::deliver_due`]): each endpoint's one at a time in order, different endpoints at
//! once, retried on the configured schedule and held back while an endpoint's circuit is open.
//! The relay makes the deliveries; this only sends them.

use std::time::Duration;

use quire_core::service::{Quire, WebhookSettings};
use quire_core::webhooks::{Breaker, RetrySchedule};
use quire_storage::Db;
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

use crate::config::WebhooksSection;
use crate::workers::{Leased, stopped_within};

/// The lease the delivery worker holds.
pub const LEASE: &str = "webhooks";

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    pub settings: WebhookSettings,
    pub poll: Duration,
    pub batch: u32,
    /// How long one attempt may take: the lease is sized so that a round (attempts started
    /// within its first part, each ending within this) ends before the lease needs renewing.
    pub timeout: Duration,
    /// How long finished deliveries and their log are kept.
    pub retention: Duration,
}

/// Deliveries per endpoint per round at most, so one endpoint's backlog cannot hold up the
/// others'.
const PER_ENDPOINT: u32 = 16;

/// How often the holder gives up deliveries that waited too long and prunes old ones.
const HOUSEKEEPING: Duration = Duration::from_secs(60);

/// The shortest stretch of a lease period worth starting attempts in: less, and the worker
/// renews its lease first.
const MIN_WINDOW: Duration = Duration::from_millis(500);

/// Deliveries deleted per prune.
const PRUNE_LIMIT: u32 = 5_000;

impl From<&WebhooksSection> for DeliveryOptions {
    fn from(webhooks: &WebhooksSection) -> Self {
        let millis = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        Self {
            settings: WebhookSettings {
                retries: RetrySchedule {
                    base_millis: millis(webhooks.retry_base_millis.max(1)),
                    max_attempts: webhooks.max_attempts.max(1),
                    ..RetrySchedule::default()
                },
                breaker: Breaker {
                    threshold: webhooks.breaker_threshold.max(1),
                    cooldown_millis: millis(webhooks.breaker_cooldown_millis.max(1)),
                },
                per_endpoint: PER_ENDPOINT,
            },
            retention: Duration::from_secs(webhooks.retention_hours.saturating_mul(3600)),
            poll: Duration::from_millis(webhooks.poll_millis.max(1)),
            batch: webhooks.batch.max(1),
            timeout: Duration::from_millis(webhooks.timeout_millis.max(1)),
        }
    }
}

/// Runs the delivery worker until `stop` turns true, holding its lease for at least `lease`
/// and long enough that a round's attempts (each ending within the timeout) end before the
/// lease needs renewing: six timeouts.
pub async fn run(
    quire: Quire<Db>,
    options: DeliveryOptions,
    lease: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut lease = Leased::new(LEASE, lease.max(options.timeout * 6));
    let retention = i64::try_from(options.retention.as_millis()).unwrap_or(i64::MAX);
    let mut last_housekeeping: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        if !lease.hold(&quire).await {
            if stopped_within(&mut stop, lease.renew_every).await {
                break;
            }
            continue;
        }
        let renewed = Instant::now();
        while renewed.elapsed() < lease.renew_every {
            if last_housekeeping.is_none_or(|at| at.elapsed() >= HOUSEKEEPING) {
                last_housekeeping = Some(Instant::now());
                match timeout(
                    lease.renew_every,
                    quire.webhook_housekeeping(retention, PRUNE_LIMIT),
                )
                .await
                {
                    Ok(Ok((expired, pruned))) if expired + pruned > 0 => {
                        tracing::info!(expired, pruned, "webhook deliveries given up and pruned")
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::warn!(%error, "webhook housekeeping failed"),
                    Err(_) => tracing::warn!("webhook housekeeping ran past its deadline"),
                }
                continue;
            }
            // Attempts start only while one can end before the lease needs renewing; once
            // none can, renew now rather than leave due deliveries waiting.
            let left = lease.renew_every.saturating_sub(renewed.elapsed());
            let reserve = options.timeout + Duration::from_millis(100);
            if left <= reserve + MIN_WINDOW {
                break;
            }
            let window = left.saturating_sub(reserve);
            let start_before = quire
                .now()
                .as_millis()
                .saturating_add(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
            let round = timeout(
                left,
                quire.deliver_due(
                    &options.settings,
                    options.batch,
                    quire_core::time::Timestamp::from_millis(start_before),
                ),
            )
            .await;
            let mut busy = false;
            match round {
                Ok(Ok(done)) => {
                    if done.attempts > 0 {
                        metrics::counter!("quire_webhook_attempts_total", "outcome" => "success")
                            .increment(done.succeeded as u64);
                        metrics::counter!("quire_webhook_attempts_total", "outcome" => "failure")
                            .increment((done.attempts - done.succeeded) as u64);
                    }
                    busy = done.attempts > 0;
                }
                Ok(Err(error)) => tracing::warn!(%error, "webhook delivery could not proceed"),
                Err(_) => {
                    tracing::warn!(deadline = ?left, "a webhook round ran past its deadline")
                }
            }
            if busy {
                continue;
            }
            if stopped_within(&mut stop, options.poll).await {
                lease.release(&quire).await;
                return;
            }
        }
    }
    lease.release(&quire).await;
}
