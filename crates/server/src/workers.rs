//! The workers a process runs beside (or instead of) the API: the event relay, the scheduler
//! and the webhook delivery worker, each a loop holding its own lease, started together and stopped together.

use std::time::Duration;

use quire_core::ports::Random;
use quire_core::service::Quire;
use quire_storage::Db;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};

use crate::adapters::OsRandom;
use crate::config::Config;
use crate::deliveries::{self, DeliveryOptions};
use crate::purger::{self, PurgeOptions};
use crate::relay::{self, RelayOptions};
use crate::scheduler;

/// How each worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub relay: RelayOptions,
    pub deliveries: DeliveryOptions,
    /// The edge cache's purger, when one is configured.
    pub purge: Option<PurgeOptions>,
}

impl From<&Config> for WorkerOptions {
    fn from(config: &Config) -> Self {
        Self {
            relay: RelayOptions::from(&config.events),
            deliveries: DeliveryOptions::from(&config.webhooks),
            // Checked when the configuration was read.
            purge: PurgeOptions::from_config(&config.edge).ok().flatten(),
        }
    }
}

/// Once at start, renders the bodies that have no rendering by this version's renderer and
/// indexes the posts the search index has no entry for (posts written before either existed).
/// Writes render and index their own post, so after one pass there is nothing left to do; a
/// second worker doing the same pass at once only does the same work twice, and neither
/// overwrites a post changed since it read it.
async fn backfill(quire: Quire<Db>, mut stopped: watch::Receiver<bool>) {
    let pass = async {
        match quire.render_missing().await {
            Ok(0) => {}
            Ok(rendered) => {
                tracing::info!(rendered, "rendered bodies written before this renderer")
            }
            Err(error) => {
                tracing::warn!(%error, "rendering old bodies failed; they are rendered when read")
            }
        }
        match quire.reindex_search(true, |_| {}).await {
            Ok(0) => {}
            Ok(indexed) => tracing::info!(indexed, "indexed posts the search index was missing"),
            Err(error) => {
                tracing::warn!(%error, "indexing the posts the search index was missing failed; `quire search reindex` rebuilds it")
            }
        }
    };
    tokio::select! {
        () = pass => {}
        _ = stopped.wait_for(|stop| *stop) => {}
    }
}

/// The running workers.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Workers {
    /// Starts the relay, the scheduler, the webhook delivery worker and the edge purger (when
    /// configured) over `quire`, counting their statements apart from the requests'.
    pub fn start(quire: &Quire<Db>, options: WorkerOptions) -> Self {
        let worker = quire.with_store(quire.store().with_own_statement_count());
        let (stop, stopped) = watch::channel(false);
        let lease = options.relay.lease;
        let relay = tokio::spawn(relay::run(worker.clone(), options.relay, stopped.clone()));
        let scheduler = tokio::spawn(scheduler::run(worker.clone(), lease, stopped.clone()));
        let mut tasks = vec![("relay", relay), ("scheduler", scheduler)];
        if let Some(purge) = options.purge {
            let purger = purger::run(worker.clone(), purge, lease, stopped.clone());
            tasks.push(("purger", tokio::spawn(purger)));
        }
        tasks.push((
            "backfill",
            tokio::spawn(backfill(worker.clone(), stopped.clone())),
        ));
        let deliveries = tokio::spawn(deliveries::run(worker, options.deliveries, lease, stopped));
        tasks.push(("webhooks", deliveries));
        Self { stop, tasks }
    }

    /// Tells every worker to stop (each finishes its round and gives its lease up) and waits
    /// for each at most `deadline`, abandoning the late ones.
    pub async fn stop(self, deadline: Duration) {
        self.stop.send_replace(true);
        for (worker, task) in self.tasks {
            if tokio::time::timeout(deadline, task).await.is_err() {
                tracing::warn!(
                    worker,
                    ?deadline,
                    "a worker did not stop in time; abandoning it"
                );
            }
        }
    }
}

/// This process's name as a lease holder: unique per process run.
pub(crate) fn holder_name() -> String {
    format!("{}-{}", std::process::id(), OsRandom.token(8))
}

/// A job that one process at a time runs: held through a lease in the database that the
/// holder renews every third of its length, taken over by a standby once it expires.
pub(crate) struct Leased {
    name: &'static str,
    holder: String,
    ttl_millis: i64,
    /// How long the holder may work before renewing.
    pub(crate) renew_every: Duration,
    leading: bool,
}

impl Leased {
    pub(crate) fn new(name: &'static str, lease: Duration) -> Self {
        Self {
            name,
            holder: holder_name(),
            ttl_millis: i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
            // Renew well before the lease runs out, so a slow round never lets it lapse.
            renew_every: lease / 3,
            leading: false,
        }
    }

    /// Takes or renews the lease; answers whether this process holds it (a database that
    /// cannot answer in time means it does not).
    pub(crate) async fn hold(&mut self, quire: &Quire<Db>) -> bool {
        let acquired = matches!(
            timeout(
                self.renew_every,
                quire.acquire_lease(self.name, &self.holder, self.ttl_millis)
            )
            .await,
            Ok(Ok(true))
        );
        if acquired != self.leading {
            self.leading = acquired;
            let (job, holder) = (self.name, &self.holder);
            if acquired {
                tracing::info!(job, %holder, "this process now runs the job");
            } else {
                tracing::info!(job, %holder, "another process runs the job; standing by");
            }
        }
        metrics::gauge!("quire_worker_leader", "job" => self.name).set(if acquired {
            1.0
        } else {
            0.0
        });
        acquired
    }

    /// Gives the lease up, if held, so a standby need not wait for it to expire.
    pub(crate) async fn release(&mut self, quire: &Quire<Db>) {
        if !self.leading {
            return;
        }
        let (job, holder) = (self.name, &self.holder);
        match timeout(
            Duration::from_secs(1),
            quire.release_lease(self.name, holder),
        )
        .await
        {
            Ok(Ok(())) => tracing::info!(job, %holder, "stopped and gave up the lease"),
            _ => tracing::warn!(job, %holder, "stopped; the lease lapses on its own"),
        }
        self.leading = false;
        metrics::gauge!("quire_worker_leader", "job" => self.name).set(0.0);
    }
}

/// Waits `wait`; answers true if told to stop meanwhile.
pub(crate) async fn stopped_within(stop: &mut watch::Receiver<bool>, wait: Duration) -> bool {
    tokio::select! {
        () = sleep(wait) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}
