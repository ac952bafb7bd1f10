//! quire's caches of shared read models (see `quire_core::cache`):
//!
//! - [`MemoryCache`], in-process: a moka cache bounded in bytes and in time, with single
//!   flight on misses and invalidation by tag generation;
//! - [`RedisCache`], shared by instances: Redis behind a `MemoryCache`, with a circuit
//!   breaker that sends reads to the database while Redis is away.

mod breaker;
mod redis;
mod stored;

pub use breaker::{Breaker, BreakerState};
pub use redis::{RedisCache, RedisCacheOptions, connect};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use quire_core::Error;
use quire_core::cache::{Cache, CacheEntry, CacheKey, CacheTag, Cacheable, Load};
use quire_core::ports::BoxFuture;

/// How many invalidated tags are remembered before the cache forgets them all by invalidating
/// everything loaded so far: bounds the generations' memory at about this many tags.
const MAX_REMEMBERED_TAGS: usize = 200_000;

/// A stored entry: the value, what it shows, and the clock when its load began.
#[derive(Clone)]
struct Stored {
    found: Cacheable,
    started: u64,
}

/// Invalidation state: a logical clock, each tag's last invalidation on it, and a floor
/// below which every entry is invalid (moved up when the tags are forgotten).
struct Generations {
    clock: AtomicU64,
    floor: AtomicU64,
    tags: RwLock<HashMap<CacheTag, u64>>,
}

impl Generations {
    /// Whether an entry whose load began at `started` and which shows `tags` is still valid:
    /// nothing it shows was invalidated after its load began. The floor is read under the
    /// lock that guards the stamps, so a forgetting of them is seen whole.
    fn valid(&self, stored: &Stored) -> bool {
        let tags = self.tags.read().unwrap_or_else(PoisonError::into_inner);
        if stored.started < self.floor.load(Ordering::Acquire) {
            return false;
        }
        stored
            .found
            .shown
            .tags
            .iter()
            .all(|tag| tags.get(tag).is_none_or(|&at| at <= stored.started))
    }

    /// Stamps `invalidated` with the next tick of the clock. The tick is taken under the
    /// lock, so stamps (and the floor) only ever grow.
    fn invalidate(&self, invalidated: &[CacheTag]) {
        if invalidated.is_empty() {
            return;
        }
        let mut tags = self.tags.write().unwrap_or_else(PoisonError::into_inner);
        let at = self.clock.fetch_add(1, Ordering::AcqRel) + 1;
        if tags.len() + invalidated.len() > MAX_REMEMBERED_TAGS {
            tags.clear();
            self.floor.store(at, Ordering::Release);
        }
        for tag in invalidated {
            tags.insert(tag.clone(), at);
        }
    }

    /// Makes every entry loaded so far invalid, and forgets the stamps (the floor covers them).
    fn invalidate_everything(&self) {
        let mut tags = self.tags.write().unwrap_or_else(PoisonError::into_inner);
        let at = self.clock.fetch_add(1, Ordering::AcqRel) + 1;
        tags.clear();
        self.floor.store(at, Ordering::Release);
    }
}

/// Why a load stored nothing.
enum NotStored {
    /// It found nothing to keep; its load began at this clock.
    Nothing {
        started: u64,
    },
    Failed(Error),
}

/// Sizes of [`MemoryCache`].
#[derive(Debug, Clone, Copy)]
pub struct MemoryCacheOptions {
    /// Bytes of entries kept, roughly (strings' lengths plus a fixed overhead per item).
    pub max_bytes: u64,
    /// How long an entry may be served at most, invalidated or not: the safety net.
    pub time_to_live: Duration,
}

impl Default for MemoryCacheOptions {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            time_to_live: Duration::from_secs(300),
        }
    }
}

/// The in-process cache.
pub struct MemoryCache {
    entries: moka::future::Cache<CacheKey, Stored>,
    generations: Arc<Generations>,
    /// The `cache` label of its metrics.
    label: &'static str,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

impl MemoryCache {
    pub fn new(options: MemoryCacheOptions) -> Self {
        Self::named(options, "memory")
    }

    /// A cache whose metrics carry `cache=label` (`near`, in front of Redis).
    pub(crate) fn named(options: MemoryCacheOptions, label: &'static str) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(options.max_bytes)
            .weigher(|key: &CacheKey, stored: &Stored| {
                u32::try_from(key.as_str().len() as u64 + weight(&stored.found.entry))
                    .unwrap_or(u32::MAX)
            })
            .time_to_live(options.time_to_live)
            .eviction_listener(move |_, _, cause| {
                if cause.was_evicted() {
                    metrics::counter!("quire_cache_evictions_total", "cache" => label).increment(1);
                }
            })
            .build();
        Self {
            entries,
            generations: Arc::new(Generations {
                clock: AtomicU64::new(0),
                floor: AtomicU64::new(0),
                tags: RwLock::new(HashMap::new()),
            }),
            label,
        }
    }

    /// The valid entry under `key`, or what a load finds: this read's own, or a concurrent
    /// load of the same key, which this read joins. A load that overlapped an invalidation of
    /// what it shows is not kept; its own reader overlapped the write and gets what it read,
    /// but a reader that joined it loads again, since it may have begun after the write.
    pub(crate) async fn read<'a>(
        &'a self,
        key: &CacheKey,
        load: &'a (dyn Fn() -> Load<'a> + Send + Sync),
    ) -> Result<Option<Cacheable>, Error> {
        if let Some(stored) = self.entries.get(key).await {
            if self.generations.valid(&stored) {
                count(self.label, "hit");
                return Ok(Some(stored.found));
            }
            self.entries.invalidate(key).await;
        }
        count(self.label, "miss");
        let generations = Arc::clone(&self.generations);
        let ran = AtomicBool::new(false);
        let outcome = self
            .entries
            .try_get_with(key.clone(), async {
                ran.store(true, Ordering::Release);
                let started = generations.clock.load(Ordering::Acquire);
                match load().await {
                    Ok(Some(found)) => Ok(Stored { found, started }),
                    Ok(None) => Err(NotStored::Nothing { started }),
                    Err(error) => Err(NotStored::Failed(error)),
                }
            })
            .await;
        match outcome {
            Ok(stored) if self.generations.valid(&stored) => Ok(Some(stored.found)),
            Ok(stored) => {
                self.entries.invalidate(key).await;
                if ran.load(Ordering::Acquire) {
                    Ok(Some(stored.found))
                } else {
                    load().await
                }
            }
            Err(not_stored) => match &*not_stored {
                // A load this read joined found nothing, but something was invalidated since
                // that load began (the thing may exist now): look for itself.
                NotStored::Nothing { started }
                    if !ran.load(Ordering::Acquire)
                        && self.generations.clock.load(Ordering::Acquire) > *started =>
                {
                    load().await
                }
                NotStored::Nothing { .. } => Ok(None),
                NotStored::Failed(error) => Err(error.shared_copy()),
            },
        }
    }
}

impl Cache for MemoryCache {
    fn fetch<'a>(
        &'a self,
        key: CacheKey,
        load: &'a (dyn Fn() -> Load<'a> + Send + Sync),
    ) -> BoxFuture<'a, Result<Option<Cacheable>, Error>> {
        Box::pin(async move { self.read(&key, load).await })
    }

    fn invalidate(&self, tags: &[CacheTag]) {
        self.generations.invalidate(tags);
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

impl MemoryCache {
    /// Makes every entry kept so far invalid: for when what was invalidated is not known.
    pub(crate) fn invalidate_everything(&self) {
        self.generations.invalidate_everything();
    }
}

fn count(cache: &'static str, outcome: &'static str) {
    metrics::counter!("quire_cache_requests_total", "cache" => cache, "outcome" => outcome)
        .increment(1);
}

/// Roughly how many bytes an entry holds.
fn weight(entry: &CacheEntry) -> u64 {
    use quire_core::model::Post;
    fn post(post: &Post) -> u64 {
        let body = post.body.as_ref().map_or(0, |body| body.as_str().len());
        let rendered = post.rendered.as_ref().map_or(0, |rendered| {
            rendered.html.len()
                + rendered
                    .toc
                    .iter()
                    .map(|entry| 32 + entry.id.len() + entry.title.len())
                    .sum::<usize>()
        });
        let metadata: usize = post
            .meta
            .metadata
            .iter()
            .map(|(key, value)| 32 + key.len() + value.to_string().len())
            .sum();
        (512 + body + rendered + metadata + post.description.as_str().len()) as u64
    }
    match entry {
        CacheEntry::Post(one) => post(one),
        CacheEntry::Page(page) => 64 + page.posts.iter().map(post).sum::<u64>(),
        CacheEntry::Tags(tags) => {
            64 + tags
                .iter()
                .map(|tag| 32 + tag.as_str().len() as u64)
                .sum::<u64>()
        }
        CacheEntry::Profile(_) => 512,
        CacheEntry::Rendered(rendered) => {
            128 + rendered.body.len() as u64
                + rendered
                    .route
                    .as_ref()
                    .map_or(0, |route| route.len() as u64)
                + rendered
                    .headers
                    .iter()
                    .map(|(name, value)| (name.len() + value.len()) as u64)
                    .sum::<u64>()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use quire_core::cache::SharedView;
    use quire_core::time::Timestamp;
    use quire_core::values::TagName;

    use super::*;

    fn tags_entry(names: &[&str]) -> Cacheable {
        let tags = names
            .iter()
            .map(|name| TagName::parse(name).unwrap())
            .collect();
        Cacheable {
            entry: CacheEntry::Tags(Arc::new(tags)),
            shown: SharedView::new(
                vec![CacheTag::tags(), CacheTag::post(1)],
                Timestamp::from_millis(0),
            ),
        }
    }

    fn names(found: Option<Cacheable>) -> Vec<String> {
        match found.map(|found| found.entry) {
            Some(CacheEntry::Tags(tags)) => {
                tags.iter().map(|tag| tag.as_str().to_owned()).collect()
            }
            other => panic!("not tags: {other:?}"),
        }
    }

    /// Fetches the tag list, counting loads, answering `names`.
    async fn fetch(cache: &MemoryCache, loads: &AtomicUsize, names: &[&str]) -> Vec<String> {
        let load = move || -> Load<'_> {
            Box::pin(async move {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(Some(tags_entry(names)))
            })
        };
        super::tests::names(cache.fetch(CacheKey::tags(), &load).await.unwrap())
    }

    #[tokio::test]
    async fn a_hit_until_a_tag_it_shows_is_invalidated() {
        let cache = MemoryCache::new(MemoryCacheOptions::default());
        let loads = AtomicUsize::new(0);
        assert_eq!(fetch(&cache, &loads, &["a"]).await, ["a"]);
        assert_eq!(fetch(&cache, &loads, &["b"]).await, ["a"]);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        cache.invalidate(&[CacheTag::user(9)]);
        assert_eq!(
            fetch(&cache, &loads, &["b"]).await,
            ["a"],
            "another tag changes nothing"
        );
        cache.invalidate(&[CacheTag::post(1)]);
        assert_eq!(fetch(&cache, &loads, &["b"]).await, ["b"]);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_key_load_once() {
        let cache = MemoryCache::new(MemoryCacheOptions::default());
        let loads = AtomicUsize::new(0);
        let reads = (0..64).map(|_| fetch(&cache, &loads, &["a"]));
        let found = futures_util::future::join_all(reads).await;
        assert!(found.iter().all(|names| names == &["a"]));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_load_that_overlapped_an_invalidation_is_not_kept() {
        let cache = MemoryCache::new(MemoryCacheOptions::default());
        let loads = AtomicUsize::new(0);
        let (read, ()) = tokio::join!(fetch(&cache, &loads, &["old"]), async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            cache.invalidate(&[CacheTag::tags()]);
        });
        assert_eq!(read, ["old"], "the overlapping reader sees what it read");
        assert_eq!(fetch(&cache, &loads, &["new"]).await, ["new"]);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_reader_that_joined_a_load_overtaken_by_an_invalidation_loads_again() {
        let cache = MemoryCache::new(MemoryCacheOptions::default());
        let (first, second) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let (old, (), new) = tokio::join!(
            fetch(&cache, &first, &["old"]),
            async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                cache.invalidate(&[CacheTag::tags()]);
            },
            async {
                // Begins after the invalidation, while the first load is still running.
                tokio::time::sleep(Duration::from_millis(10)).await;
                fetch(&cache, &second, &["new"]).await
            }
        );
        assert_eq!((old, new), (vec!["old".to_owned()], vec!["new".to_owned()]));
        assert_eq!(second.load(Ordering::SeqCst), 1, "it loaded again");
    }

    #[tokio::test]
    async fn a_reader_that_joined_a_load_finding_nothing_looks_again_after_an_invalidation() {
        let cache = MemoryCache::new(MemoryCacheOptions::default());
        let exists = AtomicBool::new(false);
        let loads = AtomicUsize::new(0);
        let load = || -> Load<'_> {
            Box::pin(async {
                let found = exists.load(Ordering::SeqCst);
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(40)).await;
                Ok(found.then(|| tags_entry(&["a"])))
            })
        };
        let (first, second) = tokio::join!(cache.fetch(CacheKey::tags(), &load), async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            // It comes to exist, and its write invalidates, while the first load runs.
            exists.store(true, Ordering::SeqCst);
            cache.invalidate(&[CacheTag::tags()]);
            cache.fetch(CacheKey::tags(), &load).await
        });
        assert!(
            first.unwrap().is_none(),
            "the first read began before it existed"
        );
        assert_eq!(names(second.unwrap()), ["a"], "the second began after");
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_load_is_every_waiters_error_and_is_not_kept() {
        let cache = MemoryCache::new(MemoryCacheOptions::default());
        let failing = || -> Load<'_> {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Err(Error::Unavailable {
                    reason: "down",
                    retry_after_secs: 1,
                })
            })
        };
        let (a, b) = tokio::join!(
            cache.fetch(CacheKey::tags(), &failing),
            cache.fetch(CacheKey::tags(), &failing)
        );
        assert!(matches!(a, Err(Error::Unavailable { .. })));
        assert!(matches!(b, Err(Error::Unavailable { .. })));
        let loads = AtomicUsize::new(0);
        assert_eq!(fetch(&cache, &loads, &["a"]).await, ["a"]);
    }
}
