//! Limits shared by every instance through Redis ([`SharedLimiter`]): one GCRA state per
//! policy and client in Redis, updated by one Lua script on Redis's own clock, so instances
//! whose clocks differ still agree.
//!
//! Sign-ins, registrations and writes are counted in Redis; requests of every kind stay in
//! each instance (a round trip to Redis would cost more than most reads it guards), so with N
//! instances a client may make N times the request quota. Redis down or slow: each call has a
//! short timeout and a circuit breaker, and while Redis cannot answer every policy is counted
//! in this instance instead: limits hold per instance, never none and never refusing everyone.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use quire_cache::Breaker;
use quire_core::RateLimit;
use quire_core::limits::{Policy, Quota, RateLimiter};
use quire_core::ports::BoxFuture;
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use crate::LocalLimiter;

/// One unit of a GCRA for `KEYS[1]`: `ARGV[1]` milliseconds between units, a burst of
/// `ARGV[2]`. Answers 0 when the unit is taken, else the milliseconds until one is back. The
/// key holds the theoretical arrival time and expires when the quota is whole again.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowed_at = tat - (burst - 1) * interval
if now < allowed_at then return allowed_at - now end
tat = tat + interval
redis.call('SET', KEYS[1], tat, 'PX', tat - now + 1)
return 0
";

/// Where and how to reach Redis.
#[derive(Debug, Clone)]
pub struct SharedOptions {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key (`{prefix}limit:{policy}:{client}`).
    pub prefix: String,
    /// How long one call may take before it counts as failed.
    pub timeout: Duration,
    /// Failures in a row that open the breaker, and how long it stays open.
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
}

/// Per-client limits shared through Redis, with this process's limiter behind them.
pub struct SharedLimiter {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    breaker: Breaker,
    options: SharedOptions,
    script: redis::Script,
    quotas: Vec<(Policy, Quota)>,
    local: LocalLimiter,
}

impl SharedLimiter {
    /// Limits for `quotas` on the Redis of `options`; nothing is connected until the first
    /// call.
    ///
    /// # Errors
    /// A URL Redis's client cannot read.
    pub fn new(options: SharedOptions, quotas: Vec<(Policy, Quota)>) -> Result<Self, String> {
        let client =
            redis::Client::open(options.url.as_str()).map_err(|error| error.to_string())?;
        Ok(Self {
            client,
            connection: OnceCell::new(),
            breaker: Breaker::new(options.breaker_threshold, options.breaker_cooldown),
            options,
            script: redis::Script::new(TAKE),
            local: LocalLimiter::new(quotas.iter().copied()),
            quotas,
        })
    }

    /// Takes a unit in Redis: `Ok(None)` when taken, `Ok(Some(wait))` when none is left.
    async fn take(
        &self,
        policy: Policy,
        quota: Quota,
        client: IpAddr,
    ) -> Result<Option<Duration>, String> {
        let key = format!("{}limit:{}:{client}", self.options.prefix, policy.name());
        let interval_ms = (u64::from(quota.window_secs) * 1000).div_ceil(u64::from(quota.burst));
        let call = async {
            let mut connection = self
                .connection
                .get_or_try_init(|| {
                    quire_cache::connect(&self.client, self.options.breaker_cooldown)
                })
                .await?
                .clone();
            self.script
                .key(key)
                .arg(interval_ms.max(1))
                .arg(quota.burst)
                .invoke_async::<u64>(&mut connection)
                .await
        };
        match tokio::time::timeout(self.options.timeout, call).await {
            Ok(Ok(0)) => Ok(None),
            Ok(Ok(wait_ms)) => Ok(Some(Duration::from_millis(wait_ms))),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.options.timeout)),
        }
    }

    async fn acquire_shared(&self, policy: Policy, client: IpAddr) -> Result<(), RateLimit> {
        let Some(quota) = self
            .quotas
            .iter()
            .find(|(named, _)| *named == policy)
            .map(|(_, quota)| *quota)
        else {
            return Ok(());
        };
        if policy == Policy::Request || !self.breaker.allow() {
            return self.local.check(policy, client);
        }
        let outcome = with_breaker(&self.breaker, self.take(policy, quota, client)).await;
        metrics::gauge!("quire_rate_limit_breaker_state").set(self.breaker.state().gauge());
        match outcome {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => {
                let secs = u32::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u32::MAX);
                metrics::counter!("quire_rate_limited_total", "policy" => policy.name())
                    .increment(1);
                Err(quota.exceeded(policy, secs))
            }
            Err(error) => {
                tracing::warn!(%error, "Redis cannot count a rate limit: counting in this instance");
                self.local.check(policy, client)
            }
        }
    }
}

/// Runs `call` as the breaker's call: its outcome closes or opens it; a call dropped
/// unfinished counts as failed, so a half-open breaker's one trial is never left out.
async fn with_breaker<T>(
    breaker: &Breaker,
    call: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    struct Unfinished<'a>(Option<&'a Breaker>);
    impl Drop for Unfinished<'_> {
        fn drop(&mut self) {
            if let Some(breaker) = self.0 {
                breaker.failed();
            }
        }
    }
    let mut unfinished = Unfinished(Some(breaker));
    let outcome = call.await;
    unfinished.0 = None;
    match &outcome {
        Ok(_) => breaker.succeeded(),
        Err(_) => breaker.failed(),
    }
    outcome
}

impl RateLimiter for SharedLimiter {
    fn acquire(&self, policy: Policy, client: IpAddr) -> BoxFuture<'_, Result<(), RateLimit>> {
        Box::pin(self.acquire_shared(policy, client))
    }
}
