//! `grpc.health.v1.Health` answering from readiness: `SERVING` while the database answers,
//! `NOT_SERVING` while it does not. The empty service name and each quire service are known.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use quire_core::ports::Store;
use quire_core::service::Quire;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::Health;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::posts::Watch;

/// The services health can be asked about, besides the server as a whole ("").
pub const SERVICES: &[&str] = &[
    "quire.v1.SessionService",
    "quire.v1.UserService",
    "quire.v1.PostService",
    "quire.v1.CommentService",
];

/// How often a `Watch` re-checks the database.
const WATCH_EVERY: Duration = Duration::from_secs(1);

pub struct Readiness<S> {
    pub quire: Quire<S>,
    pub config: crate::GrpcConfig,
}

async fn serving<S: Store>(quire: &Quire<S>, draining: &AtomicBool) -> ServingStatus {
    if draining.load(Ordering::Acquire) {
        return ServingStatus::NotServing;
    }
    match quire.ready().await {
        Ok(()) => ServingStatus::Serving,
        Err(error) => {
            tracing::warn!(%error, "health: the database does not answer");
            ServingStatus::NotServing
        }
    }
}

fn known(service: &str) -> Result<(), Status> {
    if service.is_empty() || SERVICES.contains(&service) {
        Ok(())
    } else {
        Err(Status::not_found(format!("unknown service {service:?}")))
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status.into(),
    }
}

#[tonic::async_trait]
impl<S: Store> Health for Readiness<S> {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        known(&request.get_ref().service)?;
        Ok(Response::new(response(
            serving(&self.quire, &self.config.draining).await,
        )))
    }

    type WatchStream = Watch<HealthCheckResponse>;

    /// Sends the status now and again whenever it changes.
    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        known(&request.get_ref().service)?;
        let quire = self.quire.clone();
        let draining = Arc::clone(&self.config.draining);
        let checks = futures_util::stream::unfold(
            (quire, draining, None::<ServingStatus>),
            |(quire, draining, last)| async move {
                loop {
                    let now = serving(&quire, &draining).await;
                    if last != Some(now) {
                        return Some((Ok(response(now)), (quire, draining, Some(now))));
                    }
                    tokio::time::sleep(WATCH_EVERY).await;
                }
            },
        );
        Ok(Response::new(self.config.until_stopping(checks)))
    }
}
