//! Where quire's relay delivers committed domain events, and where each process hears them:
//! implementations of the core's [`EventBus`](quire_core::ports::EventBus) port.
//!
//! - [`InProcessEvents`]: a queue inside this process, the zero-setup default (one instance).
//! - NATS JetStream and RabbitMQ: chosen by `QUIRE_NATS_URL` / `QUIRE_AMQP_URL`, for many
//!   instances: every instance hears every event, whichever instance wrote it.

pub mod amqp;
mod in_process;
pub mod nats;

pub use amqp::AmqpEvents;
pub use in_process::InProcessEvents;
pub use nats::NatsEvents;

use quire_core::events::{Event, RecentIds};
use quire_core::ports::EventStream;
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

/// What this process hears, told to its listeners once each: the relay delivers at least
/// once, so an event may come twice (a relay that died between publishing and marking); the
/// last [`Heard::REMEMBERED`] event ids are remembered and a repeat among them is dropped.
#[derive(Clone)]
pub(crate) struct Heard {
    sender: broadcast::Sender<Event>,
    recent: std::sync::Arc<std::sync::Mutex<RecentIds>>,
}

impl Heard {
    pub(crate) const REMEMBERED: usize = 16_384;

    pub(crate) fn new() -> Self {
        Self {
            sender: broadcast::channel(InProcessEvents::CAPACITY).0,
            recent: std::sync::Arc::new(std::sync::Mutex::new(RecentIds::new(Self::REMEMBERED))),
        }
    }

    /// Tells the listeners `event`, unless they were told it lately.
    pub(crate) fn tell(&self, event: Event) {
        {
            let Ok(mut recent) = self.recent.lock() else {
                return;
            };
            if !recent.insert(&event.id) {
                return;
            }
        }
        // No listener is not an error: nobody is listening yet.
        let _ = self.sender.send(event);
    }

    /// A listener of what this process hears: it skips what it falls more than the channel's
    /// capacity behind on, rather than holding the others up.
    pub(crate) fn listen(&self) -> EventStream {
        Box::pin(BroadcastStream::new(self.sender.subscribe()).filter_map(
            |received| match received {
                Ok(event) => Some(event),
                Err(lagged) => {
                    tracing::warn!(%lagged, "an event listener fell behind and skipped events");
                    None
                }
            },
        ))
    }
}
