//! Fault injection: named points in storage code where a test can make the next few passes
//! fail, to prove atomicity and retries instead of assuming them. Compiled only with the
//! `fault-injection` feature, which tests enable (as a dev-dependency feature it never reaches
//! a release build); without it a check is nothing at all.

/// A point where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Between inserting a post and inserting its tags, inside the transaction.
    BetweenPostAndTags,
    /// When a write transaction starts: the database reports it is busy (SQLite) or that the
    /// transaction lost a serialization race (PostgreSQL).
    Busy,
    /// Just after a write transaction committed: the change is made, but the caller hears an
    /// error, as when a process dies between commit and reply.
    AfterCommit,
}

#[cfg(feature = "fault-injection")]
pub(crate) use armed::Faults;

/// The armed faults: a countdown per point.
#[cfg(feature = "fault-injection")]
mod armed {
    use super::Fault;
    use quire_core::{Error, Result};
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Default)]
    pub struct Faults {
        between_post_and_tags: AtomicU32,
        busy: AtomicU32,
        after_commit: AtomicU32,
    }

    impl Faults {
        fn counter(&self, fault: Fault) -> &AtomicU32 {
            match fault {
                Fault::BetweenPostAndTags => &self.between_post_and_tags,
                Fault::Busy => &self.busy,
                Fault::AfterCommit => &self.after_commit,
            }
        }

        pub fn arm(&self, fault: Fault, times: u32) {
            self.counter(fault).store(times, Ordering::SeqCst);
        }

        /// Fails if the fault is armed, using up one of its passes.
        pub fn check(&self, fault: Fault) -> Result<()> {
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
                Fault::BetweenPostAndTags => {
                    Error::internal("injected fault between post and tags")
                }
                Fault::Busy => Error::Busy,
                Fault::AfterCommit => Error::internal("injected fault after commit"),
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
}
