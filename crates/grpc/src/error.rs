//! The core error mapped to gRPC status codes, once. Invalid input carries its field
//! violations as `google.rpc.BadRequest` details; internal causes are logged, never sent.

use quire_core::{AuthProblem, Error, Resource};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

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

/// The `.proto` names for the core's fields: a comment's text is its `content`, as a post's is.
const FIELD_NAMES: &[(&str, &str)] = &[("body", "content")];

pub fn status(error: &Error) -> Status {
    match error {
        Error::Invalid(fields) | Error::Malformed(fields) => {
            let violations: Vec<FieldViolation> = fields
                .iter_as(FIELD_NAMES)
                .flat_map(|(field, messages)| {
                    messages
                        .iter()
                        .map(move |message| FieldViolation::new(field, message.clone()))
                })
                .collect();
            Status::with_error_details(
                Code::InvalidArgument,
                "invalid input",
                ErrorDetails::with_bad_request(violations),
            )
        }
        Error::Conflict(fields) => {
            let taken: Vec<&str> = fields.iter().map(|(field, _)| field).collect();
            Status::already_exists(format!("already taken: {}", taken.join(", ")))
        }
        Error::Unauthenticated(problem) => Status::unauthenticated(match problem {
            AuthProblem::MissingToken => "sign in: send authorization: Bearer <token>",
            AuthProblem::InvalidToken => "the token is invalid or expired",
            AuthProblem::InvalidCredentials => "email or password is invalid",
            AuthProblem::RightsChanged => "your roles changed since this stream began; watch again",
            AuthProblem::ExternalSignInRefused => {
                "the sign-in through the identity provider was refused"
            }
        }),
        Error::Forbidden(what) => {
            Status::permission_denied(format!("you may not do this to this {}", resource(*what)))
        }
        Error::NotFound(what) => Status::not_found(format!("{} not found", resource(*what))),
        Error::Stale(what) => Status::failed_precondition(format!(
            "the {} changed since the version given",
            resource(*what)
        )),
        Error::RateLimited(limit) => Status::with_error_details(
            Code::ResourceExhausted,
            format!(
                "over the {} limit; retry in {} s",
                limit.policy, limit.retry_after_secs
            ),
            ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(u64::from(
                limit.retry_after_secs,
            )))),
        ),
        Error::Unavailable { .. } | Error::Busy => {
            Status::unavailable("temporarily unavailable; retry later")
        }
        Error::Internal(cause) => {
            tracing::error!(%cause, "grpc call failed");
            Status::internal("internal error")
        }
    }
}

/// `?`-friendly conversion of core results.
pub trait OrStatus<T> {
    fn or_status(self) -> Result<T, Status>;
}

impl<T> OrStatus<T> for quire_core::Result<T> {
    fn or_status(self) -> Result<T, Status> {
        self.map_err(|error| status(&error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quire_core::FieldErrors;

    #[test]
    fn every_kind_maps_to_its_code() {
        let cases = [
            (
                Error::invalid("title", "can't be blank"),
                Code::InvalidArgument,
            ),
            (
                Error::Conflict(FieldErrors::single("username", "has already been taken")),
                Code::AlreadyExists,
            ),
            (
                Error::Unauthenticated(AuthProblem::InvalidToken),
                Code::Unauthenticated,
            ),
            (Error::Forbidden(Resource::Post), Code::PermissionDenied),
            (Error::NotFound(Resource::Comment), Code::NotFound),
            (Error::Stale(Resource::Post), Code::FailedPrecondition),
            (
                Error::Unavailable {
                    reason: "pool",
                    retry_after_secs: 1,
                },
                Code::Unavailable,
            ),
            (Error::internal("secret detail"), Code::Internal),
        ];
        for (error, code) in &cases {
            assert_eq!(status(error).code(), *code, "{error}");
        }
        assert_eq!(
            status(&Error::internal("secret detail")).message(),
            "internal error"
        );
    }

    #[test]
    fn invalid_input_carries_field_violations() {
        let mut fields = FieldErrors::new();
        fields.add("title", "can't be blank");
        fields.add("tagList", "has too many tags");
        let status = status(&Error::Invalid(fields));
        let details = status.get_error_details();
        let violations = &details.bad_request().expect("BadRequest").field_violations;
        let pairs: Vec<(&str, &str)> = violations
            .iter()
            .map(|v| (v.field.as_str(), v.description.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("tagList", "has too many tags"),
                ("title", "can't be blank")
            ]
        );
    }
}
