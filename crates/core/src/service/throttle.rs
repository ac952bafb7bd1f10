//! Counting the running request's client against a rate limit ([`crate::limits`]).

use crate::error::{Error, Result};
use crate::limits::{Policy, current_client};
use crate::ports::Store;

use super::Quire;

impl<S: Store> Quire<S> {
    /// Takes one unit of `policy`'s quota for the running request's client; nothing when no
    /// client is known.
    ///
    /// # Errors
    /// [`Error::RateLimited`] when the client is over the limit.
    pub async fn throttle(&self, policy: Policy) -> Result<()> {
        let Some(client) = current_client() else {
            return Ok(());
        };
        self.adapters
            .limiter
            .acquire(policy, client)
            .await
            .map_err(Error::RateLimited)
    }
}
