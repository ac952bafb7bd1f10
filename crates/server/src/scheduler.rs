//! The scheduler worker: while it holds the `scheduler` lease, publishes scheduled drafts whose
//! time has come ([`Quire::publish_due`]), every [`TICK`]. A scheduled post is late by at most
//! a tick while a scheduler runs; after downtime, the first round publishes everything that
//! fell due meanwhile, earliest first.

use std::time::Duration;

use quire_core::service::Quire;
use quire_storage::Db;
use tokio::sync::watch;
use tokio::time::{Instant, timeout};

use crate::workers::{Leased, stopped_within};

/// The lease the scheduler holds.
pub const LEASE: &str = "scheduler";

/// How often the scheduler looks for due posts.
pub const TICK: Duration = Duration::from_millis(250);

/// Posts published per round at most.
const BATCH: u32 = 64;

/// Runs the scheduler until `stop` turns true, holding its lease for `lease` at a time.
pub async fn run(quire: Quire<Db>, lease: Duration, mut stop: watch::Receiver<bool>) {
    let mut lease = Leased::new(LEASE, lease);
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
            // A round ends within a third of the lease, so the lease never runs out under it.
            match timeout(lease.renew_every, quire.publish_due(BATCH)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(published)) => {
                    metrics::counter!("quire_scheduled_posts_published_total")
                        .increment(published as u64);
                    tracing::info!(published, "published scheduled posts");
                    // More may be due: look again at once.
                    if published as u32 == BATCH {
                        continue;
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "the scheduler could not look for due posts")
                }
                Err(_) => {
                    tracing::warn!(deadline = ?lease.renew_every, "a scheduler round ran past its deadline")
                }
            }
            if stopped_within(&mut stop, TICK).await {
                lease.release(&quire).await;
                return;
            }
        }
    }
    lease.release(&quire).await;
}
