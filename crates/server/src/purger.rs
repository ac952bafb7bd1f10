//! The purger worker: a consumer of the event stream that purges shared caches in front of
//! quire (Varnish, a CDN) by surrogate key, so an anonymous read after a write is fresh at the
//! edge too (docs/caching.md, "HTTP caching").
//!
//! Each event names the cache tags it makes stale (`quire_core::cache::tags_of`); their
//! surrogate keys are the ones responses carry. Keys wait in a set until a purge of them
//! succeeds: while the purge endpoint is down, they are retried with backoff (up to
//! [`MAX_BACKOFF`]) and none is lost. Every purged key is purged once more after
//! `again_after`, for an instance whose own cache heard the event after the edge refetched
//! from it. While another process holds the `purger` lease this one stands by and drops
//! what it hears.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use quire_core::cache::tags_of;
use quire_core::service::Quire;
use quire_storage::Db;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use tokio_stream::StreamExt;

use crate::config::{EdgeSection, PurgerKind};
use crate::workers::Leased;

/// The lease the purger holds.
pub const LEASE: &str = "purger";

/// Keys per purge request: an `xkey-purge` header stays a few kilobytes.
const KEYS_PER_PURGE: usize = 100;

/// Keys kept waiting at most while the purge endpoint is down; past this keys are dropped
/// (their pages age out by `s-maxage`) and counted.
const MAX_WAITING: usize = 100_000;

/// The longest wait between retries of a failing purge.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How the purger reaches the edge.
#[derive(Debug, Clone)]
pub struct PurgeOptions {
    pub url: hyper::Uri,
    pub kind: PurgerKind,
    /// When a purged key is purged once more.
    pub again_after: Duration,
    /// How long a purge request may take.
    pub timeout: Duration,
}

impl PurgeOptions {
    /// The purger the configuration asks for, if any.
    ///
    /// # Errors
    /// A purge URL that is not an `http://` URL.
    pub fn from_config(edge: &EdgeSection) -> anyhow::Result<Option<Self>> {
        let Some(url) = &edge.purge_url else {
            return Ok(None);
        };
        let url: hyper::Uri = url
            .parse()
            .map_err(|error| anyhow::anyhow!("QUIRE_PURGE_URL {url:?}: {error}"))?;
        if url.scheme_str() != Some("http") || url.host().is_none() {
            anyhow::bail!("QUIRE_PURGE_URL must be an http:// URL of the cache, got {url}");
        }
        Ok(Some(Self {
            url,
            kind: edge.purger,
            again_after: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
        }))
    }
}

/// Sends purges.
struct Edge {
    client: Client<HttpConnector, Full<Bytes>>,
    options: PurgeOptions,
}

impl Edge {
    /// Purges `keys`; an answer other than 2xx (or no answer in time) is a failure.
    async fn purge(&self, keys: &[String]) -> Result<(), String> {
        let request = match self.options.kind {
            PurgerKind::Xkey => hyper::Request::builder()
                .method("PURGE")
                .uri(self.options.url.clone())
                .header("xkey-purge", keys.join(" "))
                .body(Full::new(Bytes::new())),
            PurgerKind::Json => hyper::Request::builder()
                .method("POST")
                .uri(self.options.url.clone())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(
                    serde_json::json!({ "surrogate_keys": keys }).to_string(),
                ))),
        }
        .map_err(|error| error.to_string())?;
        let response = tokio::time::timeout(self.options.timeout, self.client.request(request))
            .await
            .map_err(|_| format!("no answer within {:?}", self.options.timeout))?
            .map_err(|error| error.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", response.status()))
        }
    }
}

/// Where keys to purge came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    First,
    /// The batch at this index of [`Waiting::again`].
    Again(usize),
}

/// What is left to purge: keys never purged, and keys to purge once more.
#[derive(Default)]
struct Waiting {
    first: BTreeSet<String>,
    again: Vec<(Instant, BTreeSet<String>)>,
}

impl Waiting {
    fn add(&mut self, keys: impl IntoIterator<Item = String>) {
        self.first.extend(keys);
        while self.first.len() > MAX_WAITING {
            self.first.pop_first();
            metrics::counter!("quire_purge_keys_dropped_total").increment(1);
        }
    }

    /// Keys due now, and from where: never purged, then a batch whose second purge is due.
    fn due(&mut self, now: Instant) -> (Vec<String>, Due) {
        if !self.first.is_empty() {
            let keys = self.first.iter().take(KEYS_PER_PURGE).cloned().collect();
            return (keys, Due::First);
        }
        let Some(index) = self.again.iter().position(|(at, _)| *at <= now) else {
            return (Vec::new(), Due::First);
        };
        let keys = self.again[index]
            .1
            .iter()
            .take(KEYS_PER_PURGE)
            .cloned()
            .collect();
        (keys, Due::Again(index))
    }

    fn purged(&mut self, keys: &[String], due: Due, again_at: Instant) {
        match due {
            Due::First => {
                for key in keys {
                    self.first.remove(key);
                }
                self.again.push((again_at, keys.iter().cloned().collect()));
            }
            // Only that batch: a later write's second purge of the same key still comes.
            Due::Again(index) => {
                if let Some((_, set)) = self.again.get_mut(index) {
                    for key in keys {
                        set.remove(key);
                    }
                }
                self.again.retain(|(_, set)| !set.is_empty());
            }
        }
    }

    /// When something is next due, if anything waits.
    fn next_due(&self, now: Instant) -> Option<Instant> {
        if !self.first.is_empty() {
            return Some(now);
        }
        self.again.iter().map(|(at, _)| *at).min()
    }
}

/// Runs the purger until `stop` turns true.
pub async fn run(
    quire: Quire<Db>,
    options: PurgeOptions,
    lease: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(options.timeout));
    let edge = Edge {
        client: Client::builder(TokioExecutor::new()).build(connector),
        options,
    };
    let mut lease = Leased::new(LEASE, lease);
    let mut leading = lease.hold(&quire).await;
    let mut renew_at = Instant::now() + lease.renew_every;
    let mut events = quire.events();
    let mut waiting = Waiting::default();
    let mut backoff = Duration::ZERO;
    let mut retry_at = Instant::now();
    let idle = Duration::from_secs(3600);
    loop {
        let now = Instant::now();
        let purge_at = waiting
            .next_due(now)
            .map(|at| at.max(retry_at))
            .unwrap_or(now + idle);
        tokio::select! {
            _ = stop.changed() => break,
            event = events.next() => {
                let Some(event) = event else { break };
                if leading {
                    waiting.add(tags_of(&event.kind).iter().map(quire_http::surrogate_key));
                }
            }
            () = sleep_until(renew_at) => {
                leading = lease.hold(&quire).await;
                renew_at = Instant::now() + lease.renew_every;
            }
            () = sleep_until(purge_at) => {
                let (keys, due) = waiting.due(Instant::now());
                if keys.is_empty() {
                    continue;
                }
                match edge.purge(&keys).await {
                    Ok(()) => {
                        metrics::counter!("quire_purges_total", "outcome" => "ok").increment(1);
                        waiting.purged(&keys, due, Instant::now() + edge.options.again_after);
                        backoff = Duration::ZERO;
                        retry_at = Instant::now();
                    }
                    Err(error) => {
                        metrics::counter!("quire_purges_total", "outcome" => "failed").increment(1);
                        backoff = (backoff * 2).clamp(Duration::from_millis(100), MAX_BACKOFF);
                        retry_at = Instant::now() + backoff;
                        tracing::warn!(%error, keys = keys.len(), retry_in = ?backoff, "a purge of the edge cache failed; retrying");
                    }
                }
            }
        }
    }
    lease.release(&quire).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_wait_until_purged_then_go_once_more() {
        let start = Instant::now();
        let mut waiting = Waiting::default();
        waiting.add(["a".to_owned(), "b".to_owned()]);
        let (keys, due) = waiting.due(start);
        assert_eq!(
            (keys.clone(), due),
            (vec!["a".to_owned(), "b".to_owned()], Due::First)
        );
        // A failed purge leaves them waiting.
        assert_eq!(waiting.next_due(start), Some(start));
        let again_at = start + Duration::from_secs(1);
        waiting.purged(&keys, due, again_at);
        // A later write of "a": its own second purge is due later.
        waiting.add(["a".to_owned()]);
        let (later, due) = waiting.due(start);
        let later_at = start + Duration::from_millis(1800);
        waiting.purged(&later, due, later_at);
        assert_eq!(waiting.next_due(start), Some(again_at));
        assert!(waiting.due(start).0.is_empty(), "not due yet");
        let (keys, due) = waiting.due(again_at);
        assert_eq!(
            (keys.clone(), due),
            (vec!["a".to_owned(), "b".to_owned()], Due::Again(0))
        );
        waiting.purged(&keys, due, again_at);
        assert_eq!(
            waiting.next_due(again_at),
            Some(later_at),
            "the later batch still comes"
        );
        let (keys, due) = waiting.due(later_at);
        assert_eq!(keys, ["a"]);
        waiting.purged(&keys, due, later_at);
        assert_eq!(waiting.next_due(later_at), None);
    }
}
