//! `Idempotency-Key` on POST: a retry with the same key and body replays the first response
//! without acting again; the same key with another body is a 422; a retry while the first is
//! still running is a 409. Keys live in the database, so they hold across instances and
//! restarts.

use std::future::Future;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quire_core::events::Aggregate;
use quire_core::model::{Claim, IdempotentResponse};
use quire_core::policy::Actor;
use quire_core::ports::Store;

use super::negotiate::fingerprint;
use super::problem::{Problem, V1Error};
use crate::AppState;

use crate::headers::{IDEMPOTENCY_KEY as KEY, IDEMPOTENT_REPLAYED};

/// Headers a replay carries along with the status and body.
const KEPT: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::ETAG,
    header::CACHE_CONTROL,
];

/// A request's `Idempotency-Key`, if it sent one, read by an extractor: a value that is not
/// header text is a 400 before anything runs (the core checks its length and characters).
pub(crate) struct IdempotencyKey(Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdempotencyKey {
    type Rejection = V1Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, V1Error> {
        let Some(key) = parts.headers.get(KEY) else {
            return Ok(Self(None));
        };
        let key = key.to_str().map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-idempotency-key",
                "Bad idempotency key",
                "the key must be visible ASCII",
            )
        })?;
        Ok(Self(Some(key.to_owned())))
    }
}

/// Runs `request` once per key: the first time for real, later times as a replay. `body` is
/// what tells one request from another under the same key; it is kept only as a hash, and
/// must hold no secret (a hash of a short secret can be brute-forced).
///
/// When the first run's change committed but its answer was lost (its process stopped, or it
/// failed after the commit), `recover` answers from the aggregate of kind `creates` (`post`,
/// `comment`, `user`) the change created, as the first run would have; that answer is then
/// kept for later retries.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn once<S, F, Fut, R, RFut>(
    state: &AppState<S>,
    key: &IdempotencyKey,
    actor: Option<&Actor>,
    operation: &str,
    body: &[u8],
    creates: &'static str,
    request: F,
    recover: R,
) -> Result<Response, V1Error>
where
    S: Store,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response, V1Error>>,
    R: FnOnce(Aggregate) -> RFut,
    RFut: Future<Output = Result<Response, V1Error>>,
{
    let Some(key) = key.0.as_deref() else {
        return request().await;
    };
    let fingerprint = format!("{operation} {}", fingerprint(body));
    let claimed_at = match state
        .quire
        .claim_idempotency_key(actor, key, &fingerprint)
        .await?
    {
        Claim::Claimed { at } => at,
        Claim::Replay(stored) => return Ok(replay(stored)),
        Claim::Committed(aggregate) => {
            let response = recover(aggregate).await?;
            return keep(state, actor, key, response).await;
        }
        Claim::InProgress => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "request-in-progress",
                "Request in progress",
                "a request with this Idempotency-Key is still running; retry when it ends",
            )
            .into());
        }
        Claim::Mismatch => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
                "this Idempotency-Key was used for a different request",
            )
            .into());
        }
    };
    let response = state
        .quire
        .run_claimed(actor, key, claimed_at, creates, request())
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if response.status().is_server_error() || response.status() == StatusCode::TOO_MANY_REQUESTS {
        // Let the key go so a retry runs again (after an outage, or once the limit allows);
        // a key whose change committed is kept, and a retry is answered by `recover`.
        state.quire.release_idempotency_key(actor, key).await?;
        return Ok(response);
    }
    keep(state, actor, key, response).await
}

/// Records `response` as the answer to replay under `key`, and returns it.
async fn keep<S: Store>(
    state: &AppState<S>,
    actor: Option<&Actor>,
    key: &str,
    response: Response,
) -> Result<Response, V1Error> {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(quire_core::Error::internal)?;
    let stored = IdempotentResponse {
        status: status.as_u16(),
        headers: KEPT
            .iter()
            .filter_map(|name| {
                let value = parts.headers.get(name)?.to_str().ok()?;
                Some((name.as_str().to_owned(), value.to_owned()))
            })
            .collect(),
        body: bytes.to_vec(),
    };
    state
        .quire
        .complete_idempotency_key(actor, key, &stored)
        .await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn replay(stored: IdempotentResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}
