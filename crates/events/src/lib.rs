//! Where quire's relay delivers committed domain events, and where each process hears them:
//! implementations of the core's [`EventBus`](quire_core::ports::EventBus) port.
//!
//! - [`InProcessEvents`]: a queue inside this process, the zero-setup default (one instance).
//! - NATS JetStream and RabbitMQ: chosen by `QUIRE_NATS_URL` / `QUIRE_AMQP_URL`, for many
//!   instances: every instance hears every event, whichever instance wrote it.

mod in_process;

pub use in_process::InProcessEvents;
