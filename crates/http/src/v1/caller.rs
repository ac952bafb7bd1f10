//! Who is calling `/api/v1`: every request's `Authorization` is checked once, by
//! [`authenticate`], before any handler runs, whether or not the route needs a caller; so a
//! presented token that does not verify is a 401 on every route (tags, sign-in and
//! registration included), as on GraphQL and gRPC. Handlers read the result with
//! [`Authenticated`].

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use quire_core::Error;
use quire_core::ports::Store;
use quire_core::service::Caller;

use super::problem::V1Error;
use crate::AppState;
use crate::extract::authorization;

/// Authenticates the request and hands the [`Caller`] on in its extensions.
pub(crate) async fn authenticate<S: Store>(
    State(state): State<AppState<S>>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match authorization(request.headers()) {
        Ok(value) => state.quire.caller(value).await,
        Err(error) => Err(error),
    };
    match caller {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => V1Error::Core(error).into_response(),
    }
}

/// The caller [`authenticate`] found: anonymous, or signed in.
pub(crate) struct Authenticated(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = V1Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, V1Error> {
        let caller = parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            V1Error::Core(Error::internal(
                "a /api/v1 route ran without authentication",
            ))
        })?;
        Ok(Self(caller))
    }
}
