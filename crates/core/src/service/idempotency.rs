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

    /// Records the response to replay for a claimed key.
    pub async fn complete_idempotency_key(
        &self,
        actor: Option<&Actor>,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<()> {
        self.store.complete_key(scope(actor), key, response).await
    }

    /// Lets a claimed key go, after a failure worth retrying.
    pub async fn release_idempotency_key(&self, actor: Option<&Actor>, key: &str) -> Result<()> {
        self.store.release_key(scope(actor), key).await
    }
}
