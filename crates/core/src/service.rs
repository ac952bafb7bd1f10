//! The use-cases: every operation a user can perform, whichever contract carries it.
//!
//! Each checks input, then the [`crate::policy`], then acts through the [`crate::ports`].
//! Checks run in the order the contracts promise: authentication (done by the caller via
//! [`Quire::authenticate`]), then existence (404), then permission (403), then input (422).

mod accounts;
mod batch;
mod comments;
mod idempotency;
mod posts;
mod profiles;
mod users;
mod watching;

use std::sync::Arc;

use crate::error::{AuthProblem, Error, FieldErrors, Result};
use crate::events::DomainEvent;
use crate::policy::Actor;
use crate::ports::{Clock, EventBus, EventStream, PasswordHasher, Random, Store, TokenService};

pub use accounts::{Registration, UserUpdate};
pub use idempotency::IDEMPOTENCY_WINDOW_MILLIS;
pub use posts::{PostAddress, PostDraft, PostListing, PostUpdate};
pub use watching::Heard;

/// A field in a partial update: absent, explicitly null, or a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

/// A binary message cannot send "null": a field is there (a value) or not (absent).
impl<T> From<Option<T>> for Patch<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Patch::Absent, Patch::Value)
    }
}

/// The adapters the use-cases need besides storage.
#[derive(Clone)]
pub struct Adapters {
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenService>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub events: Arc<dyn EventBus>,
}

/// The application core, generic over its one storage type.
#[derive(Clone)]
pub struct Quire<S> {
    store: S,
    adapters: Adapters,
}

impl<S: Store> Quire<S> {
    pub fn new(store: S, adapters: Adapters) -> Self {
        Self { store, adapters }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The caller an `Authorization` header value names (`Bearer <token>`, or RealWorld's
    /// `Token <token>`): anonymous without one; a malformed, bad, expired or deactivated one is
    /// refused rather than treated as anonymous. Every contract reads its callers here.
    pub async fn authenticate_header(&self, authorization: Option<&str>) -> Result<Option<Actor>> {
        match authorization {
            None => Ok(None),
            Some(value) => self.authenticate(presented_token(value)?).await.map(Some),
        }
    }

    /// Turns a bearer token into the actor it names. A token for a user who was deleted or
    /// deactivated since it was issued is refused. The user's id (never more) is recorded on
    /// the current request's span, so its log line says who asked.
    pub async fn authenticate(&self, token: &str) -> Result<Actor> {
        let now = self.adapters.clock.now();
        let user_id = self
            .adapters
            .tokens
            .verify(token, now)
            .map_err(Error::Unauthenticated)?;
        match self.store.user_by_id(user_id).await? {
            Some(user) if user.active => {
                tracing::Span::current().record("user_id", user.id.get());
                Ok(Actor::new(user.id, user.roles))
            }
            _ => Err(Error::Unauthenticated(AuthProblem::InvalidToken)),
        }
    }

    /// Domain events from now on: posts published, comments added.
    pub fn events(&self) -> EventStream {
        self.adapters.events.subscribe()
    }

    /// Tells listeners what happened; called only after the change committed.
    fn tell(&self, event: DomainEvent) {
        self.adapters.events.publish(event);
    }

    /// Whether storage answers; for readiness probes.
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await
    }
}

/// The token of an `Authorization` header value: `Bearer <token>` or RealWorld's
/// `Token <token>`, scheme in any case.
pub fn presented_token(authorization: &str) -> Result<&str> {
    let invalid = || Error::Unauthenticated(AuthProblem::InvalidToken);
    let (scheme, token) = authorization.trim().split_once(' ').ok_or_else(invalid)?;
    let token = token.trim();
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    if known && !token.is_empty() {
        Ok(token)
    } else {
        Err(invalid())
    }
}

const BLANK: &str = "can't be blank";

/// Parses a required field, recording `can't be blank` when it is missing.
fn required<T>(
    errors: &mut FieldErrors,
    field: &'static str,
    text: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, &'static str>,
) -> Option<T> {
    match text {
        Some(text) => errors.check(field, parse(text)),
        None => {
            errors.add(field, BLANK);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::presented_token;

    #[test]
    fn tokens_come_from_bearer_or_token_schemes() {
        assert_eq!(presented_token("Bearer abc").ok(), Some("abc"));
        assert_eq!(presented_token("token abc").ok(), Some("abc"));
        for refused in ["Basic abc", "Bearer ", "Token", "abc", ""] {
            assert!(presented_token(refused).is_err(), "{refused:?}");
        }
    }
}
