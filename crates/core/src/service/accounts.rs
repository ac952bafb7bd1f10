//! Registering, logging in, and changing one's own account.

use super::{BLANK, Patch, Quire, Session, SessionKind, required};
use crate::audit::AuditAction;
use crate::error::{AuthProblem, Error, FieldErrors, Result};
use crate::events::{DomainEvent, UserData};
use crate::limits::Policy;
use crate::model::{NewUser, User, UserChanges};
use crate::policy::Actor;
use crate::ports::{PasswordCheck, Store, Strength};
use crate::roles::Roles;
use crate::time::Timestamp;
use crate::values::{Bio, Email, ImageUrl, Password, PasswordHash, Username};

/// A registration as submitted; missing fields are `None`.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    /// Which minimum strength the password is held to: the contract's.
    pub password_rule: PasswordRule,
}

/// Which of [`PasswordPolicy`]'s minimum strengths a new password is held to: a contract
/// chooses by its specification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PasswordRule {
    /// The configured minimum.
    #[default]
    Standard,
    /// The minimum for a contract whose specification accepts any password of legal length
    /// (RealWorld's: its suite changes a password to `bonjour1` and expects success).
    Lenient,
}

/// The minimum strengths of new passwords, on [`Strength::score`]'s scale (0 to 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// [`PasswordRule::Standard`]'s (default 3: "safely unguessable", over 10^8 guesses).
    pub min_strength: u8,
    /// [`PasswordRule::Lenient`]'s (default 0: length alone).
    pub lenient_min_strength: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_strength: 3,
            lenient_min_strength: 0,
        }
    }
}

/// Changes to one's own account as submitted.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub username: Patch<String>,
    pub email: Patch<String>,
    pub password: Patch<String>,
    pub bio: Patch<String>,
    pub image: Patch<String>,
    /// The `updated_at` of the version the change was based on: if the account changed
    /// since, nothing is written and the answer is [`Error::Stale`].
    pub based_on: Option<Timestamp>,
    /// Which minimum strength a new password is held to: the contract's.
    pub password_rule: PasswordRule,
}

impl UserUpdate {
    /// Whether no field is given.
    pub fn is_empty(&self) -> bool {
        [
            &self.username,
            &self.email,
            &self.password,
            &self.bio,
            &self.image,
        ]
        .iter()
        .all(|field| **field == Patch::Absent)
    }

    /// The changes this asks for, with each invalid field recorded in `errors`; the new
    /// password, if any, still to be hashed. Username, email and password cannot be removed;
    /// a null or blank bio or image removes it.
    pub(super) fn parse(self, errors: &mut FieldErrors) -> (UserChanges, Option<Password>) {
        let mut changes = UserChanges {
            expected_updated_at: self.based_on,
            ..UserChanges::default()
        };
        match self.username {
            Patch::Absent => {}
            Patch::Null => errors.add("username", BLANK),
            Patch::Value(text) => {
                changes.username = errors.check("username", Username::parse(&text))
            }
        }
        match self.email {
            Patch::Absent => {}
            Patch::Null => errors.add("email", BLANK),
            Patch::Value(text) => changes.email = errors.check("email", Email::parse(&text)),
        }
        let password = match self.password {
            Patch::Absent => None,
            Patch::Null => {
                errors.add("password", BLANK);
                None
            }
            Patch::Value(text) => errors.check("password", Password::parse(&text)),
        };
        match self.bio {
            Patch::Absent => {}
            Patch::Null => changes.bio = Some(None),
            Patch::Value(text) => changes.bio = errors.check("bio", Bio::parse(&text)),
        }
        match self.image {
            Patch::Absent => {}
            Patch::Null => changes.image = Some(None),
            Patch::Value(text) => changes.image = errors.check("image", ImageUrl::parse(&text)),
        }
        (changes, password)
    }
}

impl<S: Store> Quire<S> {
    /// Creates an account with the roles every registration gets, and signs it in.
    ///
    /// # Errors
    /// As [`Quire::create_user`]; [`Error::RateLimited`] when the client has registered as
    /// many accounts as [`Policy::Registration`] allows lately.
    #[tracing::instrument(skip_all)]
    pub async fn register(&self, input: Registration, kind: SessionKind) -> Result<Session> {
        self.throttle(Policy::Registration).await?;
        self.create_user(input, Roles::REGISTERED, kind).await
    }

    /// Creates an account with the given roles (for operators bootstrapping an admin), and
    /// signs it in with a session of `kind`.
    pub async fn create_user(
        &self,
        input: Registration,
        roles: Roles,
        kind: SessionKind,
    ) -> Result<Session> {
        let mut errors = FieldErrors::new();
        let username = required(
            &mut errors,
            "username",
            input.username.as_deref(),
            Username::parse,
        );
        let email = required(&mut errors, "email", input.email.as_deref(), Email::parse);
        let password = required(
            &mut errors,
            "password",
            input.password.as_deref(),
            Password::parse,
        );
        if let Some(password) = &password {
            let related = [input.username.as_deref(), input.email.as_deref()];
            self.check_strength(password, input.password_rule, &related, &mut errors);
        }
        let (Some(username), Some(email), Some(password)) = (username, email, password) else {
            return Err(Error::Invalid(errors));
        };
        errors.into_result()?;
        let password_hash = self.adapters.hasher.hash(password).await?;
        let now = self.adapters.clock.now();
        let record = |user: &User| {
            let data = UserData::of(user);
            vec![self.event(Some(user.id), DomainEvent::UserRegistered(data))]
        };
        let new = NewUser {
            username,
            email,
            password_hash,
            roles,
            at: now,
            identity: None,
        };
        let user = self.store.insert_user(&new, &record).await?;
        self.open_session(user, kind).await
    }

    /// Checks an email and password and opens a session of `kind`. Unknown email, wrong
    /// password and inactive account all answer the same, after the same work, and each counts
    /// as a failure against the email tried.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a blank field; [`Error::Unauthenticated`] for credentials that do
    /// not match an active account; [`Error::RateLimited`] while the email is locked out after
    /// failures in a row (`super::lockouts`), whatever the password, or when the client has
    /// tried as many sign-ins as [`Policy::SignIn`] allows lately, whichever the accounts.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        email: Option<&str>,
        password: Option<&str>,
        kind: SessionKind,
    ) -> Result<Session> {
        let mut errors = FieldErrors::new();
        let email = match email.map(str::trim) {
            None | Some("") => {
                errors.add("email", BLANK);
                None
            }
            Some(email) => Some(email),
        };
        let password = match password {
            None | Some("") => {
                errors.add("password", BLANK);
                None
            }
            Some(password) => Some(password),
        };
        let (Some(email), Some(password)) = (email, password) else {
            return Err(Error::Invalid(errors));
        };
        self.throttle(Policy::SignIn).await?;
        let invalid = || Error::Unauthenticated(AuthProblem::InvalidCredentials);
        // A malformed email cannot match any account, nor be locked out.
        let Ok(email) = Email::parse(email) else {
            return Err(invalid());
        };
        let account = super::lockouts::account_key(&email);
        let record = self.check_sign_in_lock(&account).await?;
        // An out-of-range password cannot match either, and counts as a failure.
        let Ok(password) = Password::parse(password) else {
            self.failed_sign_in(&account, None, "password out of range")
                .await?;
            return Err(invalid());
        };
        let found = self.store.credentials_by_email(&email).await?;
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let check = self
            .adapters
            .hasher
            .verify(password.clone(), hash.clone())
            .await?;
        match (user, check) {
            (Some(user), PasswordCheck::Match { rehash }) if user.active => {
                if record.is_some() {
                    self.store.clear_sign_in_failures(&account).await?;
                }
                if let (true, Some(old)) = (rehash, hash) {
                    self.rehash(&user, &old, password).await;
                }
                let subject = Some(format!("user/{}", user.id.get()));
                let signed_in = self.audit_event(
                    Some(user.id),
                    AuditAction::SignInSucceeded,
                    subject,
                    serde_json::json!({}),
                );
                self.audit(vec![signed_in]).await;
                self.open_session(user, kind).await
            }
            (user, check) => {
                let reason = match (&user, check) {
                    (None, _) => "no such account",
                    (Some(_), PasswordCheck::Mismatch) => "wrong password",
                    (Some(_), PasswordCheck::Match { .. }) => "deactivated",
                };
                self.failed_sign_in(&account, user.map(|user| user.id), reason)
                    .await?;
                Err(invalid())
            }
        }
    }

    /// Counts a failed sign-in to `account` (the email's key) and audits it, with the lockout
    /// it caused, if any, in one transaction. `user` is the account it named, when one exists.
    async fn failed_sign_in(
        &self,
        account: &str,
        user: Option<crate::ids::UserId>,
        reason: &str,
    ) -> Result<()> {
        let locked_secs = self.sign_in_failed(account).await?;
        let subject = Some(match user {
            Some(user) => format!("user/{}", user.get()),
            None => format!("email/{account}"),
        });
        let mut entries = vec![self.audit_event(
            None,
            AuditAction::SignInFailed,
            subject.clone(),
            serde_json::json!({ "reason": reason }),
        )];
        if let Some(secs) = locked_secs {
            entries.push(self.audit_event(
                None,
                AuditAction::SignInLocked,
                subject,
                serde_json::json!({ "lockoutSecs": secs }),
            ));
        }
        self.audit(entries).await;
        Ok(())
    }

    /// Stores a new hash of a password that just matched an outdated one (other argon2
    /// parameters, or made before passwords were normalized). Best effort: the sign-in goes on
    /// whatever happens, and a password changed meanwhile is left alone.
    async fn rehash(&self, user: &User, old: &PasswordHash, password: Password) {
        let outcome = async {
            let new = self.adapters.hasher.hash(password).await?;
            self.store.replace_password_hash(user.id, old, &new).await
        };
        if let Err(error) = outcome.await {
            tracing::warn!(user = user.id.get(), %error, "could not store a password's new hash");
        }
    }

    /// Records in `errors` why `password` is too weak for `rule`, if it is: its score below the
    /// minimum, judged with the account's own `related` words (a password made of the username
    /// is weak whatever the dictionary says).
    pub(super) fn check_strength(
        &self,
        password: &Password,
        rule: PasswordRule,
        related: &[Option<&str>],
        errors: &mut FieldErrors,
    ) {
        let policy = self.adapters.passwords;
        let minimum = match rule {
            PasswordRule::Standard => policy.min_strength,
            PasswordRule::Lenient => policy.lenient_min_strength,
        };
        if minimum == 0 {
            return;
        }
        let related: Vec<&str> = related
            .iter()
            .flatten()
            .flat_map(|word| [*word, word.split('@').next().unwrap_or(word)])
            .collect();
        let Strength { score, warning } = self.adapters.strength.estimate(password, &related);
        if score < minimum {
            let message = match warning {
                Some(warning) => format!("is too easy to guess: {warning}"),
                None => "is too easy to guess: add another word or two".to_owned(),
            };
            errors.add("password", message);
        }
    }

    /// The signed-in user's own account.
    pub async fn me(&self, actor: &Actor) -> Result<User> {
        self.store
            .user_by_id(actor.user_id)
            .await?
            .ok_or(Error::Unauthenticated(AuthProblem::InvalidToken))
    }

    /// Changes the signed-in user's account (validated field by field); at least one field
    /// must be given.
    #[tracing::instrument(skip_all)]
    pub async fn update_me(&self, actor: &Actor, input: UserUpdate) -> Result<User> {
        let view = self
            .change_user(actor, actor.user_id, input, Patch::Absent, Patch::Absent)
            .await?;
        Ok(view.user)
    }
}
