//! Who is calling: bearer credentials turned into actors, once per request, and again at every
//! act of a connection that outlives one request (a GraphQL WebSocket, a gRPC stream).
//!
//! Every contract reads its callers here, so token handling is decided once: a presented
//! credential that does not verify (malformed, badly signed, expired, not yet valid, or naming
//! a user who is gone or deactivated) is refused with [`Error::Unauthenticated`], never served
//! as anonymous. The one deliberate exception is RealWorld's `/api`, whose contract lists no
//! 401 where signing in is optional: [`Quire::caller_or_anonymous`].

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future;

use super::Quire;
use crate::error::{AuthProblem, Error, Result};
use crate::model::User;
use crate::policy::Actor;
use crate::ports::{BoxFuture, Store};
use crate::time::Timestamp;

/// How often a long-lived connection's credential is checked again even when no event says
/// its account changed (a safety net for a listener that missed the event), in milliseconds.
pub const RECHECK_INTERVAL_MILLIS: i64 = 60_000;

/// A signed-in session, as sign-in, registration and refresh return it: the access token to
/// present from now on and when it expires, the refresh token of a refreshable session, the
/// account, and the actor the token names.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub expires_at: Timestamp,
    /// To trade for the next access token ([`Quire::refresh`]); `None` for a long-lived
    /// session.
    pub refresh_token: Option<String>,
    pub user: User,
    pub actor: Actor,
}

/// The caller of an operation: anonymous, or signed in with a bearer token. A connection that
/// lives longer than one request keeps its `Caller` and asks [`Quire::recheck`] before each
/// act, and [`Quire::lapse`] to learn when the credential stops holding.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    signed_in: Option<SignedIn>,
}

#[derive(Debug, Clone)]
struct SignedIn {
    token: Arc<str>,
    actor: Actor,
    expires_at: Timestamp,
}

impl Caller {
    /// Nobody signed in.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The signed-in actor, as of the last check; `None` when anonymous.
    pub fn actor(&self) -> Option<&Actor> {
        self.signed_in.as_ref().map(|signed_in| &signed_in.actor)
    }

    /// The signed-in actor, or [`Error::Unauthenticated`] for an anonymous caller.
    pub fn require(&self) -> Result<&Actor> {
        self.actor()
            .ok_or(Error::Unauthenticated(AuthProblem::MissingToken))
    }

    /// The token as presented, where a contract echoes it back (RealWorld's user responses).
    pub fn token(&self) -> Option<&str> {
        self.signed_in.as_ref().map(|signed_in| &*signed_in.token)
    }
}

/// The token of an `Authorization` header value: `Bearer <token>` or RealWorld's
/// `Token <token>` (RFC 6750 section 2.1), scheme in any case.
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

impl<S: Store> Quire<S> {
    /// The caller an `Authorization` header value names: anonymous without one; a malformed,
    /// bad, expired or deactivated credential is [`Error::Unauthenticated`].
    pub async fn caller(&self, authorization: Option<&str>) -> Result<Caller> {
        match authorization {
            None => Ok(Caller::anonymous()),
            Some(value) => self.signed_in(presented_token(value)?).await,
        }
    }

    /// RealWorld's optional sign-in: a credential that does not verify gives the anonymous
    /// caller instead of a refusal. A failure to check it (the database down) is still an error.
    pub async fn caller_or_anonymous(&self, authorization: Option<&str>) -> Result<Caller> {
        match self.caller(authorization).await {
            Err(Error::Unauthenticated(_)) => Ok(Caller::anonymous()),
            other => other,
        }
    }

    /// The caller as of now: the token checked against the clock again and the account read
    /// again, so a token that expired or a user deactivated or given other roles since the
    /// connection opened is seen. Anonymous stays anonymous.
    pub async fn recheck(&self, caller: &Caller) -> Result<Caller> {
        match &caller.signed_in {
            None => Ok(Caller::anonymous()),
            Some(signed_in) => self.signed_in(&signed_in.token).await,
        }
    }

    /// Resolves, with the reason, once a signed-in caller's credential no longer holds: when
    /// the token expires, the user is deactivated or gone, or their roles change (what a
    /// connection opened with them was allowed may no longer be allowed:
    /// [`AuthProblem::RightsChanged`]). Checked at once, then after each event that changes
    /// the user's account (`user.updated`, `user.roles_changed`, `user.deactivated`), at the
    /// token's expiry, and every [`RECHECK_INTERVAL_MILLIS`] as a safety net.
    /// Never resolves for an anonymous caller, nor while the database cannot answer (the
    /// connection is not dropped for our outage).
    pub fn lapse(&self, caller: &Caller) -> BoxFuture<'static, Error> {
        let Some(signed_in) = caller.signed_in.clone() else {
            return Box::pin(future::pending());
        };
        let quire = self.clone();
        let caller = caller.clone();
        // Subscribed before the first check, so no change is missed between the two.
        let mut events = self.events();
        Box::pin(async move {
            let user = signed_in.actor.user_id;
            loop {
                if let Err(error) = quire.still(&caller).await {
                    return error;
                }
                let now = quire.adapters.clock.now().as_millis();
                let next_check =
                    Timestamp::from_millis(now.saturating_add(RECHECK_INTERVAL_MILLIS))
                        .min(signed_in.expires_at);
                let timer = quire.adapters.clock.sleep_until(next_check);
                let changed = async {
                    while let Some(event) = events.next().await {
                        if event.kind.account_changed() == Some(user) {
                            return;
                        }
                    }
                    // The bus closed: only the timer is left.
                    future::pending::<()>().await;
                };
                futures_util::pin_mut!(changed);
                let _woken = future::select(timer, changed).await;
            }
        })
    }

    /// The caller as of now, provided they still hold what `caller` held: refused if the
    /// credential no longer verifies, [`AuthProblem::RightsChanged`] if their roles changed.
    /// An outage of ours is not a refusal: the caller is kept as they were.
    pub async fn still(&self, caller: &Caller) -> Result<Caller> {
        match self.recheck(caller).await {
            Ok(now) if now.actor() == caller.actor() => Ok(now),
            Ok(_) => Err(Error::Unauthenticated(AuthProblem::RightsChanged)),
            Err(error @ Error::Unauthenticated(_)) => Err(error),
            Err(_) => Ok(caller.clone()),
        }
    }

    /// The caller a verified `token` names, with the token's expiry: refused unless the
    /// session it belongs to is still open and the user active.
    async fn signed_in(&self, token: &str) -> Result<Caller> {
        let now = self.adapters.clock.now();
        let verified = self.adapters.tokens.verify(token, now).await?;
        let user = self
            .store
            .user_in_session(verified.user, verified.session, now)
            .await?;
        match user {
            Some(user) if user.active => {
                // The user's id (never more) goes on the current request's span, so its log
                // line says who asked.
                tracing::Span::current().record("user_id", user.id.get());
                Ok(Caller {
                    signed_in: Some(SignedIn {
                        token: token.into(),
                        actor: Actor::in_session(user.id, user.roles, verified.session),
                        expires_at: verified.expires_at,
                    }),
                })
            }
            _ => Err(Error::Unauthenticated(AuthProblem::InvalidToken)),
        }
    }

    /// The public keys access tokens verify with, as a JWK Set document (RFC 7517 section 5),
    /// for `/.well-known/jwks.json`.
    pub async fn public_keys(&self) -> Result<String> {
        self.adapters
            .tokens
            .key_set(self.adapters.clock.now())
            .await
    }

    /// Makes a new key the one that signs access tokens; tokens signed with the others verify
    /// until they expire. Returns the new key's id (`kid`).
    pub async fn rotate_signing_key(&self) -> Result<String> {
        let kid = self
            .adapters
            .tokens
            .rotate(self.adapters.clock.now())
            .await?;
        tracing::info!(kid = %kid, "rotated the token signing key");
        let rotated = self.audit_event(
            None,
            crate::audit::AuditAction::KeysRotated,
            Some(format!("key/{kid}")),
            serde_json::json!({}),
        );
        self.audit(vec![rotated]).await;
        Ok(kid)
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
