//! The one mapping from core errors to problem details (RFC 9457) for `/api/v1`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quire_core::{AuthProblem, Error, FieldErrors, Resource};
use serde::Serialize;

use crate::middleware::current_request_id;

/// Whether a path belongs to `/api/v1`, whose errors are problem details.
pub(crate) fn is_v1_path(path: &str) -> bool {
    path == "/api/v1" || path.starts_with("/api/v1/")
}

/// A problem details object. `instance` is the request id, so a report can be matched to the
/// server's log line.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename = "problem")]
pub(crate) struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub instance: String,
    /// Per-field messages of a validation failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub(crate) struct FieldProblem {
    pub field: String,
    pub messages: Vec<String>,
}

fn resource_name(resource: Resource) -> &'static str {
    match resource {
        Resource::User => "user",
        Resource::Post => "post",
        Resource::Comment => "comment",
        Resource::Webhook => "webhook",
        Resource::Delivery => "delivery",
        Resource::IdentityProvider => "identity provider",
    }
}

/// `/api/v1`'s names for the core's fields: a comment's text is its `content`, as a post's is.
const FIELD_NAMES: &[(&str, &str)] = &[("body", "content")];

fn fields(errors: &FieldErrors) -> Vec<FieldProblem> {
    errors
        .iter_as(FIELD_NAMES)
        .map(|(field, messages)| FieldProblem {
            field: field.to_owned(),
            messages: messages.to_vec(),
        })
        .collect()
}

impl Problem {
    /// A problem of the given kind (the last segment of its type URI).
    pub(crate) fn new(
        status: StatusCode,
        code: &str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: format!("/api/v1/problems/{code}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            instance: current_request_id()
                .map(|id| format!("urn:quire:request:{id}"))
                .unwrap_or_default(),
            errors: Vec::new(),
        }
    }

    /// The problem a core error is. Server faults say nothing of their cause.
    pub(crate) fn from_error(error: &Error) -> Self {
        match error {
            Error::Invalid(errors) => Self {
                errors: fields(errors),
                ..Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    "Invalid input",
                    errors.to_string(),
                )
            },
            Error::Malformed(errors) => Self {
                errors: fields(errors),
                ..Self::new(
                    StatusCode::BAD_REQUEST,
                    "bad-query",
                    "Bad query",
                    errors.to_string(),
                )
            },
            Error::Unauthenticated(problem) => {
                let detail = match problem {
                    AuthProblem::MissingToken => "this operation needs a bearer token",
                    AuthProblem::InvalidToken => "the bearer token is invalid or expired",
                    AuthProblem::InvalidCredentials => "the email or password is wrong",
                    AuthProblem::RightsChanged => "your roles changed; sign in again",
                    AuthProblem::ExternalSignInRefused => {
                        "the sign-in through the identity provider was refused"
                    }
                };
                Self::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "Not authenticated",
                    detail,
                )
            }
            Error::Forbidden(resource) => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                format!("you may not do this to this {}", resource_name(*resource)),
            ),
            Error::NotFound(resource) => Self::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                format!("no such {}", resource_name(*resource)),
            ),
            Error::Conflict(errors) => Self {
                errors: fields(errors),
                ..Self::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    "Conflict",
                    errors.to_string(),
                )
            },
            Error::Stale(resource) => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
                format!(
                    "the {} changed since the version the change was based on",
                    resource_name(*resource)
                ),
            ),
            Error::RateLimited(limit) => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!(
                    "over the {} limit; retry in {} s",
                    limit.policy, limit.retry_after_secs
                ),
            ),
            Error::Unavailable { .. } | Error::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "a dependency is unavailable; retry later",
            ),
            Error::Internal(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the server failed; the instance identifies this request in its logs",
            ),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    /// `application/problem+xml` for clients that prefer XML, else `application/problem+json`.
    fn into_response(self) -> Response {
        let status = self.status();
        let xml = crate::middleware::prefers_xml()
            .then(|| quick_xml::se::to_string_with_root("problem", &self).ok())
            .flatten();
        let (body, content_type) = match xml {
            Some(xml) => (xml.into_bytes(), "application/problem+xml"),
            None => (
                serde_json::to_vec(&self).unwrap_or_default(),
                "application/problem+json",
            ),
        };
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    }
}

/// What goes wrong in an `/api/v1` handler: a core error, or a problem of HTTP itself
/// (406, 412, 415) that the core never sees.
pub(crate) enum V1Error {
    Core(Error),
    Http(Problem),
}

impl From<Error> for V1Error {
    fn from(error: Error) -> Self {
        Self::Core(error)
    }
}

impl From<Problem> for V1Error {
    fn from(problem: Problem) -> Self {
        Self::Http(problem)
    }
}

impl IntoResponse for V1Error {
    /// A core error's problem, with what every contract's response to it carries
    /// ([`crate::error::carry`]): the `Bearer` challenge, `Retry-After`, a fault to log.
    fn into_response(self) -> Response {
        let error = match self {
            Self::Http(problem) => return problem.into_response(),
            Self::Core(error) => error,
        };
        let mut response = Problem::from_error(&error).into_response();
        crate::error::carry(&error, &mut response, "Bearer realm=\"quire\"");
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_problem_statuses_and_types() {
        let cases = [
            (Error::invalid("title", "can't be blank"), 422, "invalid"),
            (
                Error::Unauthenticated(AuthProblem::MissingToken),
                401,
                "unauthenticated",
            ),
            (Error::Forbidden(Resource::Post), 403, "forbidden"),
            (Error::NotFound(Resource::User), 404, "not-found"),
            (Error::taken("username"), 409, "conflict"),
            (Error::Stale(Resource::Post), 412, "precondition-failed"),
            (
                Error::Unavailable {
                    reason: "db",
                    retry_after_secs: 1,
                },
                503,
                "unavailable",
            ),
            (Error::internal("secret detail"), 500, "internal"),
        ];
        for (error, status, code) in cases {
            let problem = Problem::from_error(&error);
            assert_eq!(problem.status, status);
            assert_eq!(problem.kind, format!("/api/v1/problems/{code}"));
            assert!(!problem.detail.contains("secret"));
        }
    }

    #[test]
    fn validation_problems_list_each_field() {
        let mut errors = FieldErrors::new();
        errors.add("email", "is invalid");
        errors.add("password", "is too short (minimum is 8 characters)");
        let problem = Problem::from_error(&Error::Invalid(errors));
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(json["errors"][0]["field"], "email");
        assert_eq!(
            json["errors"][1]["messages"][0],
            "is too short (minimum is 8 characters)"
        );
        assert_eq!(json["title"], "Invalid input");
    }

    #[test]
    fn problems_are_served_as_problem_json() {
        let response = V1Error::Core(Error::Unavailable {
            reason: "db",
            retry_after_secs: 2,
        })
        .into_response();
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = V1Error::Core(Error::internal("boom")).into_response();
        assert!(
            response
                .extensions()
                .get::<crate::error::ServerFault>()
                .is_some()
        );
    }
}
