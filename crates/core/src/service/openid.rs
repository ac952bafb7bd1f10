//! Signing in through OpenID Connect providers, as a relying party: the authorization code
//! flow with PKCE, `state` and `nonce` (OpenID Connect Core 1.0 section 3.1; RFC 7636; RFC
//! 9700 section 2.1.1), the provider's side behind [`crate::ports::OpenIdProviders`].
//!
//! A sign-in starts with secrets made here (`state`, `nonce`, the PKCE verifier) and a cookie
//! value for the browser; only their hashes and the verifier are stored, for ten minutes, and
//! the sign-in is taken (deleted) when the browser comes back, so a `state` works once. The
//! browser must bring back the cookie: a victim cannot be signed in to an attacker's account by
//! a link carrying the attacker's code (login CSRF, RFC 6749 section 10.12).
//!
//! The identity the verified ID token names (`iss` and `sub`) finds its account: the one it
//! was linked to; else the account with the email the provider vouches for (`email_verified`),
//! now linked, with its password replaced and its sessions ended (`link_by_email`);
//! else a new account with the roles every registration gets, a username from
//! `preferred_username` (or `reader-` and digits, never the email) and a random password
//! nobody knows (one can be set later). An email the provider does not vouch for never links
//! nor makes an account: whoever controls a provider account could otherwise take over the
//! quire account with that address.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::sessions::hashed;
use super::{Quire, Session, SessionKind};
use crate::audit::AuditAction;
use crate::error::{AuthProblem, Error, FieldErrors, Result};
use crate::events::{DomainEvent, Event, UserData};
use crate::limits::Policy;
use crate::model::{Identity, NewUser, User};
use crate::ports::{AuthorizationRequest, ExternalIdentity, OpenIdSignIn, Store};
use crate::roles::Roles;
use crate::time::Timestamp;
use crate::values::{Email, Password, Username};

/// How long a started sign-in waits for the browser to come back, in seconds.
pub const OPENID_SIGN_IN_TTL_SECS: u64 = 600;

/// A sign-in sent to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIdStart {
    /// Where to send the browser.
    pub authorization_url: String,
    /// The value of the cookie the browser must bring back with the provider's answer.
    pub browser_binding: String,
}

/// What the provider sent the browser back with (RFC 6749 section 4.1.2), and the cookie the
/// browser brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenIdCallback {
    pub code: Option<String>,
    pub state: Option<String>,
    /// The provider's refusal (`access_denied`, …), instead of a code.
    pub error: Option<String>,
    /// The issuer the response says it comes from (RFC 9207), when it says.
    pub iss: Option<String>,
    pub browser_binding: Option<String>,
}

/// A username made from what the provider says the user is called: the characters a username
/// may hold, and after the first try a random suffix.
fn username_candidate(wanted: &str, suffix: Option<u32>) -> Option<Username> {
    let base: String = wanted
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(Username::MAX_CHARS - 6)
        .collect();
    let base = if base.is_empty() {
        "reader".to_owned()
    } else {
        base
    };
    let text = match suffix {
        None => base,
        Some(suffix) => format!("{base}-{suffix:05}"),
    };
    Username::parse(&text).ok()
}

impl<S: Store> Quire<S> {
    /// The configured OpenID providers' names.
    pub fn openid_providers(&self) -> Vec<String> {
        self.adapters.openid.names()
    }

    /// Whether the cookie binding a sign-in at `provider` to its browser must be `Secure`:
    /// whenever the provider sends the browser back over HTTPS.
    pub fn openid_cookie_secure(&self, provider: &str) -> bool {
        self.adapters.openid.callback_is_https(provider)
    }

    /// 256 random bits as unpadded base64url: 43 characters, a valid PKCE verifier too.
    fn secret_text(&self) -> String {
        let mut bytes = [0u8; 32];
        self.adapters.random.fill(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Starts a sign-in at `provider`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for a provider not configured; [`Error::Unavailable`] when its
    /// discovery document cannot be read; [`Error::RateLimited`] past [`Policy::SignIn`].
    #[tracing::instrument(skip_all, fields(provider))]
    pub async fn start_openid_sign_in(&self, provider: &str) -> Result<OpenIdStart> {
        self.throttle(Policy::SignIn).await?;
        let request = AuthorizationRequest {
            state: self.secret_text(),
            nonce: self.secret_text(),
            pkce_verifier: self.secret_text(),
        };
        let authorization_url = self
            .adapters
            .openid
            .authorization_url(provider, &request)
            .await?;
        let browser_binding = self.secret_text();
        let now = self.adapters.clock.now();
        let sign_in = OpenIdSignIn {
            state_hash: hashed(&request.state),
            provider: provider.to_owned(),
            nonce: request.nonce,
            pkce_verifier: request.pkce_verifier,
            browser_hash: hashed(&browser_binding),
            started_at: now,
        };
        self.store
            .save_openid_sign_in(&sign_in, Self::openid_expiry(now))
            .await?;
        Ok(OpenIdStart {
            authorization_url,
            browser_binding,
        })
    }

    /// Sign-ins started before this have expired.
    fn openid_expiry(now: Timestamp) -> Timestamp {
        let ttl = i64::try_from(OPENID_SIGN_IN_TTL_SECS * 1000).unwrap_or(i64::MAX / 4);
        Timestamp::from_millis(now.as_millis().saturating_sub(ttl))
    }

    /// Finishes a sign-in at `provider` with what the browser brought back, and opens a
    /// session of `kind` for the account the identity finds or makes.
    ///
    /// # Errors
    /// [`Error::Malformed`] without `state`, or without `code` and `error`;
    /// [`Error::Unauthenticated`] ([`AuthProblem::ExternalSignInRefused`]) for a state not
    /// kept (unknown, used, expired, another provider's), another browser's, a provider's
    /// refusal, an ID token that fails a check, a deactivated account, or no verified email to
    /// find or make an account with; [`Error::Unavailable`] when the provider cannot be
    /// reached; [`Error::RateLimited`] past [`Policy::SignIn`].
    #[tracing::instrument(skip_all, fields(provider))]
    pub async fn finish_openid_sign_in(
        &self,
        provider: &str,
        callback: OpenIdCallback,
        kind: SessionKind,
    ) -> Result<Session> {
        let Some(state) = callback.state.as_deref().filter(|state| !state.is_empty()) else {
            return Err(Error::Malformed(FieldErrors::single("state", "is missing")));
        };
        if callback.code.is_none() && callback.error.is_none() {
            return Err(Error::Malformed(FieldErrors::single("code", "is missing")));
        }
        self.throttle(Policy::SignIn).await?;
        let taken = self.store.take_openid_sign_in(&hashed(state)).await?;
        let now = self.adapters.clock.now();
        let refusal = match &taken {
            None => Some("unknown or used state"),
            Some(sign_in) if sign_in.provider != provider => Some("state of another provider"),
            Some(sign_in) if sign_in.started_at <= Self::openid_expiry(now) => {
                Some("sign-in expired")
            }
            Some(sign_in)
                if callback.browser_binding.as_deref().map(hashed).as_deref()
                    != Some(sign_in.browser_hash.as_str()) =>
            {
                Some("started in another browser")
            }
            Some(_) if callback.error.is_some() => Some("the provider answered with an error"),
            Some(_) => None,
        };
        let (Some(sign_in), None, Some(code)) = (taken, refusal, callback.code.as_deref()) else {
            return Err(self
                .openid_refused(provider, None, refusal.unwrap_or("no code"))
                .await);
        };
        let request = AuthorizationRequest {
            state: state.to_owned(),
            nonce: sign_in.nonce,
            pkce_verifier: sign_in.pkce_verifier,
        };
        let identity = match self
            .adapters
            .openid
            .identify(provider, code, callback.iss.as_deref(), &request)
            .await
        {
            Ok(identity) => identity,
            Err(Error::Unauthenticated(_)) => {
                return Err(self
                    .openid_refused(provider, None, "the provider's tokens were refused")
                    .await);
            }
            Err(error) => return Err(error),
        };
        let user = self.account_of(provider, identity).await?;
        let subject = Some(format!("user/{}", user.id.get()));
        if !user.active {
            return Err(self.openid_refused(provider, subject, "deactivated").await);
        }
        let signed_in = self.audit_event(
            Some(user.id),
            AuditAction::SignInSucceeded,
            subject,
            serde_json::json!({ "method": "openid", "provider": provider }),
        );
        self.audit(vec![signed_in]).await;
        self.open_session(user, kind).await
    }

    /// Audits a refused sign-in at `provider` and answers the error the caller gets.
    async fn openid_refused(&self, provider: &str, subject: Option<String>, reason: &str) -> Error {
        tracing::info!(provider, reason, "OpenID sign-in refused");
        let entry = self.audit_event(
            None,
            AuditAction::SignInFailed,
            subject.or_else(|| Some(format!("openid/{provider}"))),
            serde_json::json!({ "reason": reason, "method": "openid", "provider": provider }),
        );
        self.audit(vec![entry]).await;
        Error::Unauthenticated(AuthProblem::ExternalSignInRefused)
    }

    /// The account `identity` at `provider` signs in to: the one linked, else the one with
    /// the verified email (linked now), else a new one (see the module's documentation).
    async fn account_of(&self, provider: &str, identity: ExternalIdentity) -> Result<User> {
        let key = Identity {
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            provider: provider.to_owned(),
        };
        if let Some(user) = self.store.user_by_identity(&key).await? {
            return Ok(user);
        }
        let email = match (&identity.email, identity.email_verified) {
            (Some(email), true) => Email::parse(email).ok(),
            _ => None,
        };
        let Some(email) = email else {
            return Err(self
                .openid_refused(provider, None, "no verified email")
                .await);
        };
        if let Some((user, _)) = self.store.credentials_by_email(&email).await? {
            return self.link_by_email(provider, key, user).await;
        }
        match self.make_account(key.clone(), &identity, email).await {
            // Another sign-in of the same identity made it first.
            Err(Error::Conflict(_)) => match self.store.user_by_identity(&key).await? {
                Some(user) => Ok(user),
                None => Err(Error::Conflict(FieldErrors::single(
                    "email",
                    "has already been taken",
                ))),
            },
            outcome => outcome,
        }
    }

    /// Links `key` to `user`, the account with the email the provider vouches for. quire never
    /// verified that account's email, so whoever registered it may not own the address: its
    /// password is replaced by one nobody knows and its sessions end, leaving the account to
    /// whoever the provider vouches for. An account already linked to another identity from
    /// the same issuer (an address given to someone new) is not linked again, nor is a
    /// deactivated one.
    async fn link_by_email(&self, provider: &str, key: Identity, user: User) -> Result<User> {
        let subject = Some(format!("user/{}", user.id.get()));
        if !user.active {
            return Err(self.openid_refused(provider, subject, "deactivated").await);
        }
        if self.store.has_identity_from(user.id, &key.issuer).await? {
            return Err(self
                .openid_refused(
                    provider,
                    subject,
                    "the email's account has another identity there",
                )
                .await);
        }
        let unknowable = self.unknowable_password_hash().await?;
        let now = self.adapters.clock.now();
        let linked = self.identity_linked(user.id, &key, "verified email");
        let id = self
            .store
            .link_identity(&key, user.id, &unknowable, now, &[linked])
            .await?;
        if id == user.id {
            self.store
                .end_sessions(user.id, None, now, super::sessions::IDENTITY_LINKED)
                .await?;
        }
        self.store
            .user_by_id(id)
            .await?
            .ok_or(Error::Unauthenticated(AuthProblem::ExternalSignInRefused))
    }

    fn identity_linked(&self, user: crate::ids::UserId, key: &Identity, how: &str) -> Event {
        self.audit_event(
            Some(user),
            AuditAction::IdentityLinked,
            Some(format!("user/{}", user.get())),
            serde_json::json!({
                "provider": key.provider,
                "issuer": key.issuer,
                "subject": key.subject,
                "by": how,
            }),
        )
    }

    /// The hash of a random password nobody is told: the account signs in only through its
    /// provider until its user sets a password.
    async fn unknowable_password_hash(&self) -> Result<crate::values::PasswordHash> {
        let unknowable =
            Password::parse(&self.secret_text()).map_err(|why| Error::Internal(why.into()))?;
        self.adapters.hasher.hash(unknowable).await
    }

    /// Makes an account for `identity`, linked to it in the same transaction, trying other
    /// usernames while the one wanted is taken. Counts against [`Policy::Registration`].
    async fn make_account(
        &self,
        key: Identity,
        identity: &ExternalIdentity,
        email: Email,
    ) -> Result<User> {
        self.throttle(Policy::Registration).await?;
        let password_hash = self.unknowable_password_hash().await?;
        let now = self.adapters.clock.now();
        // Never the email's local part: a username is public, an address is not.
        let wanted = identity.preferred_username.as_deref();
        let mut last = Error::Conflict(FieldErrors::single("username", "has already been taken"));
        for attempt in 0..4 {
            let suffix = (attempt > 0 || wanted.is_none()).then(|| {
                let mut bytes = [0u8; 4];
                self.adapters.random.fill(&mut bytes);
                u32::from_le_bytes(bytes) % 100_000
            });
            let Some(username) = username_candidate(wanted.unwrap_or_default(), suffix) else {
                continue;
            };
            let new = NewUser {
                username,
                email: email.clone(),
                password_hash: password_hash.clone(),
                roles: Roles::REGISTERED,
                at: now,
                identity: Some(key.clone()),
            };
            let record = |user: &User| {
                vec![
                    self.event(
                        Some(user.id),
                        DomainEvent::UserRegistered(UserData::of(user)),
                    ),
                    self.identity_linked(user.id, &key, "new account"),
                ]
            };
            match self.store.insert_user(&new, &record).await {
                Err(Error::Conflict(errors)) if errors.contains("username") => {
                    last = Error::Conflict(errors)
                }
                outcome => return outcome,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_keep_the_characters_a_username_may_hold() {
        let made =
            |wanted, suffix| username_candidate(wanted, suffix).map(|u| u.as_str().to_owned());
        assert_eq!(made("Jane Doe!", None).as_deref(), Some("JaneDoe"));
        assert_eq!(made("jane", Some(42)).as_deref(), Some("jane-00042"));
        assert_eq!(made("   ", None).as_deref(), Some("reader"));
        let long = "x".repeat(200);
        let made_long = made(&long, Some(99_999)).unwrap_or_default();
        assert_eq!(made_long.chars().count(), Username::MAX_CHARS);
    }
}
