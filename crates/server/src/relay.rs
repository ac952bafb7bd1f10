//! The relay worker: while it holds the `relay` lease, moves committed events from the outbox
//! to the event bus (in outbox order, at least once), prunes sent events after the retention
//! period, and reports the outbox's backlog. Every process may run one; the lease lets exactly
//! one publish at a time, and a standby takes over within the lease's length when the active
//! one dies (at once when it stops cleanly: it gives the lease up).

use std::time::Duration;

use quire_core::ports::Random;
use quire_core::service::Quire;
use quire_storage::Db;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};

use crate::adapters::OsRandom;
use crate::config::EventsSection;
use crate::workers::{Leased, stopped_within};

/// The lease the relay holds.
pub const LEASE: &str = "relay";

/// The longest wait between tries while the bus or the database fails.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often the leader prunes sent events and reports the backlog.
const HOUSEKEEPING: Duration = Duration::from_secs(5);

/// How long the relay, woken by a commit, waits for more before reading the outbox.
const GATHER: Duration = Duration::from_millis(20);

/// Rows deleted per prune.
const PRUNE_LIMIT: u32 = 5_000;

/// How the relay runs.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    pub batch: u32,
    pub poll: Duration,
    pub lease: Duration,
    pub retention: Duration,
}

impl From<&EventsSection> for RelayOptions {
    fn from(events: &EventsSection) -> Self {
        Self {
            batch: events.relay_batch.max(1),
            poll: Duration::from_millis(events.relay_poll_millis.max(1)),
            lease: Duration::from_millis(events.relay_lease_millis.max(100)),
            retention: Duration::from_secs(events.retention_hours.saturating_mul(3600)),
        }
    }
}

/// Runs the relay until `stop` turns true; then gives the lease up and returns.
pub async fn run(quire: Quire<Db>, options: RelayOptions, mut stop: watch::Receiver<bool>) {
    let mut lease = Leased::new(LEASE, options.lease);
    let renew_every = lease.renew_every;
    let mut failures: u32 = 0;
    let mut last_housekeeping: Option<Instant> = None;
    // While the bus refuses events: the last `seq` whose webhook deliveries were made.
    let mut offered: Option<i64> = None;
    tracing::info!(bus = quire.event_bus_name(), "the relay starts");
    loop {
        if *stop.borrow() {
            break;
        }
        let leading = lease.hold(&quire).await;
        metrics::gauge!("quire_relay_leader").set(if leading { 1.0 } else { 0.0 });
        if !leading {
            if stopped_within(&mut stop, renew_every).await {
                break;
            }
            continue;
        }
        let renewed = Instant::now();
        // Relay until the lease needs renewing.
        while renewed.elapsed() < renew_every {
            if *stop.borrow() {
                break;
            }
            if last_housekeeping.is_none_or(|at| at.elapsed() >= HOUSEKEEPING) {
                last_housekeeping = Some(Instant::now());
                housekeeping(&quire, &options, renew_every).await;
                // One step per turn: a step starts within the renewal window and ends within
                // a third of the lease, so the lease never runs out under a step.
                continue;
            }
            let wake = quire.outbox_recorded();
            let round = timeout(renew_every, quire.relay_batch(options.batch)).await;
            let (full, failed) = match &round {
                Ok(Ok(relayed)) => {
                    if relayed.sent > 0 {
                        metrics::counter!("quire_events_published_total")
                            .increment(relayed.sent as u64);
                    }
                    if let Some(failure) = &relayed.failure {
                        tracing::warn!(
                            error = %failure,
                            left = relayed.left,
                            "the event bus refused events; backing off"
                        );
                    }
                    let full = relayed.sent + relayed.left >= options.batch as usize;
                    (full, relayed.failure.is_some())
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "the relay could not read or mark the outbox");
                    (false, true)
                }
                Err(_) => {
                    tracing::warn!(deadline = ?renew_every, "a relay round ran past its deadline");
                    (false, true)
                }
            };
            if failed {
                if let Ok(Ok(relayed)) = &round
                    && relayed.failure.is_some()
                {
                    // The bus is down: webhooks need not wait for it.
                    offered = offered.max(relayed.last_seq);
                    offered = offer_beyond(&quire, offered, options.batch, renew_every).await;
                }
                metrics::counter!("quire_events_publish_failures_total").increment(1);
                failures = failures.saturating_add(1);
                if stopped_within(&mut stop, backoff(failures)).await {
                    break;
                }
                continue;
            }
            failures = 0;
            if full {
                // More are waiting: go on at once.
                continue;
            }
            tokio::select! {
                () = wake => {
                    // Under load, let the commits of the next few milliseconds join this one:
                    // one round (a read and a mark) per batch rather than per write.
                    sleep(GATHER).await;
                }
                () = sleep(options.poll) => {}
                _ = stop.changed() => break,
            }
        }
    }
    lease.release(&quire).await;
    metrics::gauge!("quire_relay_leader").set(0.0);
}

/// Makes the webhook deliveries of pending events after `offered`, a few batches within
/// `deadline`; answers how far it got.
async fn offer_beyond(
    quire: &Quire<Db>,
    mut offered: Option<i64>,
    batch: u32,
    deadline: Duration,
) -> Option<i64> {
    const BATCHES: usize = 8;
    let steps = async {
        for _ in 0..BATCHES {
            match quire.offer_pending(offered, batch).await {
                Ok(Some(last)) => offered = Some(last),
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "offering pending events to webhooks failed");
                    break;
                }
            }
        }
    };
    let _ = timeout(deadline / 2, steps).await;
    offered
}

/// Prunes sent events past the retention period and reports the backlog, within `deadline`.
async fn housekeeping(quire: &Quire<Db>, options: &RelayOptions, deadline: Duration) {
    let retention = i64::try_from(options.retention.as_millis()).unwrap_or(i64::MAX);
    let steps = async {
        match quire.prune_sent_events(retention, PRUNE_LIMIT).await {
            Ok(pruned) if pruned > 0 => tracing::debug!(pruned, "pruned sent events"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "pruning sent events failed"),
        }
        if let Ok(backlog) = quire.outbox_backlog().await {
            metrics::gauge!("quire_outbox_pending").set(backlog.pending as f64);
            let now = quire.now().as_millis();
            let age = backlog.oldest.map_or(0.0, |oldest| {
                (now - oldest.as_millis()).max(0) as f64 / 1000.0
            });
            metrics::gauge!("quire_outbox_oldest_pending_seconds").set(age);
        }
    };
    if timeout(deadline, steps).await.is_err() {
        tracing::warn!(?deadline, "the relay's housekeeping ran past its deadline");
    }
}

/// Exponential back-off with full jitter: a random wait up to `100 ms × 2^failures`, capped.
fn backoff(failures: u32) -> Duration {
    let ceiling = Duration::from_millis(100)
        .saturating_mul(1 << failures.min(10))
        .min(MAX_BACKOFF);
    let mut random = [0u8; 2];
    OsRandom.fill(&mut random);
    let fraction = f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX);
    ceiling.mul_f64(fraction.max(0.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for failures in 0..20 {
            let wait = backoff(failures);
            assert!(wait <= MAX_BACKOFF, "{wait:?}");
            let ceiling = Duration::from_millis(100).saturating_mul(1 << failures.min(10));
            assert!(wait <= ceiling.min(MAX_BACKOFF));
        }
    }
}
