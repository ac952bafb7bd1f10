//! The relay's use-cases: moving committed events from the outbox to the event bus, in outbox
//! order and at least once, and keeping the outbox small. The loop that runs them (with its
//! lease, back-off and deadlines) is a worker of the server's.

use super::Quire;
use crate::error::Result;
use crate::events::Event;
use crate::ports::{Backlog, BoxFuture, PublishError, Store};
use crate::time::Timestamp;

/// What one round of the relay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    /// The last `seq` of the batch read, confirmed or not.
    pub last_seq: Option<i64>,
    /// Events the bus confirmed and the outbox now marks sent.
    pub sent: usize,
    /// Events still pending in the batch read (not confirmed).
    pub left: usize,
    /// Why the bus stopped confirming, if it did.
    pub failure: Option<PublishError>,
}

impl<S: Store> Quire<S> {
    /// Makes the webhook deliveries of up to `limit` pending events, publishes them in outbox
    /// order, then marks as sent those the bus
    /// confirmed (a prefix of the batch: after a failure the rest wait for the next round, so
    /// no event overtakes an earlier one). An event published but not yet marked when the
    /// process dies is published again: consumers de-duplicate by event id.
    ///
    /// # Errors
    /// A storage error reading or marking the outbox; a bus that fails is not an error but a
    /// [`Relayed::failure`].
    pub async fn relay_batch(&self, limit: u32) -> Result<Relayed> {
        let pending = self.store.pending_events(None, limit).await?;
        if pending.is_empty() {
            return Ok(Relayed {
                last_seq: None,
                sent: 0,
                left: 0,
                failure: None,
            });
        }
        let events: Vec<Event> = pending.iter().map(|row| row.event.clone()).collect();
        // Webhooks do not wait for the bus: their deliveries are made first (idempotently, so
        // a batch published again after a failure makes none twice).
        self.enqueue_deliveries(&events).await?;
        let (confirmed, failure) = match self.adapters.events.publish(&events).await {
            Ok(()) => (events.len(), None),
            Err(error) => (error.confirmed.min(events.len()), Some(error)),
        };
        if confirmed > 0 {
            let seqs: Vec<i64> = pending[..confirmed].iter().map(|row| row.seq).collect();
            self.store
                .mark_events_sent(&seqs, self.adapters.clock.now())
                .await?;
        }
        Ok(Relayed {
            last_seq: pending.last().map(|row| row.seq),
            sent: confirmed,
            left: events.len() - confirmed,
            failure,
        })
    }

    /// While the bus refuses events, makes the webhook deliveries of up to `limit` pending
    /// events after `after` (a `seq`), so that webhooks do not wait for the bus; answers the
    /// last `seq` offered, for the next call to go on from. (A batch the relay publishes makes
    /// its deliveries too: an event offered here is not offered twice, and one this skips,
    /// committed late on PostgreSQL, is offered when the bus takes it.)
    ///
    /// # Errors
    /// A storage error.
    pub async fn offer_pending(&self, after: Option<i64>, limit: u32) -> Result<Option<i64>> {
        let pending = self.store.pending_events(after, limit).await?;
        let Some(last) = pending.last().map(|row| row.seq) else {
            return Ok(None);
        };
        let events: Vec<Event> = pending.into_iter().map(|row| row.event).collect();
        self.enqueue_deliveries(&events).await?;
        Ok(Some(last))
    }

    /// Deletes at most `limit` events sent more than `retention_millis` ago.
    ///
    /// # Errors
    /// A storage error.
    pub async fn prune_sent_events(&self, retention_millis: i64, limit: u32) -> Result<u64> {
        let now = self.adapters.clock.now().as_millis();
        let before = Timestamp::from_millis(now.saturating_sub(retention_millis));
        self.store.prune_sent_events(before, limit).await
    }

    /// How many events wait in the outbox, and since when.
    ///
    /// # Errors
    /// A storage error.
    pub async fn outbox_backlog(&self) -> Result<Backlog> {
        self.store.outbox_backlog().await
    }

    /// Resolves when this process records an event (see [`crate::ports::OutboxStore::recorded`]).
    pub fn outbox_recorded(&self) -> BoxFuture<'static, ()> {
        self.store.recorded()
    }

    /// Takes or renews the lease `name` for `holder` for `ttl_millis` from now; answers whether
    /// `holder` holds it.
    ///
    /// # Errors
    /// A storage error (the caller then holds nothing).
    pub async fn acquire_lease(&self, name: &str, holder: &str, ttl_millis: i64) -> Result<bool> {
        let now = self.adapters.clock.now();
        let until = Timestamp::from_millis(now.as_millis().saturating_add(ttl_millis));
        self.store.acquire_lease(name, holder, now, until).await
    }

    /// Gives up the lease `name` if `holder` holds it.
    ///
    /// # Errors
    /// A storage error.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        self.store.release_lease(name, holder).await
    }
}
