//! Brute-force protection for sign-in: failures in a row lock an account out for a while that
//! grows with each further failure (OWASP ASVS 5.0 V6.3.1; the Authentication Cheat Sheet's
//! account lockout), and admins see and clear the locks.
//!
//! Failures are kept by the email tried, whether or not an account has it, so a lock tells
//! nobody which emails exist; in the database, so every instance counts the same failures and
//! a lock outlives a restart. While an account is locked, sign-in is refused before its
//! password is checked, correct or not, and those refusals are not counted.

use crate::error::{Error, RateLimit, Result};
use crate::policy::{self, Actor};
use crate::ports::{SignInFailures, Store};
use crate::time::Timestamp;
use crate::values::Email;

use super::Quire;

/// The `RateLimit-Policy` name of sign-in lockouts.
pub const SIGN_IN_POLICY: &str = "sign-in";

/// When failed sign-ins lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInPolicy {
    /// Failures in a row that lock the account; the lock's length doubles with each further
    /// one. 0 turns lockouts off.
    pub max_failures: u32,
    /// The first lock's length, in seconds.
    pub lockout_secs: u32,
    /// The longest lock, in seconds.
    pub max_lockout_secs: u32,
    /// A failure longer than this after the one before counts from one again, in seconds.
    pub window_secs: u32,
}

impl Default for SignInPolicy {
    /// Five failures in a row lock the account for a minute, then two, four… up to an hour;
    /// an hour without failures starts the count over.
    fn default() -> Self {
        Self {
            max_failures: 5,
            lockout_secs: 60,
            max_lockout_secs: 3600,
            window_secs: 3600,
        }
    }
}

impl SignInPolicy {
    /// How long `failures` in a row lock the account for, in seconds; `None` below the
    /// threshold.
    pub fn lockout_secs_after(&self, failures: u32) -> Option<u32> {
        if self.max_failures == 0 || failures < self.max_failures {
            return None;
        }
        let doublings = (failures - self.max_failures).min(31);
        let secs = u64::from(self.lockout_secs) << doublings;
        Some(u32::try_from(secs.min(u64::from(self.max_lockout_secs))).unwrap_or(u32::MAX))
    }

    fn limited(&self, retry_after_secs: u32) -> Error {
        Error::RateLimited(RateLimit {
            policy: SIGN_IN_POLICY,
            quota: self.max_failures,
            window_secs: self.window_secs,
            retry_after_secs: retry_after_secs.max(1),
        })
    }
}

/// The key failures are kept under: the email as parsed, lowercased (mailbox names are
/// case-insensitive in practice, and one lock must hold however the email is written).
pub(crate) fn account_key(email: &Email) -> String {
    email.as_str().to_lowercase()
}

/// Whole seconds from `now` until `until`, rounded up.
fn secs_until(now: Timestamp, until: Timestamp) -> u32 {
    let millis = until
        .as_millis()
        .saturating_sub(now.as_millis())
        .clamp(0, i64::MAX - 999);
    u32::try_from((millis + 999) / 1000).unwrap_or(u32::MAX)
}

impl<S: Store> Quire<S> {
    /// Refuses sign-in to a locked account; returns what is on record for it.
    ///
    /// # Errors
    /// [`Error::RateLimited`] while the account is locked, with the time left.
    pub(crate) async fn check_sign_in_lock(&self, account: &str) -> Result<Option<SignInFailures>> {
        let policy = &self.adapters.sign_in;
        if policy.max_failures == 0 {
            return Ok(None);
        }
        let record = self.store.sign_in_failures(account).await?;
        let now = self.adapters.clock.now();
        if let Some(until) = record.as_ref().and_then(|r| r.locked_until)
            && until > now
        {
            return Err(policy.limited(secs_until(now, until)));
        }
        Ok(record)
    }

    /// Counts a failed sign-in, locking the account when the failures reach the policy's
    /// threshold; answers the lockout's length in seconds when this failure began one.
    pub(crate) async fn sign_in_failed(&self, account: &str) -> Result<Option<u32>> {
        let policy = &self.adapters.sign_in;
        if policy.max_failures == 0 {
            return Ok(None);
        }
        let now = self.adapters.clock.now();
        let restart_before =
            Timestamp::from_millis(now.as_millis() - i64::from(policy.window_secs) * 1000);
        let failures = self
            .store
            .record_sign_in_failure(account, now, restart_before)
            .await?;
        if let Some(secs) = policy.lockout_secs_after(failures) {
            let until = Timestamp::from_millis(now.as_millis() + i64::from(secs) * 1000);
            self.store.lock_sign_in(account, until).await?;
            tracing::warn!(
                failures,
                lockout_secs = secs,
                "sign-in locked after failures"
            );
            return Ok(Some(secs));
        }
        Ok(None)
    }

    /// The accounts locked now, the longest lock first (at most 100).
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin.
    pub async fn lockouts(&self, actor: &Actor) -> Result<Vec<SignInFailures>> {
        if !policy::may_manage_users(actor) {
            return Err(Error::Forbidden(crate::error::Resource::User));
        }
        let now = self.adapters.clock.now();
        self.store.sign_in_lockouts(now, 100).await
    }

    /// Clears the failures and lock of the account signed in to with `email`; whether there
    /// were any. `actor` is `None` for the operator at the command line.
    ///
    /// # Errors
    /// [`Error::Forbidden`] unless `actor` is an admin; [`Error::Invalid`] on `email` for
    /// one that cannot be an email.
    pub async fn unlock_sign_in(&self, actor: Option<&Actor>, email: &str) -> Result<bool> {
        if actor.is_some_and(|actor| !policy::may_manage_users(actor)) {
            return Err(Error::Forbidden(crate::error::Resource::User));
        }
        let email = Email::parse(email).map_err(|message| Error::invalid("email", message))?;
        let account = account_key(&email);
        let cleared = self.store.clear_sign_in_failures(&account).await?;
        if cleared {
            let cleared = self.audit_event(
                actor.map(|actor| actor.user_id),
                crate::audit::AuditAction::LockoutCleared,
                Some(format!("email/{account}")),
                serde_json::json!({}),
            );
            self.audit(vec![cleared]).await;
        }
        Ok(cleared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_from_the_threshold_and_stop_at_the_longest() {
        let policy = SignInPolicy::default();
        assert_eq!(policy.lockout_secs_after(4), None);
        assert_eq!(policy.lockout_secs_after(5), Some(60));
        assert_eq!(policy.lockout_secs_after(6), Some(120));
        assert_eq!(policy.lockout_secs_after(8), Some(480));
        assert_eq!(policy.lockout_secs_after(11), Some(3600));
        assert_eq!(policy.lockout_secs_after(u32::MAX), Some(3600));
        let off = SignInPolicy {
            max_failures: 0,
            ..policy
        };
        assert_eq!(off.lockout_secs_after(100), None);
    }

    #[test]
    fn time_left_rounds_up_to_whole_seconds() {
        let now = Timestamp::from_millis(10_000);
        assert_eq!(secs_until(now, Timestamp::from_millis(10_001)), 1);
        assert_eq!(secs_until(now, Timestamp::from_millis(70_000)), 60);
        assert_eq!(secs_until(now, Timestamp::from_millis(9_000)), 0);
    }
}
