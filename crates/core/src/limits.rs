//! Rate limits by client: the policies, the port that counts against them, and the client a
//! request comes from.
//!
//! Each policy allows a client (its address, as the transport resolved it through any trusted
//! proxies) a burst of requests that refills evenly over a window: the generic cell rate
//! algorithm, so a client that keeps to the rate is never refused and one that bursts waits
//! only as long as the next unit takes to come back. Sign-in and registration are limited in
//! the core, so every contract (and every operation of a GraphQL batch) counts alike; reads
//! and writes are limited by the HTTP transport per request.

use std::future::Future;
use std::net::IpAddr;

use crate::error::RateLimit;
use crate::ports::BoxFuture;

/// What a limit is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Sign-in attempts from one client, whichever accounts they try.
    SignIn,
    /// Accounts registered from one client.
    Registration,
    /// Requests that change something (`POST`, `PUT`, `PATCH`, `DELETE` on the REST
    /// contracts).
    Write,
    /// Every request, reads included.
    Request,
}

impl Policy {
    pub const ALL: [Policy; 4] = [
        Policy::SignIn,
        Policy::Registration,
        Policy::Write,
        Policy::Request,
    ];

    /// The name in `RateLimit-Policy` and in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Policy::SignIn => "client-sign-in",
            Policy::Registration => "client-registration",
            Policy::Write => "client-writes",
            Policy::Request => "client-requests",
        }
    }
}

/// How much a policy allows: `burst` units at once, coming back evenly over `window_secs`
/// (so `burst / window_secs` a second, sustained).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub burst: u32,
    pub window_secs: u32,
}

impl Quota {
    /// Parses `N/s`, `N/min` or `N/hour` (`30/min`: 30 at once, one back every 2 s).
    ///
    /// # Errors
    /// A message for anything else, or a count of 0.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{text:?} is not a quota like 30/min, 10/s or 100/hour");
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let burst: u32 = count.trim().parse().map_err(|_| bad())?;
        let window_secs = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(bad()),
        };
        if burst == 0 {
            return Err(bad());
        }
        Ok(Self { burst, window_secs })
    }

    /// The limit as an error that names the wait.
    pub fn exceeded(&self, policy: Policy, retry_after_secs: u32) -> RateLimit {
        RateLimit {
            policy: policy.name(),
            quota: self.burst,
            window_secs: self.window_secs,
            retry_after_secs: retry_after_secs.max(1),
        }
    }
}

impl std::fmt::Display for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.window_secs {
            1 => write!(f, "{}/s", self.burst),
            60 => write!(f, "{}/min", self.burst),
            3600 => write!(f, "{}/hour", self.burst),
            secs => write!(f, "{}/{secs}s", self.burst),
        }
    }
}

/// Counts requests against the policies' quotas, per client.
pub trait RateLimiter: Send + Sync {
    /// Takes one unit of `policy`'s quota for `client`.
    ///
    /// # Errors
    /// The limit, with the time until a unit is back, when none is left. A policy that is
    /// turned off never refuses.
    fn acquire(
        &self,
        policy: Policy,
        client: IpAddr,
    ) -> BoxFuture<'_, std::result::Result<(), RateLimit>>;
}

/// A limiter that never refuses: rate limits turned off.
#[derive(Debug, Default)]
pub struct Unlimited;

impl RateLimiter for Unlimited {
    fn acquire(&self, _: Policy, _: IpAddr) -> BoxFuture<'_, std::result::Result<(), RateLimit>> {
        Box::pin(async { Ok(()) })
    }
}

tokio::task_local! {
    /// The address of the client the running request comes from.
    static CLIENT: IpAddr;
}

/// Runs `request` as coming from `client`: the core's limits count it against that address.
pub async fn from_client<F: Future>(client: IpAddr, request: F) -> F::Output {
    CLIENT.scope(client, request).await
}

/// The client the running request comes from, when its transport said (the command line and
/// work of the core's own have none).
pub fn current_client() -> Option<IpAddr> {
    CLIENT.try_with(|client| *client).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_from_a_count_and_a_unit() {
        assert_eq!(
            Quota::parse("30/min"),
            Ok(Quota {
                burst: 30,
                window_secs: 60
            })
        );
        assert_eq!(Quota::parse(" 10 / s ").map(|q| q.window_secs), Ok(1));
        assert_eq!(
            Quota::parse("100/hour").map(|q| q.to_string()),
            Ok("100/hour".into())
        );
        for bad in ["", "30", "0/min", "-1/min", "30/day", "x/min", "30/"] {
            assert!(Quota::parse(bad).is_err(), "{bad}");
        }
    }
}
