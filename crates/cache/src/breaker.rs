//! A circuit breaker for calls to a dependency that may go away (Redis): after
//! `threshold` failures in a row it opens and calls are skipped for `cooldown`; then one
//! trial call is let through (half-open), and its outcome closes or reopens it.
//!
//! Time is tokio's, so tests move it with `tokio::time::pause` and `advance`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The breaker's state, as the `quire_cache_breaker_state` gauge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// One trial call is out; the others are skipped until it ends.
    HalfOpen,
    /// Calls are skipped until the cooldown passes.
    Open,
}

impl BreakerState {
    /// 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

struct Inner {
    failures: u32,
    open_until: Option<Instant>,
    trial_out: bool,
}

/// A circuit breaker.
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(Inner {
                failures: 0,
                open_until: None,
                trial_out: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a call may go out now. While half-open only one may; it must be followed by
    /// [`Breaker::succeeded`] or [`Breaker::failed`].
    pub fn allow(&self) -> bool {
        let mut inner = self.lock();
        match inner.open_until {
            None => true,
            Some(until) if Instant::now() < until => false,
            Some(_) if inner.trial_out => false,
            Some(_) => {
                inner.trial_out = true;
                true
            }
        }
    }

    pub fn succeeded(&self) {
        let mut inner = self.lock();
        inner.failures = 0;
        inner.open_until = None;
        inner.trial_out = false;
    }

    pub fn failed(&self) {
        let mut inner = self.lock();
        inner.failures = inner.failures.saturating_add(1);
        if inner.trial_out || inner.failures >= self.threshold {
            inner.open_until = Some(Instant::now() + self.cooldown);
        }
        inner.trial_out = false;
    }

    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match inner.open_until {
            None => BreakerState::Closed,
            Some(until) if Instant::now() < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_after_failures_then_lets_one_trial_through() {
        let breaker = Breaker::new(3, Duration::from_secs(1));
        for _ in 0..2 {
            assert!(breaker.allow());
            breaker.failed();
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.allow());
        breaker.failed();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow(), "open: skipped");

        tokio::time::advance(Duration::from_millis(1001)).await;
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.allow(), "one trial");
        assert!(!breaker.allow(), "only one");
        breaker.failed();
        assert_eq!(
            breaker.state(),
            BreakerState::Open,
            "a failed trial reopens it"
        );

        tokio::time::advance(Duration::from_millis(1001)).await;
        assert!(breaker.allow());
        breaker.succeeded();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.allow() && breaker.allow());
    }
}
