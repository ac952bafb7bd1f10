//! Extractors that turn requests into core inputs, failing in the API's error shape.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quire_core::policy::Actor;
use quire_core::ports::Store;
use quire_core::{AuthProblem, Error};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::{ApiError, error_body, transport_error_body};

/// A JSON request body. A wrong content type is a 415, an oversized body a 413, malformed
/// JSON a 400, and JSON of the wrong shape a 422: all with an `{"errors": ...}` body.
pub(crate) struct JsonBody<T>(pub T);

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn reject(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        if !is_json_content_type(request.headers()) {
            let status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            return Err(reject(status, transport_error_body(status)));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                reject(status, transport_error_body(status))
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| {
                use serde_json::error::Category;
                match error.classify() {
                    Category::Data => reject(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        error_body("body", &format!("has the wrong shape: {error}")),
                    ),
                    Category::Syntax | Category::Eof | Category::Io => reject(
                        StatusCode::BAD_REQUEST,
                        error_body("body", &format!("is not valid JSON: {error}")),
                    ),
                }
            })
    }
}

/// The `Authorization` header's value, if any; one that is not visible ASCII is an invalid
/// credential. (The core reads the scheme and token: `Token <jwt>` or `Bearer <jwt>`.)
pub(crate) fn authorization(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    headers
        .get(header::AUTHORIZATION)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| Error::Unauthenticated(AuthProblem::InvalidToken))
        })
        .transpose()
}

/// The signed-in caller; a request without a valid token is refused with 401.
pub(crate) struct CurrentUser {
    pub actor: Actor,
    /// The token as presented, echoed back where the contract returns one.
    pub token: String,
}

impl<S: Store> FromRequestParts<AppState<S>> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<S>) -> Result<Self, ApiError> {
        let caller = state.quire.caller(authorization(&parts.headers)?).await?;
        let actor = *caller.require()?;
        let token = caller.token().unwrap_or_default().to_owned();
        Ok(Self { actor, token })
    }
}

/// The caller, where signing in is optional. As the RealWorld contract lists no 401 for these
/// routes, a missing, malformed, expired or revoked token gives the anonymous view (the
/// documented exception to "a bad token is a 401"); only a failure to check it (the database
/// down) is an error.
pub(crate) struct MaybeUser(pub Option<Actor>);

impl<S: Store> FromRequestParts<AppState<S>> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState<S>) -> Result<Self, ApiError> {
        let value = authorization(&parts.headers).unwrap_or(None);
        let caller = state.quire.caller_or_anonymous(value).await?;
        Ok(Self(caller.actor().copied()))
    }
}

impl MaybeUser {
    pub(crate) fn actor(&self) -> Option<&Actor> {
        self.0.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_authorization_header_must_be_text() {
        let mut headers = HeaderMap::new();
        assert_eq!(authorization(&headers).unwrap(), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Token abc"));
        assert_eq!(authorization(&headers).unwrap(), Some("Token abc"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Token \xff").unwrap(),
        );
        assert!(authorization(&headers).is_err());
    }
    #[test]
    fn json_content_types_are_recognized() {
        let mut h = HeaderMap::new();
        for (value, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_json_content_type(&h), ok, "{value}");
        }
        assert!(!is_json_content_type(&HeaderMap::new()));
    }
}
