//! Prometheus metrics, served on the admin listener (never the public port): the HTTP RED
//! metrics the middleware records, database pools, the password-hashing queue, build info.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use quire_storage::Db;

/// Latency buckets, in seconds: from sub-millisecond reads to the request timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process-wide recorder, installed on first use.
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                .and_then(|builder| builder.install_recorder());
            match builder {
                Ok(handle) => {
                    // Histograms buffer samples until drained; drain them even if nothing
                    // scrapes, so memory stays flat. A thread, not a task: the recorder outlives
                    // any one runtime.
                    let upkeep = handle.clone();
                    let spawned = std::thread::Builder::new()
                        .name("metrics-upkeep".to_owned())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(std::time::Duration::from_secs(5));
                                upkeep.run_upkeep();
                            }
                        });
                    if let Err(error) = spawned {
                        tracing::error!(%error, "metrics upkeep did not start");
                    }
                    metrics::gauge!(
                        "quire_build_info",
                        "version" => env!("CARGO_PKG_VERSION"),
                        "commit" => env!("QUIRE_GIT_COMMIT"),
                    )
                    .set(1.0);
                    Some(handle)
                }
                Err(error) => {
                    tracing::error!(%error, "metrics are unavailable");
                    None
                }
            }
        })
        .as_ref()
}

/// Installs the recorder (once per process), so metrics count from start-up.
pub fn install() {
    let _ = handle();
}

/// `GET /metrics` for the admin listener.
pub fn router(db: Db) -> Router {
    Router::new().route("/metrics", get(render)).with_state(db)
}

async fn render(State(db): State<Db>) -> impl IntoResponse {
    for pool in db.pool_stats() {
        let name = pool.pool;
        metrics::gauge!("quire_db_pool_connections", "pool" => name, "state" => "idle")
            .set(f64::from(pool.idle));
        metrics::gauge!("quire_db_pool_connections", "pool" => name, "state" => "in_use")
            .set(f64::from(pool.open.saturating_sub(pool.idle)));
        metrics::gauge!("quire_db_pool_max_connections", "pool" => name).set(f64::from(pool.max));
    }
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
