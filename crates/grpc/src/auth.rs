//! Who is calling: the `authorization: Bearer <token>` metadata, read once for every call of
//! quire's services by [`authenticate`] and checked by the core. A bad, expired or deactivated
//! token is refused with `UNAUTHENTICATED` whatever the method (signing in included), rather
//! than served as anonymous.

use axum::extract::{Request as HttpRequest, State};
use axum::middleware::Next;
use axum::response::Response as HttpResponse;
use quire_core::policy::Actor;
use quire_core::ports::Store;
use quire_core::service::{Caller, Quire};
use tonic::{Request, Status};

use crate::error::status;

/// Authenticates a call before its service sees it, and hands the [`Caller`] on in the
/// request's extensions.
pub async fn authenticate<S: Store>(
    State(quire): State<Quire<S>>,
    mut request: HttpRequest,
    next: Next,
) -> HttpResponse {
    let authorization = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or(""));
    match quire.caller(authorization).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => status(&error).into_http(),
    }
}

/// The caller of a call, as [`authenticate`] found them.
pub fn caller<T>(request: &Request<T>) -> Caller {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_default()
}

/// The caller, or anonymous.
pub fn viewer<T>(request: &Request<T>) -> Option<Actor> {
    caller(request).actor().copied()
}

/// The caller, required.
pub fn actor<T>(request: &Request<T>) -> Result<Actor, Status> {
    caller(request)
        .require()
        .copied()
        .map_err(|error| status(&error))
}
