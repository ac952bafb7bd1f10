//! Sign-in sessions: every sign-in opens one, and the access tokens it gives name it, so a
//! session can end before its tokens expire.
//!
//! Two kinds ([`SessionKind`]): RealWorld's, with one long-lived access token (its contract has
//! no refresh), and the refreshable sessions of the other contracts: a short-lived access token
//! and a refresh token that rotates on every use. Refresh tokens are stored as SHA-256 hashes
//! only; presenting one that was already used ends its whole session (RFC 9700 section
//! 4.14.2, refresh token rotation with reuse detection). Signing out ends the session, signing
//! out everywhere ends all of the user's; a password change ends all but the one it was made
//! in, and deactivation all of them, so a reactivated user's old tokens stay dead.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{Quire, Session};
use crate::error::{AuthProblem, Error, Result};
use crate::ids::{SessionId, UserId};
use crate::model::User;
use crate::policy::Actor;
use crate::ports::{RefreshUse, Store, StoredRefreshToken};
use crate::time::Timestamp;

/// The prefix of every refresh token, so one is told from other secrets at a glance (and by
/// secret scanners).
pub const REFRESH_TOKEN_PREFIX: &str = "qrt_";

/// How long sessions' tokens last, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A refreshable session's access token (default 15 minutes).
    pub access_ttl_secs: u64,
    /// A long-lived session's one access token, as RealWorld's contract needs (default 7 days).
    pub long_lived_ttl_secs: u64,
    /// A refresh token, from when it is issued (default 30 days): a session refreshed within
    /// this lives on.
    pub refresh_ttl_secs: u64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            access_ttl_secs: 15 * 60,
            long_lived_ttl_secs: 7 * 24 * 3600,
            refresh_ttl_secs: 30 * 24 * 3600,
        }
    }
}

/// Which kind of session a sign-in opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// One long-lived access token, no refresh token (RealWorld's `/api`).
    LongLived,
    /// A short-lived access token and a refresh token that rotates.
    Refreshable,
}

/// Why a session ended, as recorded.
const SIGNED_OUT: &str = "signed out";
const SIGNED_OUT_EVERYWHERE: &str = "signed out everywhere";
const REFRESH_REUSED: &str = "refresh token reused";
pub(super) const PASSWORD_CHANGED: &str = "password changed";
pub(super) const DEACTIVATED: &str = "deactivated";
pub(super) const IDENTITY_LINKED: &str = "identity linked by email";

fn after(now: Timestamp, secs: u64) -> Timestamp {
    let millis = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX / 4);
    Timestamp::from_millis(now.as_millis().saturating_add(millis))
}

/// Lowercase hex of the SHA-256 of `token`: the stored form of a refresh token, and of an
/// OpenID sign-in's state and browser binding.
pub(super) fn hashed(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

impl<S: Store> Quire<S> {
    fn new_session_id(&self) -> SessionId {
        let mut bytes = [0u8; 16];
        self.adapters.random.fill(&mut bytes);
        SessionId::from_bytes(bytes)
    }

    /// A new refresh token (256 random bits) issued at `now`, and its stored form.
    fn new_refresh_token(&self, now: Timestamp) -> (String, StoredRefreshToken) {
        let mut bytes = [0u8; 32];
        self.adapters.random.fill(&mut bytes);
        let token = format!("{REFRESH_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let stored = StoredRefreshToken {
            hash: hashed(&token),
            issued_at: now,
            expires_at: after(now, self.adapters.sessions.refresh_ttl_secs),
        };
        (token, stored)
    }

    /// Opens a session of `kind` for `user`, who has just proved who they are.
    pub(super) async fn open_session(&self, user: User, kind: SessionKind) -> Result<Session> {
        let policy = self.adapters.sessions;
        let now = self.adapters.clock.now();
        let id = self.new_session_id();
        let (ttl, refresh) = match kind {
            SessionKind::LongLived => (policy.long_lived_ttl_secs, None),
            SessionKind::Refreshable => (policy.access_ttl_secs, Some(self.new_refresh_token(now))),
        };
        let lasts = refresh.as_ref().map_or(after(now, ttl), |(_, stored)| {
            stored.expires_at.max(after(now, ttl))
        });
        self.store
            .open_session(
                id,
                user.id,
                now,
                lasts,
                refresh.as_ref().map(|(_, stored)| stored),
            )
            .await?;
        self.session(user, id, ttl, refresh.map(|(token, _)| token))
            .await
    }

    async fn session(
        &self,
        user: User,
        id: SessionId,
        ttl_secs: u64,
        refresh_token: Option<String>,
    ) -> Result<Session> {
        let now = self.adapters.clock.now();
        let token = self
            .adapters
            .tokens
            .issue(user.id, id, now, ttl_secs)
            .await?;
        let actor = Actor::in_session(user.id, user.roles, id);
        Ok(Session {
            token,
            refresh_token,
            expires_at: after(
                Timestamp::from_millis(now.as_millis() / 1000 * 1000),
                ttl_secs,
            ),
            user,
            actor,
        })
    }

    /// Trades a refresh token for a new access token and the next refresh token; the one
    /// presented is used up.
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] for a token that is unknown, expired, of a session that
    /// ended, or of a user deactivated since; and for one already used, whose whole session
    /// then ends (whoever presented it, the thief or the owner, signs in again).
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> Result<Session> {
        let refused = || Error::Unauthenticated(AuthProblem::InvalidToken);
        let now = self.adapters.clock.now();
        let token = refresh_token.trim();
        if !token.starts_with(REFRESH_TOKEN_PREFIX) || token.len() > 128 {
            return Err(refused());
        }
        match self.store.use_refresh_token(&hashed(token), now).await? {
            RefreshUse::Fresh { session, user } => {
                let user = self
                    .store
                    .user_in_session(user, session, now)
                    .await?
                    .filter(|user| user.active)
                    .ok_or_else(refused)?;
                let (next, stored) = self.new_refresh_token(now);
                if !self.store.rotate_refresh_token(session, &stored).await? {
                    return Err(refused());
                }
                let ttl = self.adapters.sessions.access_ttl_secs;
                self.session(user, session, ttl, Some(next)).await
            }
            RefreshUse::Reused { session, user } => {
                let ended = self.store.end_session(session, now, REFRESH_REUSED).await?;
                tracing::warn!(
                    user_id = user.get(),
                    session = %session,
                    ended,
                    "a used refresh token was presented again; its session is ended"
                );
                let reused = self.audit_event(
                    None,
                    crate::audit::AuditAction::RefreshTokenReused,
                    Some(format!("user/{}", user.get())),
                    serde_json::json!({ "session": session.to_string(), "ended": ended }),
                );
                self.audit(vec![reused]).await;
                Err(refused())
            }
            RefreshUse::Unknown => Err(refused()),
        }
    }

    /// Ends the actor's session: its access and refresh tokens stop working on every
    /// contract at once.
    #[tracing::instrument(skip_all)]
    pub async fn sign_out(&self, actor: &Actor) -> Result<()> {
        let now = self.adapters.clock.now();
        if let Some(session) = actor.session {
            self.store.end_session(session, now, SIGNED_OUT).await?;
        }
        Ok(())
    }

    /// Ends every session of the actor's, this one included; how many ended.
    #[tracing::instrument(skip_all)]
    pub async fn sign_out_everywhere(&self, actor: &Actor) -> Result<u64> {
        let now = self.adapters.clock.now();
        self.store
            .end_sessions(actor.user_id, None, now, SIGNED_OUT_EVERYWHERE)
            .await
    }

    /// Ends `user`'s sessions but `except`, for `reason`.
    pub(super) async fn end_sessions_of(
        &self,
        user: UserId,
        except: Option<SessionId>,
        reason: &str,
    ) -> Result<u64> {
        let now = self.adapters.clock.now();
        self.store.end_sessions(user, except, now, reason).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_stored_as_their_sha256() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hashed("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
