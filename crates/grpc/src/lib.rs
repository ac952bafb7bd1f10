//! quire's gRPC services (`proto/quire/v1/services.proto`) on the same core as the other
//! contracts, over the messages `/api/v1` serves as Protobuf. Served on the HTTP port (HTTP/2,
//! beside REST and GraphQL) and optionally on a port of its own; with the standard health
//! service (readiness) and server reflection.

mod auth;
mod deadline;
pub mod error;
mod health;
mod posts;
mod reflection;
mod users;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use quire_core::ports::Store;
use quire_core::service::Quire;
use tonic::server::NamedService;
use tower::Service;

pub use health::SERVICES;

/// The generated service traits and clients (the clients are for other Rust services and
/// for tests).
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/quire.v1.rs"));
}

/// Settings of the gRPC services.
#[derive(Debug, Clone)]
pub struct GrpcConfig {
    /// Largest message accepted or sent, in bytes; a larger one is refused unread.
    pub max_message_bytes: usize,
    /// Set when the process is shutting down: health answers `NOT_SERVING` at once.
    pub draining: Arc<AtomicBool>,
    /// Turns true when the server stops accepting and drains: server streams end then, so
    /// they do not hold shutdown up for the whole grace period.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

impl GrpcConfig {
    /// A stream that ends when the server starts draining.
    fn until_stopping<T, St>(&self, stream: St) -> posts::Watch<T>
    where
        St: futures_util::Stream<Item = Result<T, tonic::Status>> + Send + 'static,
        T: Send + 'static,
    {
        let mut stopping = self.stopping.subscribe();
        let stopped = async move {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        };
        Box::pin(futures_util::StreamExt::take_until(stream, stopped))
    }
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 1024 * 1024,
            draining: Arc::default(),
            stopping: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }
}

/// How many of a list to give: the core's bounds, `INVALID_ARGUMENT` outside them.
fn page_size(asked: Option<u32>) -> Result<u32, tonic::Status> {
    quire_core::paging::page_size("page_size", asked.map(i64::from))
        .map_err(|error| error::status(&error))
}

/// A request's cursor; proto3's empty string is none.
fn cursor(token: &Option<String>) -> Option<&str> {
    token.as_deref().filter(|token| !token.is_empty())
}

/// Adds a gRPC service at `/<package.Service>/*` (without tonic's catch-all fallback, so the
/// routes merge into the HTTP router).
fn mount<Svc>(router: Router, service: Svc) -> Router
where
    Svc: Service<Request, Error = Infallible> + NamedService + Clone + Send + Sync + 'static,
    Svc::Response: IntoResponse,
    Svc::Future: Send + 'static,
{
    router.route_service(&format!("/{}/{{*method}}", Svc::NAME), service)
}

/// Every gRPC service as axum routes, deadlines honoured.
pub fn router<S: Store>(quire: Quire<S>, config: &GrpcConfig) -> Router {
    use pb::comment_service_server::CommentServiceServer;
    use pb::post_service_server::PostServiceServer;
    use pb::session_service_server::SessionServiceServer;
    use pb::user_service_server::UserServiceServer;

    let limit = config.max_message_bytes;
    let mut router = Router::new();
    router = mount(
        router,
        SessionServiceServer::new(users::Sessions {
            quire: quire.clone(),
        })
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit),
    );
    router = mount(
        router,
        UserServiceServer::new(users::Users {
            quire: quire.clone(),
        })
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit),
    );
    router = mount(
        router,
        PostServiceServer::new(posts::Posts {
            quire: quire.clone(),
            config: config.clone(),
        })
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit),
    );
    router = mount(
        router,
        CommentServiceServer::new(posts::Comments {
            quire: quire.clone(),
            config: config.clone(),
        })
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit),
    );
    // Every call of quire's own services is authenticated here, once; health and reflection
    // take no credential.
    let mut router = router.layer(axum::middleware::from_fn_with_state(
        quire.clone(),
        auth::authenticate::<S>,
    ));
    router = mount(
        router,
        tonic_health::pb::health_server::HealthServer::new(health::Readiness {
            quire,
            config: config.clone(),
        }),
    );
    match reflection::Descriptors::from_sets(&[
        quire_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ]) {
        Ok(index) => {
            let index = Arc::new(index);
            router = mount(
                router,
                reflection::v1::ServerReflectionServer::new(reflection::v1::Reflection(
                    Arc::clone(&index),
                )),
            );
            router = mount(
                router,
                reflection::v1alpha::ServerReflectionServer::new(reflection::v1alpha::Reflection(
                    index,
                )),
            );
        }
        Err(error) => tracing::error!(%error, "grpc reflection is unavailable"),
    }
    router.layer(axum::middleware::from_fn(deadline::honour_deadline))
}

/// The routes alone, for a listener of their own: an unknown service answers
/// `UNIMPLEMENTED`, as gRPC clients expect.
pub fn standalone_router<S: Store>(quire: Quire<S>, config: &GrpcConfig) -> Router {
    router(quire, config).fallback(|| async {
        tonic::Status::unimplemented("no such service").into_http::<axum::body::Body>()
    })
}
