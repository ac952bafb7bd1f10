//! Idempotency keys: a retried POST replays the first answer instead of acting twice.

use super::Quire;
use crate::error::{Error, Result};
use crate::model::{Claim, IdempotentResponse};
use crate::policy::Actor;
use crate::ports::Store;
use crate::time::Timestamp;

/// How long a key is kept: at least a day, so retries across restarts and instances work.
pub const IDEMPOTENCY_WINDOW_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// After this long, a claim whose request never completed (it was dropped, or its process
/// stopped) is given up, so the key does not answer 409 for a whole day. Longer than any
/// request may run.
pub const ABANDONED_CLAIM_MILLIS: i64 = 2 * 60 * 1000;

/// A client's idempotency key: 1 to 255 visible ASCII characters.
fn parse_key(key: &str) -> Result<&str> {
    if !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(key)
    } else {
        // A header the contract does not allow, like a malformed cursor: 400, not 422.
        Err(Error::malformed(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ))
    }
}

fn scope(actor: Option<&Actor>) -> i64 {
    actor.map_or(0, |actor| actor.user_id.get())
}

/// A claimed key as the write it guards sees it: `scope` is the caller's user id (0 for
/// anonymous callers), `key` the client's `Idempotency-Key`, `claimed_at` when this claim was
/// made, and `creates` the kind of aggregate the request creates (`post`, `comment`, `user`:
/// [`crate::events::Aggregate::kind`]), whose first event marks the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedKey {
    pub scope: i64,
    pub key: String,
    pub claimed_at: Timestamp,
    pub creates: &'static str,
}

tokio::task_local! {
    /// The key the running request claimed, as context of its task: the store reads it when a
    /// write records its events and marks the key committed in that write's own transaction
    /// ([`claimed_key`]). Context rather than a parameter, because every write a request may
    /// make records events through one place, whichever use-case and contract made it.
    static CLAIMED: ClaimedKey;
}

/// The key claimed by the request running on this task, if it claimed one
/// ([`Quire::run_claimed`]).
pub fn claimed_key() -> Option<ClaimedKey> {
    CLAIMED.try_with(Clone::clone).ok()
}

impl<S: Store> Quire<S> {
    /// Claims `key` for this caller and request. A key older than the window is forgotten.
    pub async fn claim_idempotency_key(
        &self,
        actor: Option<&Actor>,
        key: &str,
        fingerprint: &str,
    ) -> Result<Claim> {
        let key = parse_key(key)?;
        let now = self.adapters.clock.now();
        let expired_before = Timestamp::from_millis(now.as_millis() - IDEMPOTENCY_WINDOW_MILLIS);
        let abandoned_before = Timestamp::from_millis(now.as_millis() - ABANDONED_CLAIM_MILLIS);
        self.store
            .claim_key(
                scope(actor),
                key,
                fingerprint,
                now,
                expired_before,
                abandoned_before,
            )
            .await
    }

    /// Runs `request` under the key this caller claimed at `claimed_at`: the write that
    /// creates the aggregate of kind `creates` marks the key with it, in the same transaction,
    /// so that a retry after a lost answer finds [`Claim::Committed`] instead of acting again.
    pub async fn run_claimed<F: std::future::Future>(
        &self,
        actor: Option<&Actor>,
        key: &str,
        claimed_at: Timestamp,
        creates: &'static str,
        request: F,
    ) -> F::Output {
        let claimed = ClaimedKey {
            scope: scope(actor),
            key: key.to_owned(),
            claimed_at,
            creates,
        };
        CLAIMED.scope(claimed, request).await
    }

    /// Records the response to replay for a claimed key.
    pub async fn complete_idempotency_key(
        &self,
        actor: Option<&Actor>,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<()> {
        self.store.complete_key(scope(actor), key, response).await
    }

    /// Lets a claimed key go, after a failure worth retrying; a key whose change committed is
    /// kept (a retry is answered from what the change created).
    pub async fn release_idempotency_key(&self, actor: Option<&Actor>, key: &str) -> Result<()> {
        self.store.release_key(scope(actor), key).await
    }
}
