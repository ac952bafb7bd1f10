//! Rate limits per client at the door: every request counts against the client's request
//! quota, and every change made through the REST contracts against its write quota, before
//! any work is done. The client is resolved through the trusted proxies ([`crate::client`])
//! and the request runs as coming from it, so the core's own limits (sign-in, registration)
//! count the same address. A refusal is answered in the shape of the contract asked: a
//! RealWorld error, a problem document, a GraphQL error with `RATE_LIMITED`, or a gRPC
//! `RESOURCE_EXHAUSTED`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use quire_core::Error;
use quire_core::limits::{Policy, from_client};
use quire_core::ports::Store;
use quire_core::service::Quire;
use serde_json::json;

use crate::client::{ClientAddress, TrustedProxies, peer};
use crate::error::{ApiError, rate_limit_headers};

/// What the limits need: the core (which holds the limiter) and the proxies to believe.
pub(crate) struct Limits<S> {
    pub quire: Quire<S>,
    pub proxies: Arc<TrustedProxies>,
}

impl<S> Clone for Limits<S> {
    fn clone(&self) -> Self {
        Self {
            quire: self.quire.clone(),
            proxies: Arc::clone(&self.proxies),
        }
    }
}

/// The contract a request speaks, for the shape of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contract {
    RealWorld,
    V1,
    Graphql,
    Grpc,
    /// Probes, documentation, feeds: not limited.
    Other,
}

impl Contract {
    fn of(request: &Request) -> Self {
        let grpc = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/grpc"));
        let path = request.uri().path();
        if grpc {
            Contract::Grpc
        } else if crate::v1::is_v1_path(path) {
            Contract::V1
        } else if path == "/graphql" || path.starts_with("/graphql/") {
            Contract::Graphql
        } else if path == "/api" || path.starts_with("/api/") {
            Contract::RealWorld
        } else {
            Contract::Other
        }
    }
}

/// The middleware: resolves the client, counts the request, and runs it as the client's.
pub(crate) async fn enforce<S: Store>(
    State(limits): State<Limits<S>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(peer) = peer(&request) else {
        return next.run(request).await;
    };
    let client = limits.proxies.client(peer, request.headers());
    request.extensions_mut().insert(ClientAddress(client));
    let contract = Contract::of(&request);
    let writes =
        matches!(contract, Contract::RealWorld | Contract::V1) && !request.method().is_safe();
    from_client(client, async move {
        if contract != Contract::Other {
            let mut counted = limits.quire.throttle(Policy::Request).await;
            if counted.is_ok() && writes {
                counted = limits.quire.throttle(Policy::Write).await;
            }
            if let Err(error) = counted {
                return refusal(contract, error);
            }
        }
        next.run(request).await
    })
    .await
}

/// A refusal in `contract`'s shape.
fn refusal(contract: Contract, error: Error) -> Response {
    let Error::RateLimited(limit) = &error else {
        return ApiError(error).into_response();
    };
    let limit = *limit;
    let message = format!(
        "too many requests: over the {} limit; retry in {} s",
        limit.policy, limit.retry_after_secs
    );
    let mut response = match contract {
        Contract::V1 => crate::v1::V1Error::from(error).into_response(),
        Contract::Graphql => (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(json!({
                "errors": [{
                    "message": message,
                    "extensions": {
                        "code": "RATE_LIMITED",
                        "policy": limit.policy,
                        "retryAfter": limit.retry_after_secs,
                    },
                }],
            })),
        )
            .into_response(),
        // A trailers-only gRPC response: HTTP 200 with the status in the headers.
        Contract::Grpc => {
            let mut response = StatusCode::OK.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/grpc"),
            );
            // RESOURCE_EXHAUSTED.
            headers.insert("grpc-status", HeaderValue::from_static("8"));
            let encoded =
                percent_encoding::utf8_percent_encode(&message, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            if let Ok(value) = HeaderValue::try_from(encoded) {
                headers.insert("grpc-message", value);
            }
            response
        }
        Contract::RealWorld | Contract::Other => ApiError(error).into_response(),
    };
    if contract == Contract::Graphql || contract == Contract::Grpc {
        rate_limit_headers(&limit, response.headers_mut());
    }
    response
}
