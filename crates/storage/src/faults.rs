//! Fault injection: named points in storage code where a test can make the next few passes
//! fail, to prove atomicity and retries instead of assuming them. Disarmed, a check is one
//! atomic load.

use std::sync::atomic::{AtomicU32, Ordering};

use quire_core::{Error, Result};

use crate::error::RETRYABLE;

/// A point where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Between inserting a post and inserting its tags, inside the transaction.
    BetweenPostAndTags,
    /// When a write transaction starts: the database reports it is busy (SQLite) or that the
    /// transaction lost a serialization race (PostgreSQL).
    Busy,
}

#[derive(Default)]
pub(crate) struct Faults {
    between_post_and_tags: AtomicU32,
    busy: AtomicU32,
}

impl Faults {
    fn counter(&self, fault: Fault) -> &AtomicU32 {
        match fault {
            Fault::BetweenPostAndTags => &self.between_post_and_tags,
            Fault::Busy => &self.busy,
        }
    }

    pub(crate) fn arm(&self, fault: Fault, times: u32) {
        self.counter(fault).store(times, Ordering::SeqCst);
    }

    /// Fails if the fault is armed, using up one of its passes.
    pub(crate) fn check(&self, fault: Fault) -> Result<()> {
        let counter = self.counter(fault);
        if counter.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let fired = counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if !fired {
            return Ok(());
        }
        Err(match fault {
            Fault::BetweenPostAndTags => Error::internal("injected fault between post and tags"),
            Fault::Busy => Error::Unavailable {
                reason: RETRYABLE,
                retry_after_secs: 1,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_fault_fires_the_given_number_of_times() {
        let faults = Faults::default();
        assert!(faults.check(Fault::Busy).is_ok());
        faults.arm(Fault::Busy, 2);
        assert!(faults.check(Fault::Busy).is_err());
        assert!(faults.check(Fault::BetweenPostAndTags).is_ok());
        assert!(faults.check(Fault::Busy).is_err());
        assert!(faults.check(Fault::Busy).is_ok());
    }
}
