//! The one semantic error type. Each transport maps it to its wire format exactly once.

use std::collections::BTreeMap;
use std::fmt;

/// Result of every fallible core operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The kinds of thing a request can address; names the resource in not-found and forbidden errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    User,
    Post,
    Comment,
    Webhook,
    /// One event's delivery to a webhook endpoint.
    Delivery,
    /// An OpenID provider named in a request but not configured.
    IdentityProvider,
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProblem {
    /// A protected operation was called without a token.
    MissingToken,
    /// The token is malformed, expired, badly signed, or names a user who is gone or inactive.
    InvalidToken,
    /// A log-in attempt with an unknown email or a wrong password (deliberately not told apart).
    InvalidCredentials,
    /// The caller's roles changed since a long-lived connection signed in: what it was
    /// subscribed to may no longer be theirs to see, so it ends and the client connects again.
    RightsChanged,
    /// A sign-in through an OpenID provider that cannot be trusted: the provider refused the
    /// code, its ID token failed a check, the sign-in was not started by this browser or has
    /// expired, or the provider does not vouch for an email to make or link an account with.
    ExternalSignInRefused,
}

/// Messages about input fields, keyed by field name, in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<&'static str, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Errors about a single field.
    pub fn single(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_default().push(message.into());
    }

    /// Records the error of a parse, if any, and gives back the parsed value.
    pub fn check<T>(&mut self, field: &'static str, parsed: Result<T, &'static str>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &[String])> {
        self.0
            .iter()
            .map(|(field, messages)| (*field, messages.as_slice()))
    }

    /// The errors under one contract's names for the fields: `names` pairs the core's name
    /// (a post's `content`, a comment's `body`, `tags`) with the contract's (RealWorld's
    /// `body` and `tagList`, say); other fields keep their names.
    pub fn iter_as<'a>(
        &'a self,
        names: &'a [(&'static str, &'static str)],
    ) -> impl Iterator<Item = (&'static str, &'a [String])> {
        self.iter().map(|(field, messages)| {
            let named = names
                .iter()
                .find(|(core, _)| *core == field)
                .map_or(field, |(_, contract)| *contract);
            (named, messages)
        })
    }

    /// `Ok(())` when nothing was recorded, else the errors as an [`Error::Invalid`].
    pub fn into_result(self) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self))
        }
    }
}

/// A limit a caller went over, as the `RateLimit-Policy` and `RateLimit` fields describe it
/// (draft-ietf-httpapi-ratelimit-headers): `quota` units per `window_secs`, none left, the
/// next in `retry_after_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// The policy's name, a token such as `sign-in`.
    pub policy: &'static str,
    /// How many units (requests, failures) the policy allows in a window.
    pub quota: u32,
    /// The window, in seconds.
    pub window_secs: u32,
    /// How long until the caller may try again, in seconds (at least 1).
    pub retry_after_secs: u32,
}

/// Everything that can go wrong in a use-case, by meaning rather than by cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that breaks a rule of the domain.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// A request parameter the contract does not allow, before any rule of the domain is
    /// reached: a cursor this server did not make, a page size out of range. (HTTP 400 rather
    /// than 422; GraphQL `BAD_USER_INPUT`; gRPC `INVALID_ARGUMENT`.)
    #[error("malformed request: {0}")]
    Malformed(FieldErrors),
    /// The caller is not (validly) authenticated.
    #[error("not authenticated: {0:?}")]
    Unauthenticated(AuthProblem),
    /// The caller is authenticated but the policy denies the operation.
    #[error("forbidden: {0:?}")]
    Forbidden(Resource),
    /// The addressed resource does not exist or is not visible to the caller.
    #[error("not found: {0:?}")]
    NotFound(Resource),
    /// The change collides with existing state, such as a username already taken.
    #[error("conflict: {0}")]
    Conflict(FieldErrors),
    /// The change was based on a version of the resource that is no longer current: someone
    /// else changed it in between.
    #[error("stale: {0:?} changed since the version the change was based on")]
    Stale(Resource),
    /// A write lost a race with another writer (SQLite busy or locked, a PostgreSQL
    /// serialization failure or deadlock) as many times as storage retries it; the caller may
    /// retry at once. Told apart from [`Error::Unavailable`] by the database's error code.
    #[error("busy: a write lost a race with other writers")]
    Busy,
    /// The caller went over a limit (RFC 6585 section 4: HTTP 429; GraphQL `RATE_LIMITED`;
    /// gRPC `RESOURCE_EXHAUSTED`) and may retry after the time it names.
    #[error("rate limited by {}: retry after {} s", .0.policy, .0.retry_after_secs)]
    RateLimited(RateLimit),
    /// A dependency is down or overloaded; the caller may retry later.
    #[error("unavailable: {reason}")]
    Unavailable {
        reason: &'static str,
        retry_after_secs: u32,
    },
    /// A fault of the server itself. The cause is logged, never shown to the caller.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// The same error for another caller who shared the failed operation (a single-flight
    /// read): the same variant, an internal cause carried as its message.
    pub fn shared_copy(&self) -> Self {
        match self {
            Self::Invalid(errors) => Self::Invalid(errors.clone()),
            Self::Malformed(errors) => Self::Malformed(errors.clone()),
            Self::Unauthenticated(problem) => Self::Unauthenticated(*problem),
            Self::Forbidden(resource) => Self::Forbidden(*resource),
            Self::NotFound(resource) => Self::NotFound(*resource),
            Self::Conflict(errors) => Self::Conflict(errors.clone()),
            Self::Stale(resource) => Self::Stale(*resource),
            Self::Busy => Self::Busy,
            Self::RateLimited(limit) => Self::RateLimited(*limit),
            Self::Unavailable {
                reason,
                retry_after_secs,
            } => Self::Unavailable {
                reason,
                retry_after_secs: *retry_after_secs,
            },
            Self::Internal(cause) => Self::internal(cause.to_string()),
        }
    }

    /// Wraps any cause as an internal error.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid(FieldErrors::single(field, message))
    }

    pub fn malformed(field: &'static str, message: impl Into<String>) -> Self {
        Self::Malformed(FieldErrors::single(field, message))
    }

    /// How long a client should wait before retrying, in seconds, for the errors that invite
    /// a retry (`Retry-After`, RFC 9110 section 10.2.3).
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            Self::Busy => Some(1),
            Self::RateLimited(limit) => Some(limit.retry_after_secs),
            Self::Unavailable {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// The usual conflict: a unique field whose value another record holds.
    pub fn taken(field: &'static str) -> Self {
        Self::Conflict(FieldErrors::single(field, "has already been taken"))
    }

    /// Whether this is a conflict on the given field.
    pub fn is_conflict_on(&self, field: &str) -> bool {
        matches!(self, Self::Conflict(fields) if fields.contains(field))
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (field, messages) in self.iter() {
            for message in messages {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{field} {message}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_collect_in_field_order() {
        let mut errors = FieldErrors::new();
        errors.add("username", "can't be blank");
        errors.add("email", "can't be blank");
        errors.add("email", "is invalid");
        assert_eq!(
            errors.to_string(),
            "email can't be blank; email is invalid; username can't be blank"
        );
        assert!(matches!(errors.into_result(), Err(Error::Invalid(_))));
    }

    #[test]
    fn empty_field_errors_are_ok() {
        assert!(FieldErrors::new().into_result().is_ok());
    }

    #[test]
    fn taken_is_a_conflict_on_its_field() {
        let error = Error::taken("slug");
        assert!(error.is_conflict_on("slug"));
        assert!(!error.is_conflict_on("username"));
    }
}
