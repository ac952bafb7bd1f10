//! The one mapping from core errors to RealWorld's `{"errors": {...}}` bodies, and the bodies
//! of transport-level failures (bad JSON, unknown route, wrong method, limits).

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quire_core::{AuthProblem, Error, RateLimit, Resource};

use crate::headers::{RATELIMIT, RATELIMIT_POLICY};
use serde_json::{Map, Value, json};

/// A core error on its way out over HTTP.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

/// Marks a response as a server fault; the request middleware logs the cause once, with the
/// request id, and puts the id in the body.
#[derive(Clone, Debug)]
pub(crate) struct ServerFault(pub std::sync::Arc<String>);

/// The key RealWorld uses for a resource in not-found and forbidden errors.
fn resource_key(resource: Resource) -> &'static str {
    match resource {
        Resource::User => "profile",
        Resource::Post => "article",
        Resource::Comment => "comment",
        Resource::Webhook => "webhook",
        Resource::Delivery => "delivery",
        Resource::IdentityProvider => "identity provider",
    }
}

/// `{"errors": {key: [message]}}`.
pub(crate) fn error_body(key: &str, message: &str) -> Value {
    json!({ "errors": { key: [message] } })
}

/// RealWorld's names for the core's fields: an article's text is its `body`, its tags its
/// `tagList`.
const FIELD_NAMES: &[(&str, &str)] = &[("content", "body"), ("tags", "tagList")];

fn fields_body(fields: &quire_core::FieldErrors) -> Value {
    let errors: Map<String, Value> = fields
        .iter_as(FIELD_NAMES)
        .map(|(field, messages)| (field.to_owned(), json!(messages)))
        .collect();
    json!({ "errors": errors })
}

/// Status and body for a core error.
pub(crate) fn status_and_body(error: &Error) -> (StatusCode, Value) {
    match error {
        Error::Invalid(fields) => (StatusCode::UNPROCESSABLE_ENTITY, fields_body(fields)),
        Error::Malformed(fields) => (StatusCode::BAD_REQUEST, fields_body(fields)),
        Error::Unauthenticated(problem) => {
            let (key, message) = match problem {
                AuthProblem::MissingToken => ("token", "is missing"),
                AuthProblem::InvalidToken => ("token", "is invalid"),
                AuthProblem::InvalidCredentials => ("credentials", "invalid"),
                AuthProblem::RightsChanged => ("token", "is invalid"),
                AuthProblem::ExternalSignInRefused => {
                    ("credentials", "were refused by the identity provider")
                }
            };
            (StatusCode::UNAUTHORIZED, error_body(key, message))
        }
        Error::Forbidden(resource) => (
            StatusCode::FORBIDDEN,
            error_body(resource_key(*resource), "forbidden"),
        ),
        Error::NotFound(resource) => (
            StatusCode::NOT_FOUND,
            error_body(resource_key(*resource), "not found"),
        ),
        Error::Conflict(fields) => (StatusCode::CONFLICT, fields_body(fields)),
        Error::Stale(resource) => (
            StatusCode::CONFLICT,
            error_body(
                resource_key(*resource),
                "has changed since; reload and retry",
            ),
        ),
        Error::RateLimited(_) => (
            StatusCode::TOO_MANY_REQUESTS,
            error_body("rate", "limit exceeded; retry after Retry-After seconds"),
        ),
        Error::Unavailable { .. } | Error::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            error_body("service", "is temporarily unavailable, retry later"),
        ),
        Error::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            error_body("server", "internal error"),
        ),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = status_and_body(&self.0);
        let mut response = (status, Json(body)).into_response();
        carry(&self.0, &mut response, "Token realm=\"quire\"");
        response
    }
}

/// What every HTTP contract's response to a core error carries besides its body: the
/// `WWW-Authenticate` challenge (RFC 9110 section 11.6.1) in the contract's scheme, `Retry-After`
/// for an outage (logged as a warning), and, for a server fault, its cause chain for the
/// middleware to log once with the request id.
pub(crate) fn carry(error: &Error, response: &mut Response, challenge: &'static str) {
    match error {
        Error::Unauthenticated(_) => {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        Error::RateLimited(limit) => rate_limit_headers(limit, response.headers_mut()),
        Error::Unavailable { .. } | Error::Busy => {
            if let Some(secs) = error.retry_after_secs() {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            tracing::warn!(%error, "service unavailable");
        }
        Error::Internal(cause) => {
            let mut chain = cause.to_string();
            let mut source = cause.source();
            while let Some(next) = source {
                chain.push_str(": ");
                chain.push_str(&next.to_string());
                source = next.source();
            }
            response
                .extensions_mut()
                .insert(ServerFault(std::sync::Arc::new(chain)));
        }
        _ => {}
    }
}

/// `Retry-After` (RFC 9110 section 10.2.3) and the limit's `RateLimit-Policy` and `RateLimit`
/// fields (draft-ietf-httpapi-ratelimit-headers-09: `"name";q=quota;w=window` and
/// `"name";r=remaining;t=seconds`).
pub(crate) fn rate_limit_headers(limit: &RateLimit, headers: &mut HeaderMap) {
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from(limit.retry_after_secs),
    );
    let policy = format!(
        "\"{}\";q={};w={}",
        limit.policy, limit.quota, limit.window_secs
    );
    let state = format!("\"{}\";r=0;t={}", limit.policy, limit.retry_after_secs);
    for (name, value) in [(RATELIMIT_POLICY, policy), (RATELIMIT, state)] {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    }
}

/// Body for a failure the framework produced without one (or with plain text), by status.
pub(crate) fn transport_error_body(status: StatusCode) -> Value {
    match status {
        StatusCode::NOT_FOUND => error_body("route", "not found"),
        StatusCode::METHOD_NOT_ALLOWED => error_body("method", "is not allowed for this route"),
        StatusCode::PAYLOAD_TOO_LARGE => error_body("body", "is too large"),
        StatusCode::REQUEST_TIMEOUT => error_body("request", "timed out"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => error_body(
            "body",
            "must be JSON sent as Content-Type: application/json",
        ),
        status if status.is_server_error() => error_body("server", "internal error"),
        status => error_body("request", status.canonical_reason().unwrap_or("is invalid")),
    }
}

/// The fallback for paths no route serves: a problem under `/api/v1`, RealWorld's shape
/// elsewhere.
pub(crate) async fn unknown_route(uri: axum::http::Uri) -> Response {
    if crate::v1::is_v1_path(uri.path()) {
        return crate::v1::Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            "no such resource",
        )
        .into_response();
    }
    (
        StatusCode::NOT_FOUND,
        Json(transport_error_body(StatusCode::NOT_FOUND)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quire_core::FieldErrors;

    fn mapped(error: Error) -> (u16, String) {
        let (status, body) = status_and_body(&error);
        (status.as_u16(), body.to_string())
    }

    #[test]
    fn core_errors_map_to_realworld_statuses_and_bodies() {
        let cases = [
            (
                Error::invalid("title", "can't be blank"),
                422,
                r#"{"errors":{"title":["can't be blank"]}}"#,
            ),
            (
                Error::Unauthenticated(AuthProblem::MissingToken),
                401,
                r#"{"errors":{"token":["is missing"]}}"#,
            ),
            (
                Error::Unauthenticated(AuthProblem::InvalidToken),
                401,
                r#"{"errors":{"token":["is invalid"]}}"#,
            ),
            (
                Error::Unauthenticated(AuthProblem::InvalidCredentials),
                401,
                r#"{"errors":{"credentials":["invalid"]}}"#,
            ),
            (
                Error::Forbidden(Resource::Post),
                403,
                r#"{"errors":{"article":["forbidden"]}}"#,
            ),
            (
                Error::Forbidden(Resource::Comment),
                403,
                r#"{"errors":{"comment":["forbidden"]}}"#,
            ),
            (
                Error::NotFound(Resource::User),
                404,
                r#"{"errors":{"profile":["not found"]}}"#,
            ),
            (
                Error::NotFound(Resource::Post),
                404,
                r#"{"errors":{"article":["not found"]}}"#,
            ),
            (
                Error::NotFound(Resource::Comment),
                404,
                r#"{"errors":{"comment":["not found"]}}"#,
            ),
            (
                Error::Stale(Resource::Post),
                409,
                r#"{"errors":{"article":["has changed since; reload and retry"]}}"#,
            ),
            (
                Error::taken("username"),
                409,
                r#"{"errors":{"username":["has already been taken"]}}"#,
            ),
            (
                Error::Unavailable {
                    reason: "db",
                    retry_after_secs: 2,
                },
                503,
                r#"{"errors":{"service":["is temporarily unavailable, retry later"]}}"#,
            ),
        ];
        for (error, status, body) in cases {
            assert_eq!(mapped(error), (status, body.to_owned()));
        }
    }

    #[test]
    fn several_field_errors_stay_together() {
        let mut fields = FieldErrors::new();
        fields.add("email", "can't be blank");
        fields.add("username", "can't be blank");
        assert_eq!(
            mapped(Error::Invalid(fields)).1,
            r#"{"errors":{"email":["can't be blank"],"username":["can't be blank"]}}"#
        );
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let (status, body) = mapped(Error::internal("disk I/O error at /var/lib/secret.db"));
        assert_eq!(status, 500);
        assert!(!body.contains("secret"));
        assert_eq!(body, r#"{"errors":{"server":["internal error"]}}"#);
    }

    #[test]
    fn unavailable_carries_retry_after_and_internal_marks_a_fault() {
        let response = ApiError(Error::Unavailable {
            reason: "db",
            retry_after_secs: 3,
        })
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        // A write that kept losing races: busy, not broken.
        let response = ApiError(Error::Busy).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let response = ApiError(Error::internal("boom")).into_response();
        assert!(response.extensions().get::<ServerFault>().is_some());
    }
}
