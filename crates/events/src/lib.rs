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

use quire_core::events::Event;
use quire_core::ports::EventStream;
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

/// A listener of the events this process hears: it skips what it falls more than the
/// channel's capacity behind on, rather than holding the others up.
fn listen(heard: &broadcast::Sender<Event>) -> EventStream {
    Box::pin(
        BroadcastStream::new(heard.subscribe()).filter_map(|received| match received {
            Ok(event) => Some(event),
            Err(lagged) => {
                tracing::warn!(%lagged, "an event listener fell behind and skipped events");
                None
            }
        }),
    )
}
