//! The core error mapped to GraphQL once: a stable message and an `extensions.code` per kind,
//! and for invalid input the messages per field. Internal causes are logged, never sent.

use async_graphql::{Error as GraphqlError, ErrorExtensions, Value};
use quire_core::{AuthProblem, Error, Resource};

/// Codes a client can branch on, in `extensions.code`.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const CONFLICT: &str = "CONFLICT";
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const INTERNAL: &str = "INTERNAL";
    pub const TIMEOUT: &str = "TIMEOUT";
    pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
}

/// The code of an error the executor raised against a whole request (one without a path):
/// a document that does not parse, or one that fails validation.
pub fn request_error_code(message: &str) -> &'static str {
    if message.trim_start().starts_with("-->") {
        code::GRAPHQL_PARSE_FAILED
    } else {
        code::GRAPHQL_VALIDATION_FAILED
    }
}

fn resource(resource: Resource) -> &'static str {
    match resource {
        Resource::User => "user",
        Resource::Post => "post",
        Resource::Comment => "comment",
        Resource::Webhook => "webhook",
        Resource::Delivery => "delivery",
        Resource::IdentityProvider => "identity provider",
    }
}

/// An error with a message and a code.
pub fn coded(message: impl Into<String>, code: &'static str) -> GraphqlError {
    GraphqlError::new(message).extend_with(|_, extensions| extensions.set("code", code))
}

/// GraphQL's names for the core's fields where they differ: `setUserActive` takes `active`.
const FIELD_NAMES: &[(&str, &str)] = &[("isActive", "active")];

/// The one mapping from the core's error to what a GraphQL client sees.
pub fn graphql_error(error: &Error) -> GraphqlError {
    match error {
        Error::Invalid(fields) | Error::Malformed(fields) | Error::Conflict(fields) => {
            let code = if matches!(error, Error::Conflict(_)) {
                code::CONFLICT
            } else {
                code::BAD_USER_INPUT
            };
            let summary = fields
                .iter_as(FIELD_NAMES)
                .map(|(field, messages)| format!("{field} {}", messages.join(", ")))
                .collect::<Vec<_>>()
                .join("; ");
            let details: async_graphql::indexmap::IndexMap<async_graphql::Name, Value> = fields
                .iter_as(FIELD_NAMES)
                .map(|(field, messages)| {
                    (
                        async_graphql::Name::new(field),
                        Value::List(messages.iter().cloned().map(Value::String).collect()),
                    )
                })
                .collect();
            GraphqlError::new(summary).extend_with(move |_, extensions| {
                extensions.set("code", code);
                extensions.set("fields", Value::Object(details.clone()));
            })
        }
        Error::Unauthenticated(problem) => coded(
            match problem {
                AuthProblem::MissingToken => "sign in to do this",
                AuthProblem::InvalidToken => "the token is invalid or expired",
                AuthProblem::InvalidCredentials => "email or password is invalid",
                AuthProblem::ExternalSignInRefused => {
                    "the sign-in through the identity provider was refused"
                }
                AuthProblem::RightsChanged => {
                    "your roles changed since this connection signed in; connect again"
                }
            },
            code::UNAUTHENTICATED,
        ),
        Error::Forbidden(what) => coded(
            format!("you may not do this to this {}", resource(*what)),
            code::FORBIDDEN,
        ),
        Error::NotFound(what) => coded(format!("{} not found", resource(*what)), code::NOT_FOUND),
        Error::Stale(what) => coded(
            format!("the {} changed since the version given", resource(*what)),
            code::CONFLICT,
        ),
        Error::RateLimited(limit) => {
            let (policy, retry) = (limit.policy, limit.retry_after_secs);
            coded(
                format!("too many attempts; retry in {retry} s"),
                code::RATE_LIMITED,
            )
            .extend_with(move |_, extensions| {
                extensions.set("policy", policy);
                extensions.set("retryAfter", retry);
            })
        }
        Error::Unavailable { .. } | Error::Busy => {
            let retry = error.retry_after_secs().unwrap_or(1);
            coded("temporarily unavailable; retry later", code::UNAVAILABLE)
                .extend_with(move |_, extensions| extensions.set("retryAfter", retry))
        }
        Error::Internal(cause) => {
            tracing::error!(%cause, "graphql resolver failed");
            coded("internal error", code::INTERNAL)
        }
    }
}

/// `?`-friendly conversion of core results.
pub trait OrGraphql<T> {
    fn or_graphql(self) -> async_graphql::Result<T>;
}

impl<T> OrGraphql<T> for quire_core::Result<T> {
    fn or_graphql(self) -> async_graphql::Result<T> {
        self.map_err(|error| graphql_error(&error))
    }
}

impl<T> OrGraphql<T> for Result<T, std::sync::Arc<Error>> {
    fn or_graphql(self) -> async_graphql::Result<T> {
        self.map_err(|error| graphql_error(&error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quire_core::FieldErrors;

    fn code_of(error: &Error) -> String {
        let error = graphql_error(error);
        match error.extensions.and_then(|ext| ext.get("code").cloned()) {
            Some(Value::String(code)) => code,
            other => panic!("no code: {other:?}"),
        }
    }

    #[test]
    fn every_kind_has_its_code_and_internals_stay_inside() {
        let cases = [
            (Error::invalid("title", "can't be blank"), "BAD_USER_INPUT"),
            (
                Error::Conflict(FieldErrors::single("username", "has already been taken")),
                "CONFLICT",
            ),
            (
                Error::Unauthenticated(AuthProblem::MissingToken),
                "UNAUTHENTICATED",
            ),
            (Error::Forbidden(Resource::Post), "FORBIDDEN"),
            (Error::NotFound(Resource::User), "NOT_FOUND"),
            (Error::Stale(Resource::Post), "CONFLICT"),
            (
                Error::Unavailable {
                    reason: "pool",
                    retry_after_secs: 1,
                },
                "UNAVAILABLE",
            ),
            (Error::internal("password=hunter2 in SQL"), "INTERNAL"),
        ];
        for (error, code) in &cases {
            assert_eq!(code_of(error), *code, "{error}");
        }
        let internal = graphql_error(&Error::internal("password=hunter2 in SQL"));
        assert!(!internal.message.contains("hunter2"));
    }

    #[test]
    fn invalid_input_names_its_fields() {
        let error = graphql_error(&Error::invalid("title", "can't be blank"));
        assert_eq!(error.message, "title can't be blank");
        let fields = error.extensions.and_then(|ext| ext.get("fields").cloned());
        assert_eq!(
            fields.map(|value| value.to_string()),
            Some(r#"{title: ["can't be blank"]}"#.to_owned())
        );
    }
}
