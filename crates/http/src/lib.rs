//! quire's HTTP transports: the RealWorld ("Conduit") API at `/api` and the resource API at
//! `/api/v1`, plus the health probes and the middleware every HTTP contract shares (request
//! ids, tracing, limits, CORS, and one error shape for every failure).
//!
//! Handlers only translate: they parse requests into core calls and core results into wire
//! types. Rules and permissions live in `quire-core`; SQL lives in `quire-storage`, which this
//! crate cannot reach.

mod caching;
pub mod client;
mod error;
mod extract;
mod feeds;
pub mod headers;
mod health;
mod jwks;
mod limits;
mod middleware;
mod patch;
mod realworld;
mod rendered;
pub mod security_headers;
mod v1;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use quire_core::ports::Store;
use quire_core::service::Quire;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use caching::{CacheHeaders, surrogate_key};
pub use error::ApiError;
pub use feeds::Site;
pub use middleware::{ACCESS_LOG_TARGET, RequestId};

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub body_limit: usize,
    /// A request still running after this gets 503 and its work is dropped. (Not 408, which
    /// tells a client it was slow to send and invites an automatic retry of a POST.)
    pub request_timeout: Duration,
    /// Origins browsers may call from; `*` allows any.
    pub cors_origins: Vec<String>,
    /// Set when the process is shutting down: readiness fails at once, so load balancers
    /// stop sending traffic while in-flight requests finish.
    pub draining: Arc<AtomicBool>,
    /// Distributed tracing, when the process exports traces.
    pub tracing: Option<Arc<dyn RequestTracing>>,
    /// How long shared caches may keep what everyone sees alike.
    pub cache_headers: CacheHeaders,
    /// The site that shows the posts, for the links of feeds and sitemaps.
    pub site: Site,
    /// The proxies whose `Forwarded` and `X-Forwarded-For` name the client.
    pub trusted_proxies: Arc<client::TrustedProxies>,
    /// The headers every response carries (`security_headers`).
    pub security_headers: security_headers::SecurityHeaders,
}

/// Joins each request's span to a distributed trace (this crate knows no tracing backend).
pub trait RequestTracing: Send + Sync + std::fmt::Debug {
    /// Makes `span` continue the trace a W3C `traceparent` header names, if any, and answers
    /// the span's trace id, for the request's log lines.
    fn start(&self, span: &tracing::Span, headers: &axum::http::HeaderMap) -> Option<String>;

    /// Names the exported span once routing has matched (`GET /api/articles/{slug}`), after
    /// [`RequestTracing::start`] began it.
    fn name(&self, span: &tracing::Span, name: String);
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            cors_origins: vec!["*".to_owned()],
            draining: Arc::default(),
            tracing: None,
            cache_headers: CacheHeaders::default(),
            site: Site::default(),
            trusted_proxies: Arc::default(),
            security_headers: security_headers::SecurityHeaders::default(),
        }
    }
}

/// What every handler shares.
pub struct AppState<S> {
    pub quire: Quire<S>,
    pub draining: Arc<AtomicBool>,
    /// The language readers get when none they ask for is there.
    pub fallback_language: Option<Arc<str>>,
}

impl<S: Clone> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self {
            quire: self.quire.clone(),
            draining: Arc::clone(&self.draining),
            fallback_language: self.fallback_language.clone(),
        }
    }
}

/// Routes of contracts served from their own crates.
#[derive(Default)]
pub struct Contracts {
    /// Routes under every HTTP limit (body size, timeout), such as GraphQL's.
    pub limited: Router,
    /// Routes that bound themselves, such as gRPC's (message sizes, the client's deadline,
    /// streams that outlive any request timeout); they still get request ids, logs and CORS.
    pub self_limited: Router,
}

/// How long an import request may take: a site's worth of files, each a write.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(600);

/// The whole HTTP application: every contract and probe behind the shared middleware.
///
/// The middleware every request passes (request id, span, log line and metrics, CORS, rate
/// limits, panics caught, kept responses) wraps the routes once, outside routing, so a request
/// pays for it once rather than once per layer of every route; only what differs between routes (body
/// limits and the timeout, which gRPC's streams bound themselves; the caching headers of the
/// HTTP contracts) is layered on the routes that need it.
pub fn router<S: Store>(quire: Quire<S>, config: &HttpConfig, contracts: Contracts) -> Router {
    use tower::Layer as _;
    let renders = quire.clone();
    let limits = limits::Limits {
        quire: quire.clone(),
        proxies: Arc::clone(&config.trusted_proxies),
    };
    let state = AppState {
        quire,
        draining: Arc::clone(&config.draining),
        fallback_language: config.site.language.as_deref().map(Arc::from),
    };
    let imports = state.clone();
    let feeds_quire = state.quire.clone();
    let routes = Router::new()
        .nest("/api/v1", v1::routes(&state))
        .nest("/api", realworld::routes())
        .merge(health::routes())
        .merge(jwks::routes())
        .fallback(error::unknown_route)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            config.cache_headers,
            caching::respond,
        ))
        .merge(v1::docs_router())
        .merge(feeds::routes(feeds_quire, Arc::new(config.site.clone())))
        .merge(
            contracts
                .limited
                .layer(axum::middleware::from_fn_with_state(
                    config.cache_headers,
                    caching::revalidate,
                )),
        )
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .merge(
            Router::new()
                .nest("/api/v1", v1::import_routes(&imports))
                .with_state(imports.clone())
                .layer(DefaultBodyLimit::max(v1::IMPORT_BODY_LIMIT))
                .layer(RequestBodyLimitLayer::new(v1::IMPORT_BODY_LIMIT))
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    IMPORT_TIMEOUT,
                )),
        )
        .merge(contracts.self_limited)
        .layer(axum::middleware::from_fn(middleware::note_route));
    let kept = axum::middleware::from_fn_with_state(renders, rendered::serve::<S>).layer(routes);
    let guarded = tower_http::catch_panic::CatchPanicLayer::new().layer(kept);
    let counted = axum::middleware::from_fn_with_state(limits, limits::enforce::<S>).layer(guarded);
    let shared = cors(config).layer(counted);
    let headed = axum::middleware::from_fn_with_state(
        config.security_headers.clone(),
        security_headers::add,
    )
    .layer(shared);
    let served =
        axum::middleware::from_fn_with_state(config.tracing.clone(), middleware::request_context)
            .layer(headed);
    Router::new().fallback_service(served)
}

/// `router` behind the per-client rate limits, for a listener served apart from [`router`]
/// (gRPC's own port): its requests are counted and run as their client's, as on the main one.
pub fn rate_limited<S: Store>(
    router: Router,
    quire: Quire<S>,
    proxies: Arc<client::TrustedProxies>,
) -> Router {
    router.layer(axum::middleware::from_fn_with_state(
        limits::Limits { quire, proxies },
        limits::enforce::<S>,
    ))
}

/// CORS as browsers need it for a front end on another origin: preflights answered on every
/// route of every HTTP contract, every request header quire defines allowed and every response
/// header a client acts on exposed ([`headers`]). Credentials (cookies) are never allowed:
/// quire's tokens travel in `Authorization`, so any origin may be allowed safely.
fn cors(config: &HttpConfig) -> CorsLayer {
    use axum::http::Method;
    let origins = if config.cors_origins.iter().any(|origin| origin == "*") {
        AllowOrigin::from(Any)
    } else {
        AllowOrigin::list(
            config
                .cors_origins
                .iter()
                .filter_map(|origin| origin.parse().ok()),
        )
    };
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(headers::cors_allowed())
        .expose_headers(headers::cors_exposed())
        .max_age(Duration::from_secs(600))
}
