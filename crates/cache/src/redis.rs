//! The shared cache ([`RedisCache`]): Redis behind an in-process near cache, so instances
//! share each other's loads while a hot read stays a memory read.
//!
//! A read goes to the near cache ([`MemoryCache`], with its single flight), then to Redis, and
//! only then to the database; what the database gave is written back to Redis. Redis keeps
//! the same invalidation by generation as the near cache, in one Lua script per operation:
//!
//! - `clock` counts invalidations; `tag:{tag}` is the clock when a tag was last invalidated
//!   (kept a while longer than any entry lives); `floor` invalidates everything older.
//! - `e:{key}` is a hash of the entry's payload (`v`, JSON of [`Stored`]), its tags (`t`) and
//!   the clock when its load began (`s`). A read returns the payload only if no tag was
//!   invalidated after `s`, and returns the clock either way, for a load to begin at.
//!
//! - `log` is a stream of the invalidations, one entry per tick of `clock` (its id is the
//!   tick), so that every instance learns what the others invalidated; `epoch` names the
//!   Redis state the clock counts in (a Redis that restarted empty has a new one).
//!
//! Every instance invalidates Redis for every event it commits or hears, so an entry is
//! stamped stale even when the instance that wrote crashed before it could. While this
//! instance's own invalidation of a tag is on its way, entries showing that tag are not taken
//! from Redis.
//!
//! **Read-your-writes across instances.** A write returns only once its invalidation is in
//! Redis (or Redis failed to take it: [`RedisCache::settled`]). A read first brings its near
//! cache up to a point of the log taken after the read began, so a client that saw a write
//! answered, whichever instance it next reaches, reads what the write left. Concurrent reads
//! share that catching up: one call to Redis at a time serves every read that began before it
//! was sent (as Raft's read-index batching does), so under load it costs a read a wait of
//! one or two round trips, not a call of its own.
//!
//! Redis down or slow: each call has a short timeout and a [`Breaker`]; with it open, reads go
//! from the near cache to the database and nothing fails. An invalidation that could not reach
//! Redis leaves its entries there unstamped, so before Redis is used again everything in it is
//! invalidated (the floor moves up). Keys are not declared to the scripts: a single Redis (or
//! a primary with replicas), not Redis Cluster.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use quire_core::Error;
use quire_core::cache::{Cache, CacheHealth, CacheKey, CacheTag, Cacheable, Load, SharedView};
use quire_core::ports::BoxFuture;
use quire_core::time::Timestamp;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{Notify, OnceCell, watch};

use crate::breaker::Breaker;
use crate::stored::Stored;
use crate::{MemoryCache, MemoryCacheOptions, count};

/// Settings of [`RedisCache`].
#[derive(Debug, Clone)]
pub struct RedisCacheOptions {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key, so several deployments can share one Redis.
    pub prefix: String,
    /// How long one Redis call may take before it counts as failed.
    pub timeout: Duration,
    /// Failures in a row that open the breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open before one trial call.
    pub breaker_cooldown: Duration,
    /// The near cache's sizes; its time to live is Redis entries' too.
    pub near: MemoryCacheOptions,
}

impl RedisCacheOptions {
    pub fn new(url: String) -> Self {
        Self {
            url,
            prefix: "quire:cache:".to_owned(),
            timeout: Duration::from_millis(50),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(1),
            near: MemoryCacheOptions::default(),
        }
    }
}

/// Answers the entry under a key if it is valid, and the clock either way:
/// `{clock}` or `{clock, payload, tags, read at}`.
const READ: &str = r"
local p = ARGV[1]
local clock = tonumber(redis.call('GET', p .. 'clock') or '0')
local e = redis.call('HMGET', p .. 'e:' .. ARGV[2], 'v', 't', 's', 'a')
if not e[1] then return {clock} end
local started = tonumber(e[3])
-- A load that began at a clock Redis no longer has (it restarted empty) proves nothing.
if started > clock then return {clock} end
if started < tonumber(redis.call('GET', p .. 'floor') or '0') then return {clock} end
for tag in string.gmatch(e[2], '[^\n]+') do
  local at = redis.call('GET', p .. 'tag:' .. tag)
  if at and tonumber(at) > started then return {clock} end
end
return {clock, e[1], e[2], e[4]}
";

/// Stores an entry (payload, tags, started, read at) for a time to live, unless one of its
/// tags was invalidated after its load began.
const WRITE: &str = r"
local p = ARGV[1]
local started = tonumber(ARGV[5])
if started > tonumber(redis.call('GET', p .. 'clock') or '0') then return 0 end
for tag in string.gmatch(ARGV[4], '[^\n]+') do
  local at = redis.call('GET', p .. 'tag:' .. tag)
  if at and tonumber(at) > started then return 0 end
end
local key = p .. 'e:' .. ARGV[2]
redis.call('HSET', key, 'v', ARGV[3], 't', ARGV[4], 's', ARGV[5], 'a', ARGV[7])
redis.call('PEXPIRE', key, ARGV[6])
return 1
";

/// Stamps tags (ARGV from 4) with the next tick of the clock, kept for a time to live
/// (ARGV 2), and logs them under that tick, keeping about ARGV 3 entries.
const INVALIDATE: &str = r"
local p = ARGV[1]
-- A clock that starts again (Redis restarted empty, or lost the key) counts in a new epoch.
if redis.call('EXISTS', p .. 'clock') == 0 or redis.call('EXISTS', p .. 'epoch') == 0 then
  local now = redis.call('TIME')
  redis.call('SET', p .. 'epoch', now[1] .. '.' .. now[2])
end
local at = redis.call('INCR', p .. 'clock')
for i = 4, #ARGV do
  redis.call('SET', p .. 'tag:' .. ARGV[i], at, 'PX', ARGV[2])
end
local tags = table.concat(ARGV, '\n', 4)
local logged = redis.pcall('XADD', p .. 'log', 'MAXLEN', '~', ARGV[3], at .. '-0', 't', tags)
if type(logged) == 'table' and logged.err then
  -- The log is ahead of the clock (the clock was lost): start it again.
  redis.call('DEL', p .. 'log')
  redis.call('XADD', p .. 'log', 'MAXLEN', '~', ARGV[3], at .. '-0', 't', tags)
end
return at
";

/// Invalidates everything stored so far, and logs it.
const FLOOR: &str = r"
local p = ARGV[1]
-- A clock that starts again (Redis restarted empty, or lost the key) counts in a new epoch.
if redis.call('EXISTS', p .. 'clock') == 0 or redis.call('EXISTS', p .. 'epoch') == 0 then
  local now = redis.call('TIME')
  redis.call('SET', p .. 'epoch', now[1] .. '.' .. now[2])
end
local at = redis.call('INCR', p .. 'clock')
redis.call('SET', p .. 'floor', at)
local logged = redis.pcall('XADD', p .. 'log', 'MAXLEN', '~', ARGV[2], at .. '-0', 'floor', '1')
if type(logged) == 'table' and logged.err then
  redis.call('DEL', p .. 'log')
  redis.call('XADD', p .. 'log', 'MAXLEN', '~', ARGV[2], at .. '-0', 'floor', '1')
end
return at
";

/// The epoch and the clock, and the log's entries after tick ARGV 2 (none when that is
/// negative, or more than ARGV 3 behind): `{epoch, clock, id, field, value, ...}`.
const SYNC: &str = r"
local p = ARGV[1]
local after = tonumber(ARGV[2])
local epoch = redis.call('GET', p .. 'epoch') or ''
local clock = tonumber(redis.call('GET', p .. 'clock') or '0')
if after < 0 or clock <= after or clock - after > tonumber(ARGV[3]) then
  return {epoch, clock}
end
local out = {epoch, clock}
for _, entry in ipairs(redis.call('XRANGE', p .. 'log', (after + 1) .. '-0', '+')) do
  table.insert(out, entry[1])
  table.insert(out, entry[2][1])
  table.insert(out, entry[2][2])
end
return out
";

/// How many invalidations the log keeps, about: an instance further behind than this
/// invalidates its whole near cache instead of reading them.
const LOG_LENGTH: i64 = 10_000;

/// How far behind the log an instance reads entries rather than invalidating everything.
const MAX_CATCH_UP: i64 = 2_000;

struct Scripts {
    read: redis::Script,
    write: redis::Script,
    invalidate: redis::Script,
    floor: redis::Script,
    sync: redis::Script,
}

/// The reads' catching up with the log, in rounds: each round is one call to Redis, sent
/// after its number was published in `begun`, so a read that saw round `n` begun (or none
/// running) is served by round `n + 1` or any later one.
struct Rounds {
    /// The last round begun.
    begun: AtomicU64,
    /// The highest round a read waits for.
    wanted: AtomicU64,
    /// The last round done.
    done: watch::Sender<u64>,
    /// Wakes the task that runs rounds.
    demand: Notify,
    /// Whether that task was started.
    running: AtomicBool,
    /// The cache is gone: the task ends.
    closed: AtomicBool,
}

/// Where this instance is in the log: the Redis epoch and the last tick applied.
#[derive(Default)]
struct Position {
    at: Option<(String, i64)>,
}

/// This process's invalidations on their way to Redis, so a write can wait for them.
struct Tickets {
    issued: AtomicU64,
    in_flight: Mutex<BTreeSet<u64>>,
    /// Bumped as each one ends.
    ended: watch::Sender<u64>,
}

/// The Redis side, shared with the tasks that invalidate.
struct Remote {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    options: RedisCacheOptions,
    breaker: Breaker,
    scripts: Scripts,
    /// An invalidation failed to reach Redis: everything there must be invalidated before
    /// Redis is read again.
    unsure: AtomicBool,
    /// Tags whose invalidation by this process is on its way to Redis, with how many.
    pending: Mutex<HashMap<CacheTag, u32>>,
    /// A task is trying to invalidate everything in Redis once it answers again.
    settling: AtomicBool,
    /// The ticks of the log that are this process's own invalidations, not yet read back.
    own: Mutex<BTreeSet<i64>>,
    rounds: Arc<Rounds>,
    tickets: Tickets,
}

/// Redis behind a near cache. See the module's documentation.
pub struct RedisCache {
    near: Arc<MemoryCache>,
    remote: Arc<Remote>,
}

impl Drop for RedisCache {
    fn drop(&mut self) {
        self.remote.rounds.closed.store(true, Ordering::Release);
        self.remote.rounds.demand.notify_one();
    }
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("near", &self.near)
            .field("breaker", &self.remote.breaker.state())
            .finish_non_exhaustive()
    }
}

/// On whose behalf a Redis call is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// A request waits on it.
    Request,
    /// Nothing waits on it.
    Background,
}

/// How long a background call may wait for Redis.
const BACKGROUND_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a Redis call did not give an answer.
#[derive(Debug)]
enum Trouble {
    /// The breaker is open: not tried.
    Skipped,
    Failed(String),
}

/// A connection to `client`'s Redis that reconnects by itself, trying at least once per
/// `cooldown` (a breaker's), so a Redis that came back is used again within about that long,
/// not after the client's own back-off (which grows past 3 s).
///
/// # Errors
/// Redis's, when the first connection cannot be made.
pub async fn connect(
    client: &redis::Client,
    cooldown: Duration,
) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new().set_max_delay(cooldown);
    ConnectionManager::new_with_config(client.clone(), config).await
}

impl RedisCache {
    /// A cache on the Redis at `options.url`. Nothing is connected yet: Redis being down
    /// when the process starts only means reads go to the database until it is up.
    ///
    /// # Errors
    /// A URL Redis's client cannot read.
    pub fn new(options: RedisCacheOptions) -> Result<Self, String> {
        let client =
            redis::Client::open(options.url.as_str()).map_err(|error| error.to_string())?;
        let near = Arc::new(MemoryCache::named(options.near, "near"));
        Ok(Self {
            near,
            remote: Arc::new(Remote {
                client,
                connection: OnceCell::new(),
                breaker: Breaker::new(options.breaker_threshold, options.breaker_cooldown),
                options,
                scripts: Scripts {
                    read: redis::Script::new(READ),
                    write: redis::Script::new(WRITE),
                    invalidate: redis::Script::new(INVALIDATE),
                    floor: redis::Script::new(FLOOR),
                    sync: redis::Script::new(SYNC),
                },
                unsure: AtomicBool::new(false),
                pending: Mutex::new(HashMap::new()),
                settling: AtomicBool::new(false),
                own: Mutex::new(BTreeSet::new()),
                rounds: Arc::new(Rounds {
                    begun: AtomicU64::new(0),
                    wanted: AtomicU64::new(0),
                    done: watch::Sender::new(0),
                    demand: Notify::new(),
                    running: AtomicBool::new(false),
                    closed: AtomicBool::new(false),
                }),
                tickets: Tickets {
                    issued: AtomicU64::new(0),
                    in_flight: Mutex::new(BTreeSet::new()),
                    ended: watch::Sender::new(0),
                },
            }),
        })
    }

    /// Brings the near cache up to a point of Redis's log taken after this call began: every
    /// invalidation that reached Redis before then is applied here. Shares a round with the
    /// reads that began at the same time; gives up after two call timeouts, or at once while
    /// Redis is away (the near cache then goes by the event stream alone).
    async fn catch_up(&self) {
        let rounds = &self.remote.rounds;
        if !rounds.running.swap(true, Ordering::AcqRel) {
            tokio::spawn(run_rounds(
                Arc::clone(rounds),
                Arc::downgrade(&self.remote),
                Arc::downgrade(&self.near),
            ));
        }
        let mut done = rounds.done.subscribe();
        let need = rounds.begun.load(Ordering::Acquire) + 1;
        rounds.wanted.fetch_max(need, Ordering::AcqRel);
        rounds.demand.notify_one();
        let _ = tokio::time::timeout(
            2 * self.remote.options.timeout,
            done.wait_for(|&done| done >= need),
        )
        .await;
    }

    /// Waits until every invalidation this process began so far has reached Redis or failed
    /// to, at most two call timeouts.
    async fn settle_invalidations(&self) {
        let tickets = &self.remote.tickets;
        let mut ended = tickets.ended.subscribe();
        let issued = tickets.issued.load(Ordering::Acquire);
        let wait = async {
            loop {
                let oldest = tickets
                    .in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .first()
                    .copied();
                if oldest.is_none_or(|oldest| oldest > issued) || ended.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(2 * self.remote.options.timeout, wait).await;
    }

    async fn read<'a>(
        &'a self,
        key: CacheKey,
        load: &'a (dyn Fn() -> Load<'a> + Send + Sync),
    ) -> Result<Option<Cacheable>, Error> {
        self.catch_up().await;
        if key.is_rendered() {
            return self.near.read(&key, load).await;
        }
        let remote = self.remote.as_ref();
        let key = &key;
        let through = || through(remote, key, load);
        self.near.read(key, &through).await
    }
}

/// Runs rounds of catching up with the log while reads want them (see [`Rounds`]).
async fn run_rounds(rounds: Arc<Rounds>, remote: Weak<Remote>, near: Weak<MemoryCache>) {
    /// Lets the next read start the task again if this one ends unexpectedly (its runtime
    /// shut down), rather than leave every read waiting for rounds nobody runs.
    struct Running(Arc<Rounds>);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.running.store(false, Ordering::Release);
        }
    }
    let _running = Running(Arc::clone(&rounds));
    let mut position = Position::default();
    loop {
        if rounds.closed.load(Ordering::Acquire) {
            return;
        }
        let done = *rounds.done.borrow();
        if done >= rounds.wanted.load(Ordering::Acquire) {
            rounds.demand.notified().await;
            continue;
        }
        let (Some(remote), Some(near)) = (remote.upgrade(), near.upgrade()) else {
            return;
        };
        let round = done + 1;
        rounds.begun.store(round, Ordering::Release);
        // A failed round leaves the position where it was: the log keeps what came after it,
        // and the next round that reaches Redis reads it (or, if Redis restarted or the log
        // moved on too far, invalidates everything).
        let _ = remote.sync(&near, &mut position).await;
        rounds.done.send_replace(round);
    }
}

/// A near-cache miss: Redis, then the database, whose answer goes to Redis.
fn through<'b, 'a: 'b>(
    remote: &'b Remote,
    key: &'b CacheKey,
    load: &'b (dyn Fn() -> Load<'a> + Send + Sync),
) -> Load<'b> {
    Box::pin(async move {
        let begun = match remote.read(key).await {
            Ok((_, Some(found))) => {
                count("redis", "hit");
                return Ok(Some(found));
            }
            Ok((clock, None)) => Some(clock),
            Err(_) => None,
        };
        count("redis", "miss");
        let found = load().await?;
        if let (Some(started), Some(found)) = (begun, &found) {
            remote.write(key, found, started).await;
        }
        Ok(found)
    })
}

impl Remote {
    fn lua_tag(tag: &CacheTag) -> String {
        tag.as_str().replace('%', "%25").replace('\n', "%0A")
    }

    /// The tags of a newline-separated list of [`Remote::lua_tag`]s, as Redis keeps them.
    fn stored_tags(list: &str) -> impl Iterator<Item = CacheTag> + '_ {
        list.split('\n')
            .filter(|tag| !tag.is_empty())
            .map(|tag| CacheTag::from_stored(tag.replace("%0A", "\n").replace("%25", "%")))
    }

    /// A Redis call through the breaker and the timeout, on a connection made on first use.
    async fn call<T, F, Fut>(&self, operation: &'static str, call: F) -> Result<T, Trouble>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.call_as(operation, Caller::Request, call).await
    }

    /// A Redis call made for a request (through the breaker, within the timeout) or in the
    /// background (past an open breaker, with a longer wait, its failures not counted: no
    /// request waits on it, and it tries the connection as soon as Redis is back).
    async fn call_as<T, F, Fut>(
        &self,
        operation: &'static str,
        caller: Caller,
        call: F,
    ) -> Result<T, Trouble>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let background = caller == Caller::Background;
        if !background && !self.breaker.allow() {
            return Err(Trouble::Skipped);
        }
        // A call dropped unfinished (its request went away) counts as failed, so a half-open
        // breaker's one trial is never left out for good.
        let mut unfinished = Unfinished((!background).then_some(&self.breaker));
        let started = std::time::Instant::now();
        let timeout = if background {
            BACKGROUND_TIMEOUT.max(self.options.timeout)
        } else {
            self.options.timeout
        };
        let outcome = tokio::time::timeout(timeout, async {
            let connection = self
                .connection
                .get_or_try_init(|| connect(&self.client, self.options.breaker_cooldown))
                .await?
                .clone();
            call(connection).await
        })
        .await;
        metrics::histogram!("quire_cache_redis_seconds", "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        let outcome = match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Trouble::Failed(error.to_string())),
            Err(_) => Err(Trouble::Failed(format!("no answer within {timeout:?}"))),
        };
        unfinished.0 = None;
        match &outcome {
            Ok(_) => self.breaker.succeeded(),
            Err(Trouble::Failed(_)) if background => {}
            Err(Trouble::Failed(error)) => {
                let was = self.breaker.state();
                self.breaker.failed();
                if was != self.breaker.state() {
                    tracing::warn!(%error, "Redis is failing: reads bypass it until it answers again");
                }
            }
            Err(Trouble::Skipped) => {}
        }
        metrics::gauge!("quire_cache_breaker_state", "cache" => "redis")
            .set(self.breaker.state().gauge());
        outcome
    }

    /// Invalidates everything in Redis if an invalidation was lost while it was away.
    async fn settle(&self, caller: Caller) -> Result<(), Trouble> {
        if !self.unsure.load(Ordering::Acquire) {
            return Ok(());
        }
        let prefix = self.options.prefix.clone();
        self.call_as("floor", caller, |mut connection| async move {
            self.scripts
                .floor
                .arg(prefix)
                .arg(LOG_LENGTH)
                .invoke_async::<i64>(&mut connection)
                .await
        })
        .await?;
        self.unsure.store(false, Ordering::Release);
        tracing::info!("Redis is back: what it held from before was invalidated");
        Ok(())
    }

    /// The valid entry under `key` if Redis has one, and Redis's clock.
    async fn read(&self, key: &CacheKey) -> Result<(i64, Option<Cacheable>), Trouble> {
        self.settle(Caller::Request).await?;
        // Tags whose invalidation by this process is on its way as the read goes out: Redis
        // may run the read before the invalidation, even if the invalidation is confirmed by
        // the time the answer is back.
        let pending_before: Vec<CacheTag> = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        let prefix = self.options.prefix.clone();
        let name = key.as_str().to_owned();
        let reply: Vec<redis::Value> = self
            .call("read", |mut connection| async move {
                self.scripts
                    .read
                    .arg(prefix)
                    .arg(name)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        let mut reply = reply.into_iter();
        let field = |value: Option<redis::Value>| -> Option<String> {
            redis::from_redis_value(value?).ok()
        };
        let Some(clock) = reply
            .next()
            .and_then(|clock| redis::from_redis_value::<i64>(clock).ok())
        else {
            return Err(Trouble::Failed("Redis answered no clock".to_owned()));
        };
        let (Some(payload), Some(tags), Some(read_at)) = (
            field(reply.next()),
            field(reply.next()),
            field(reply.next()).and_then(|at| at.parse::<i64>().ok()),
        ) else {
            return Ok((clock, None));
        };
        let tags: Vec<CacheTag> = Self::stored_tags(&tags).collect();
        {
            let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if tags
                .iter()
                .any(|tag| pending.contains_key(tag) || pending_before.contains(tag))
            {
                return Ok((clock, None));
            }
        }
        let Ok(stored) = serde_json::from_str::<Stored>(&payload) else {
            return Ok((clock, None));
        };
        let found = Cacheable {
            entry: stored.into(),
            shown: SharedView {
                tags: tags.into(),
                as_of: Timestamp::from_millis(read_at),
            },
        };
        Ok((clock, Some(found)))
    }

    /// Applies to `near` the log's invalidations after `position`, other than this process's
    /// own (applied when they were made); everything, when the log cannot say what was
    /// missed (first contact, Redis restarted, too far behind).
    async fn sync(&self, near: &MemoryCache, position: &mut Position) -> Result<(), Trouble> {
        let prefix = self.options.prefix.clone();
        let after = position.at.as_ref().map_or(-1, |(_, at)| *at);
        let reply: Vec<redis::Value> = self
            .call("sync", |mut connection| async move {
                self.scripts
                    .sync
                    .arg(prefix)
                    .arg(after)
                    .arg(MAX_CATCH_UP)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        let mut reply = reply.into_iter();
        let (Some(epoch), Some(clock)) = (
            reply
                .next()
                .and_then(|epoch| redis::from_redis_value::<String>(epoch).ok()),
            reply
                .next()
                .and_then(|clock| redis::from_redis_value::<i64>(clock).ok()),
        ) else {
            return Err(Trouble::Failed("Redis answered no clock".to_owned()));
        };
        let mut everything = match &position.at {
            Some((known, at)) => *known != epoch || clock < *at,
            None => true,
        };
        let mut invalidated = Vec::new();
        let mut expected = after + 1;
        let mut own = self.own.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let (Some(id), Some(field), Some(value)) = (reply.next(), reply.next(), reply.next())
            else {
                break;
            };
            let tick = redis::from_redis_value::<String>(id)
                .ok()
                .and_then(|id| id.split('-').next()?.parse::<i64>().ok());
            if tick != Some(expected) {
                everything = true;
                break;
            }
            expected += 1;
            let field = redis::from_redis_value::<String>(field).unwrap_or_default();
            let value = redis::from_redis_value::<String>(value).unwrap_or_default();
            if field == "floor" {
                everything = true;
            } else if !own.remove(&(expected - 1)) {
                invalidated.extend(Self::stored_tags(&value));
            }
        }
        if expected <= clock && !everything && position.at.is_some() {
            // The log did not reach the clock: entries were trimmed away.
            everything = true;
        }
        own.retain(|&tick| tick > clock);
        drop(own);
        if everything {
            near.invalidate_everything();
        } else if !invalidated.is_empty() {
            invalidated.sort();
            invalidated.dedup();
            near.invalidate(&invalidated);
        }
        position.at = Some((epoch, clock));
        Ok(())
    }

    async fn write(&self, key: &CacheKey, found: &Cacheable, started: i64) {
        let Some(Ok(payload)) =
            Stored::of(&found.entry).map(|stored| serde_json::to_string(&stored))
        else {
            return;
        };
        let tags: Vec<String> = found.shown.tags.iter().map(Self::lua_tag).collect();
        let prefix = self.options.prefix.clone();
        let name = key.as_str().to_owned();
        let ttl = self.options.near.time_to_live.as_millis() as u64;
        let _ = self
            .call("write", |mut connection| async move {
                self.scripts
                    .write
                    .arg(prefix)
                    .arg(name)
                    .arg(payload)
                    .arg(tags.join("\n"))
                    .arg(started)
                    .arg(ttl)
                    .arg(found.shown.as_of.as_millis())
                    .invoke_async::<i64>(&mut connection)
                    .await
            })
            .await;
    }

    async fn invalidate(&self, tags: Vec<CacheTag>, ticket: u64) {
        let prefix = self.options.prefix.clone();
        // Stamps outlive every entry they could make stale.
        let ttl = 2 * self.options.near.time_to_live.as_millis() as u64 + 1000;
        let encoded: Vec<String> = tags.iter().map(Self::lua_tag).collect();
        let outcome = self
            .call("invalidate", |mut connection| async move {
                let mut invocation = self.scripts.invalidate.prepare_invoke();
                invocation.arg(prefix).arg(ttl).arg(LOG_LENGTH);
                for tag in encoded {
                    invocation.arg(tag);
                }
                invocation.invoke_async::<i64>(&mut connection).await
            })
            .await;
        match outcome {
            Ok(tick) => {
                let mut own = self.own.lock().unwrap_or_else(PoisonError::into_inner);
                if own.len() >= MAX_CATCH_UP as usize {
                    // Nobody read the log for a long while: forget the oldest.
                    own.pop_first();
                }
                own.insert(tick);
            }
            Err(_) => self.unsure.store(true, Ordering::Release),
        }
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for tag in tags {
                if let Some(count) = pending.get_mut(&tag) {
                    *count -= 1;
                    if *count == 0 {
                        pending.remove(&tag);
                    }
                }
            }
        }
        self.tickets
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&ticket);
        self.tickets.ended.send_modify(|ended| *ended += 1);
        if outcome.is_err() && !self.settling.swap(true, Ordering::AcqRel) {
            // Other instances may read Redis before this one does: invalidate it as soon as
            // it answers, not at this process's next read. Tried often (a try while the
            // breaker is open costs nothing), so the floor is the first call once it closes.
            while self.settle(Caller::Background).await.is_err() {
                tokio::time::sleep(SETTLE_RETRY).await;
            }
            self.settling.store(false, Ordering::Release);
        }
    }
}

/// How often a lost invalidation's floor is tried until Redis takes it.
const SETTLE_RETRY: Duration = Duration::from_millis(100);

/// Marks a call failed if it is dropped before it ends.
struct Unfinished<'a>(Option<&'a Breaker>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(breaker) = self.0 {
            breaker.failed();
        }
    }
}

impl Cache for RedisCache {
    fn fetch<'a>(
        &'a self,
        key: CacheKey,
        load: &'a (dyn Fn() -> Load<'a> + Send + Sync),
    ) -> BoxFuture<'a, Result<Option<Cacheable>, Error>> {
        Box::pin(self.read(key, load))
    }

    /// Invalidates the near cache at once and Redis on its way: until Redis confirms, this
    /// process takes nothing showing these tags from Redis.
    fn invalidate(&self, tags: &[CacheTag]) {
        self.near.invalidate(tags);
        if tags.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Nowhere to run the call: Redis is invalidated whole before its next use.
            self.remote.unsure.store(true, Ordering::Release);
            return;
        };
        {
            let mut pending = self
                .remote
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for tag in tags {
                *pending.entry(tag.clone()).or_insert(0) += 1;
            }
        }
        let tickets = &self.remote.tickets;
        let ticket = tickets.issued.fetch_add(1, Ordering::AcqRel) + 1;
        tickets
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ticket);
        let remote = Arc::clone(&self.remote);
        let tags = tags.to_vec();
        runtime.spawn(async move { remote.invalidate(tags, ticket).await });
    }

    /// Waits until this process's invalidations so far are in Redis (or failed to get
    /// there), so that the write that made them is read fresh through every instance.
    fn settled(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.settle_invalidations())
    }

    fn name(&self) -> &'static str {
        "redis"
    }

    /// A `PING` through the breaker: skipped while it is open, so a probe never waits on a
    /// Redis known to be down.
    fn health(&self) -> BoxFuture<'_, CacheHealth> {
        Box::pin(async move {
            let ping = self
                .remote
                .call("ping", |mut connection| async move {
                    redis::cmd("PING")
                        .query_async::<String>(&mut connection)
                        .await
                })
                .await;
            match ping {
                Ok(_) => CacheHealth::Up,
                Err(_) => CacheHealth::Degraded("redis is unreachable: reads bypass it"),
            }
        })
    }
}
