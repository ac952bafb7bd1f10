//! The workers a process runs beside (or instead of) the API: the event relay and the
//! scheduler, each a loop holding its own lease, started together and stopped together.

use std::time::Duration;

use quire_core::service::Quire;
use quire_storage::Db;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::relay::{self, RelayOptions};
use crate::scheduler;

/// The running workers.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Workers {
    /// Starts the relay and the scheduler over `quire`, counting their statements apart from
    /// the requests'.
    pub fn start(quire: &Quire<Db>, options: RelayOptions) -> Self {
        let worker = quire.with_store(quire.store().with_own_statement_count());
        let (stop, stopped) = watch::channel(false);
        let lease = options.lease;
        let relay = tokio::spawn(relay::run(worker.clone(), options, stopped.clone()));
        let scheduler = tokio::spawn(scheduler::run(worker, lease, stopped));
        Self {
            stop,
            tasks: vec![("relay", relay), ("scheduler", scheduler)],
        }
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
