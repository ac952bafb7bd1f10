use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use quire_core::ports::{BoxFuture, PasswordCheck, PasswordHasher};
use quire_core::values::{Password, PasswordHash};
use quire_core::{Error, Result};
use tokio::sync::Semaphore;

/// argon2id hashing on the blocking thread pool, with a bound on how many hashes run at
/// once and on how many may wait: a flood of log-ins queues (then gets 503) instead of
/// taking every core and all memory from other requests.
pub struct Argon2Hasher {
    argon2: Argon2<'static>,
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// Verified against when the email is unknown, so that answer takes as long as any other.
    decoy: String,
}

impl Argon2Hasher {
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        max_concurrent: usize,
        max_waiting: usize,
    ) -> Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|error| Error::internal(format!("argon2 parameters: {error}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut decoy_password = [0u8; 24];
        super::random::random_bytes(&mut decoy_password).map_err(Error::internal)?;
        let decoy = argon2
            .hash_password(&decoy_password)
            .map_err(|error| Error::internal(format!("argon2: {error}")))?
            .to_string();
        let max_concurrent = if max_concurrent == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
        } else {
            max_concurrent
        };
        Ok(Self {
            argon2,
            running: Arc::new(Semaphore::new(max_concurrent)),
            waiting: AtomicUsize::new(0),
            max_waiting,
            decoy,
        })
    }

    /// Runs `work` on the blocking pool once a slot is free.
    async fn bounded<T: Send + 'static>(
        &self,
        work: impl FnOnce(Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T> {
        let busy = || Error::Unavailable {
            reason: "password hashing is saturated",
            retry_after_secs: 1,
        };
        let permit = {
            // The guard un-counts the waiter even when the request is dropped mid-wait
            // (client gone, timeout), so abandoned waits never fill the queue for good.
            let _waiting = Waiting::enter(&self.waiting, self.max_waiting).ok_or_else(busy)?;
            self.running
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| busy())?
        };
        let argon2 = self.argon2.clone();
        let result = tokio::task::spawn_blocking(move || {
            let result = work(argon2);
            drop(permit);
            result
        })
        .await
        .map_err(Error::internal)?;
        Ok(result)
    }
}

/// One request counted as waiting for a hashing slot, for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    /// Counts a waiter, unless `max` already wait.
    fn enter(count: &'a AtomicUsize, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|waiting| {
                metrics::gauge!("quire_argon2_queue_depth").set((waiting + 1) as f64);
                Self(count)
            })
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let waiting = self.0.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!("quire_argon2_queue_depth").set(waiting.saturating_sub(1) as f64);
    }
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: Password) -> BoxFuture<'_, Result<PasswordHash>> {
        Box::pin(async move {
            let phc = self
                .bounded(move |argon2| {
                    argon2
                        .hash_password(password.expose().as_bytes())
                        .map(|hash| hash.to_string())
                })
                .await?
                .map_err(|error| Error::internal(format!("argon2: {error}")))?;
            Ok(PasswordHash::from_phc(phc))
        })
    }

    fn verify(
        &self,
        password: Password,
        hash: Option<PasswordHash>,
    ) -> BoxFuture<'_, Result<PasswordCheck>> {
        Box::pin(async move {
            let known = hash.is_some();
            let phc = hash.map_or_else(|| self.decoy.clone(), |hash| hash.as_phc().to_owned());
            let check = self
                .bounded(move |argon2| {
                    let parsed = argon2::PasswordHash::new(&phc).map_err(|e| e.to_string())?;
                    let matches =
                        |text: &str| argon2.verify_password(text.as_bytes(), &parsed).is_ok();
                    Ok::<_, String>(if matches(password.expose()) {
                        PasswordCheck::Match {
                            rehash: outdated(&argon2, &parsed),
                        }
                    } else if password.as_typed().is_some_and(matches) {
                        // Hashed before passwords were normalized: from now on, normalized.
                        PasswordCheck::Match { rehash: true }
                    } else {
                        PasswordCheck::Mismatch
                    })
                })
                .await?
                .map_err(|error| Error::internal(format!("stored password hash: {error}")))?;
            Ok(if known {
                check
            } else {
                PasswordCheck::Mismatch
            })
        })
    }
}

/// Whether `hash` was made otherwise than `argon2` would make it now: another algorithm,
/// version or cost (OWASP's Password Storage Cheat Sheet: upgrade hashes at sign-in).
fn outdated(argon2: &Argon2<'_>, hash: &argon2::PasswordHash) -> bool {
    let current = argon2.params();
    let same = hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && Params::try_from(hash).is_ok_and(|params| {
            (params.m_cost(), params.t_cost(), params.p_cost())
                == (current.m_cost(), current.t_cost(), current.p_cost())
        });
    !same
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Hasher {
        Argon2Hasher::new(64, 1, 1, 2, 16).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_only_their_password() {
        let hasher = cheap();
        let password = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(password.clone()).await.unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$v=19$"));
        assert_eq!(
            hasher.verify(password, Some(hash.clone())).await.unwrap(),
            PasswordCheck::Match { rehash: false }
        );
        let wrong = Password::parse("wrong horse").unwrap();
        assert_eq!(
            hasher.verify(wrong, Some(hash)).await.unwrap(),
            PasswordCheck::Mismatch
        );
    }

    #[tokio::test]
    async fn hashes_of_other_parameters_match_and_ask_to_be_made_again() {
        let password = Password::parse("correct horse").unwrap();
        let older = Argon2Hasher::new(32, 1, 1, 2, 16).unwrap();
        let hash = older.hash(password.clone()).await.unwrap();
        assert_eq!(
            cheap().verify(password.clone(), Some(hash)).await.unwrap(),
            PasswordCheck::Match { rehash: true }
        );
        // argon2i, argon2d or another version: matched, then made again as argon2id v19.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(64, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse")
        .unwrap()
        .to_string();
        assert_eq!(
            cheap()
                .verify(password, Some(PasswordHash::from_phc(argon2i)))
                .await
                .unwrap(),
            PasswordCheck::Match { rehash: true }
        );
    }

    #[tokio::test]
    async fn a_hash_of_the_password_as_typed_before_normalization_still_matches() {
        let hasher = cheap();
        let typed = "ｃｏｒｒｅｃｔ horse";
        let old = hasher
            .argon2
            .hash_password(typed.as_bytes())
            .unwrap()
            .to_string();
        let password = Password::parse(typed).unwrap();
        assert_eq!(password.expose(), "correct horse");
        assert_eq!(
            hasher
                .verify(password, Some(PasswordHash::from_phc(old)))
                .await
                .unwrap(),
            PasswordCheck::Match { rehash: true }
        );
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let hasher = cheap();
        let password = Password::parse("correct horse").unwrap();
        let a = hasher.hash(password.clone()).await.unwrap();
        let b = hasher.hash(password).await.unwrap();
        assert_ne!(a, b, "salts differ");
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let hasher = cheap();
        let password = Password::parse("correct horse").unwrap();
        assert_eq!(
            hasher.verify(password, None).await.unwrap(),
            PasswordCheck::Mismatch
        );
    }

    #[tokio::test]
    async fn abandoned_waits_free_their_place_in_the_queue() {
        let hasher = Arc::new(Argon2Hasher::new(64, 1, 1, 1, 1).unwrap());
        // Hold the only slot so that a second hash has to wait, then drop that waiter.
        let held = hasher.running.clone().acquire_owned().await.unwrap();
        for _ in 0..3 {
            let waiter = hasher.hash(Password::parse("correct horse").unwrap());
            assert!(
                tokio::time::timeout(std::time::Duration::from_millis(20), waiter)
                    .await
                    .is_err()
            );
        }
        drop(held);
        assert!(
            hasher
                .hash(Password::parse("correct horse").unwrap())
                .await
                .is_ok()
        );
    }

    #[test]
    fn owasp_parameters_are_accepted() {
        assert!(Argon2Hasher::new(19 * 1024, 2, 1, 1, 1).is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_answers_unavailable() {
        let hasher = Argon2Hasher::new(64, 1, 1, 1, 0).unwrap();
        let password = Password::parse("correct horse").unwrap();
        assert!(matches!(
            hasher.hash(password).await,
            Err(Error::Unavailable { .. })
        ));
    }
}
