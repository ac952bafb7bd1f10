//! quire's rate limiters: one keyed GCRA limiter per policy (governor), counting each client's
//! requests in this process ([`LocalLimiter`]); and the same limits shared by every instance
//! through Redis ([`SharedLimiter`]), with a local limiter behind them for when Redis is away.
//!
//! Keys are client addresses; a limiter forgets the clients whose cells have all come back
//! every [`SWEEP_EVERY`] checks, so its memory follows the clients seen lately, not every
//! client ever seen.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota as Gcra, RateLimiter as Gcras};
use quire_core::RateLimit;
use quire_core::limits::{Policy, Quota, RateLimiter};
use quire_core::ports::BoxFuture;

mod shared;

pub use shared::{SharedLimiter, SharedOptions};

/// Checks between two sweeps of clients whose quota is whole again.
pub const SWEEP_EVERY: u64 = 65_536;

type Keyed<C> = Gcras<IpAddr, DashMapStateStore<IpAddr>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Per-client limits kept in this process; a policy with no quota is not limited.
pub struct LocalLimiter<C: Clock = DefaultClock> {
    limiters: HashMap<Policy, (Quota, Keyed<C>)>,
    clock: C,
    checks: AtomicU64,
}

impl LocalLimiter<DefaultClock> {
    /// Limits for the policies in `quotas`, on the system's monotonic clock.
    pub fn new(quotas: impl IntoIterator<Item = (Policy, Quota)>) -> Self {
        Self::with_clock(quotas, DefaultClock::default())
    }
}

impl<C: Clock + Clone> LocalLimiter<C> {
    /// Limits on `clock` (a fake one in tests).
    pub fn with_clock(quotas: impl IntoIterator<Item = (Policy, Quota)>, clock: C) -> Self {
        let limiters = quotas
            .into_iter()
            .filter_map(|(policy, quota)| {
                let burst = NonZeroU32::new(quota.burst)?;
                let period = Duration::from_secs(u64::from(quota.window_secs)) / quota.burst;
                let gcra = Gcra::with_period(period)?.allow_burst(burst);
                Some((
                    policy,
                    (quota, Gcras::dashmap_with_clock(gcra, clock.clone())),
                ))
            })
            .collect();
        Self {
            limiters,
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes a unit of `policy` for `client` at once.
    ///
    /// # Errors
    /// The limit and the wait when none is left.
    pub fn check(&self, policy: Policy, client: IpAddr) -> Result<(), RateLimit> {
        let Some((quota, limiter)) = self.limiters.get(&policy) else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for (_, limiter) in self.limiters.values() {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
        limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            let secs = u32::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u32::MAX);
            metrics::counter!("quire_rate_limited_total", "policy" => policy.name()).increment(1);
            quota.exceeded(policy, secs)
        })
    }

    /// How many clients the limiter of `policy` remembers.
    pub fn clients(&self, policy: Policy) -> usize {
        self.limiters
            .get(&policy)
            .map_or(0, |(_, limiter)| limiter.len())
    }
}

impl<C: Clock + Clone + Send + Sync> RateLimiter for LocalLimiter<C>
where
    C::Instant: Send + Sync,
{
    fn acquire(&self, policy: Policy, client: IpAddr) -> BoxFuture<'_, Result<(), RateLimit>> {
        let outcome = self.check(policy, client);
        Box::pin(async move { outcome })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use governor::clock::FakeRelativeClock;

    fn client(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn a_burst_is_allowed_then_one_unit_comes_back_per_share_of_the_window() {
        let clock = FakeRelativeClock::default();
        let quota = Quota::parse("3/min").unwrap();
        let limiter = LocalLimiter::with_clock([(Policy::SignIn, quota)], clock.clone());
        for _ in 0..3 {
            assert_eq!(limiter.check(Policy::SignIn, client(1)), Ok(()));
        }
        let refused = limiter.check(Policy::SignIn, client(1)).unwrap_err();
        assert_eq!(refused.policy, "client-sign-in");
        assert_eq!((refused.quota, refused.window_secs), (3, 60));
        assert_eq!(refused.retry_after_secs, 20, "one unit every 20 s");
        // Another client has its own quota; a policy with none is not limited.
        assert_eq!(limiter.check(Policy::SignIn, client(2)), Ok(()));
        assert_eq!(limiter.check(Policy::Request, client(1)), Ok(()));

        clock.advance(Duration::from_secs(19));
        let refused = limiter.check(Policy::SignIn, client(1)).unwrap_err();
        assert_eq!(refused.retry_after_secs, 1);
        clock.advance(Duration::from_secs(1));
        assert_eq!(limiter.check(Policy::SignIn, client(1)), Ok(()));
        assert!(limiter.check(Policy::SignIn, client(1)).is_err());
    }

    #[test]
    fn clients_whose_quota_is_whole_again_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let quota = Quota::parse("10/s").unwrap();
        let limiter = LocalLimiter::with_clock([(Policy::Request, quota)], clock.clone());
        for last in 0..=255 {
            limiter.check(Policy::Request, client(last)).unwrap();
        }
        assert_eq!(limiter.clients(Policy::Request), 256);
        clock.advance(Duration::from_secs(2));
        for _ in 0..SWEEP_EVERY {
            limiter.check(Policy::Request, client(7)).ok();
        }
        assert!(
            limiter.clients(Policy::Request) <= 1,
            "{}",
            limiter.clients(Policy::Request)
        );
    }
}
