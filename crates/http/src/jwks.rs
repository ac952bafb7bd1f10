//! `/.well-known/jwks.json`: the public keys access tokens verify with, as a JWK Set
//! (RFC 7517 section 5), so any service can check quire's tokens without sharing a secret.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use quire_core::ports::Store;

use crate::AppState;
use crate::v1::V1Error;

/// How long a client may keep the document, in seconds. A rotation publishes the new key at
/// once; a verifier that meets a `kid` it does not know fetches the document again.
const MAX_AGE_SECS: u32 = 300;

pub(crate) fn routes<S: Store>() -> Router<AppState<S>> {
    Router::new().route("/.well-known/jwks.json", get(key_set::<S>))
}

/// The JWK Set, as `application/jwk-set+json` (RFC 7517 section 8.5); with HS256 tokens, an
/// empty set (a shared secret is never published).
async fn key_set<S: Store>(State(state): State<AppState<S>>) -> Result<Response, V1Error> {
    let document = state.quire.public_keys().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/jwk-set+json".to_owned()),
            (
                header::CACHE_CONTROL,
                format!("public, max-age={MAX_AGE_SECS}"),
            ),
        ],
        document,
    )
        .into_response())
}
