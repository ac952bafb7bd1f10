//! Liveness and readiness probes.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use quire_core::cache::CacheHealth;
use quire_core::ports::Store;
use serde_json::{Value, json};

use crate::AppState;

pub(crate) fn routes<S: Store>() -> Router<AppState<S>> {
    Router::new()
        .route("/healthz", get(alive))
        .route("/readyz", get(ready::<S>))
}

/// The process is up and serving HTTP.
async fn alive() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do useful work: it is not shutting down, and its database answers.
async fn ready<S: Store>(State(state): State<AppState<S>>) -> (StatusCode, Json<Value>) {
    if state.draining.load(std::sync::atomic::Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining", "checks": { "shutdown": "in progress" } })),
        );
    }
    match state.quire.ready().await {
        Ok(()) => {
            // A degraded cache answers every read from the database: still ready.
            let cache = match state.quire.cache_health().await {
                (name, CacheHealth::Up) => json!({ "status": "up", "backend": name }),
                (name, CacheHealth::Degraded(reason)) => {
                    json!({ "status": "degraded", "backend": name, "reason": reason })
                }
            };
            (
                StatusCode::OK,
                Json(json!({ "status": "ready", "checks": { "database": "up", "cache": cache } })),
            )
        }
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "checks": { "database": "down" } })),
            )
        }
    }
}
