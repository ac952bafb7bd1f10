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
    /// How long one attempt may take: a round may last this much more than the lease allows
    /// a step, so the lease is sized to cover it.
    pub timeout: Duration,
}

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
            },
            poll: Duration::from_millis(webhooks.poll_millis.max(1)),
            batch: webhooks.batch.max(1),
            timeout: Duration::from_millis(webhooks.timeout_millis.max(1)),
        }
    }
}

/// Runs the delivery worker until `stop` turns true, holding its lease for `lease` at a time
/// (at least three attempts' timeout, so a round never outlives it).
pub async fn run(
    quire: Quire<Db>,
    options: DeliveryOptions,
    lease: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut lease = Leased::new(
        LEASE,
        lease.max(options.timeout * 3 + Duration::from_secs(1)),
    );
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
            let round = timeout(
                lease.renew_every,
                quire.deliver_due(&options.settings, options.batch),
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
                    tracing::warn!(deadline = ?lease.renew_every, "a webhook round ran past its deadline")
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
