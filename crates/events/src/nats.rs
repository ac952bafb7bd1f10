//! Events on NATS JetStream: the relay publishes each event to `quire.events.<type>`, captured
//! by the stream [`STREAM`], with `Nats-Msg-Id` set to the event id so that the server drops
//! a repeat within the stream's duplicate window; a publication counts only once the stream
//! acknowledged it. Every process hears every event through a plain subscription to
//! `quire.events.>`, whichever process wrote it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use futures_util::StreamExt;
use quire_core::events::Event;
use quire_core::ports::{BoxFuture, EventBus, EventStream, PublishError};
use tokio::sync::OnceCell;

/// The JetStream stream that keeps quire's events.
pub const STREAM: &str = "QUIRE_EVENTS";

/// Subjects are `quire.events.<type>`, e.g. `quire.events.post.published`.
pub const SUBJECT_PREFIX: &str = "quire.events";

/// How long the stream keeps events for consumers that read it later.
const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The window in which the stream drops a repeated `Nats-Msg-Id`.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// How long a batch may wait for the stream's acknowledgements.
const ACK_DEADLINE: Duration = Duration::from_secs(5);

/// The subject an event is published on.
pub fn subject_of(event: &Event) -> String {
    format!("{SUBJECT_PREFIX}.{}", event.kind.type_name())
}

/// The event bus on NATS JetStream.
#[derive(Clone)]
pub struct NatsEvents {
    jetstream: jetstream::Context,
    stream_ready: Arc<OnceCell<()>>,
    heard: crate::Heard,
}

impl NatsEvents {
    /// Connects to `url` (retrying in the background while the server is down, so a broker
    /// outage at start-up does not stop quire) and starts hearing `quire.events.>`.
    ///
    /// # Errors
    /// A URL that cannot be used.
    pub async fn connect(url: &str) -> Result<Self, async_nats::ConnectError> {
        let client = async_nats::ConnectOptions::new()
            .name("quire")
            .retry_on_initial_connect()
            .connect(url)
            .await?;
        let mut jetstream = jetstream::new(client.clone());
        jetstream.set_timeout(ACK_DEADLINE);
        let heard = crate::Heard::new();
        tokio::spawn(hear(client, heard.clone()));
        Ok(Self {
            jetstream,
            stream_ready: Arc::new(OnceCell::new()),
            heard,
        })
    }

    /// Creates the stream if it does not exist yet (once per process, when the server answers).
    async fn ensure_stream(&self) -> Result<(), String> {
        self.stream_ready
            .get_or_try_init(|| async {
                self.jetstream
                    .get_or_create_stream(stream::Config {
                        name: STREAM.to_owned(),
                        subjects: vec![format!("{SUBJECT_PREFIX}.>")],
                        max_age: MAX_AGE,
                        duplicate_window: DUPLICATE_WINDOW,
                        storage: stream::StorageType::File,
                        ..stream::Config::default()
                    })
                    .await
                    .map(drop)
                    .map_err(|error| format!("creating the stream {STREAM}: {error}"))
            })
            .await
            .map(drop)
    }
}

/// Forwards every event heard on `quire.events.>` to this process's listeners, for as long as
/// the client lives. The client subscribes again by itself after a reconnection; a
/// subscription that cannot be made, or that ends, is made again a second later.
async fn hear(client: async_nats::Client, heard: crate::Heard) {
    loop {
        match client.subscribe(format!("{SUBJECT_PREFIX}.>")).await {
            Ok(mut subscriber) => {
                while let Some(message) = subscriber.next().await {
                    match Event::from_json(&message.payload) {
                        Ok(event) => heard.tell(event),
                        Err(error) => {
                            tracing::warn!(%error, subject = %message.subject, "skipped a message");
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot subscribe to quire's events on NATS"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

impl EventBus for NatsEvents {
    fn publish<'a>(&'a self, events: &'a [Event]) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            self.ensure_stream().await.map_err(|reason| PublishError {
                confirmed: 0,
                reason,
            })?;
            // Send them all, then take the acknowledgements in order: one round trip per
            // batch, not per event.
            let mut pending = Vec::with_capacity(events.len());
            for event in events {
                let message = PublishMessage::build()
                    .payload(event.to_json().into())
                    .message_id(event.id.as_str());
                match self
                    .jetstream
                    .send_publish(subject_of(event), message)
                    .await
                {
                    Ok(ack) => pending.push(ack),
                    Err(error) => {
                        return Err(confirm_prefix(pending, error.to_string()).await);
                    }
                }
            }
            let sent = pending.len();
            let failure = confirm_prefix(pending, String::new()).await;
            if failure.confirmed == sent {
                Ok(())
            } else {
                Err(failure)
            }
        })
    }

    fn subscribe(&self) -> EventStream {
        self.heard.listen()
    }

    fn name(&self) -> &'static str {
        "nats"
    }
}

/// Awaits the acknowledgements in order; the count of the first ones that came, and why the
/// next did not (`reason` when all came).
async fn confirm_prefix(
    pending: Vec<jetstream::context::PublishAckFuture>,
    reason: String,
) -> PublishError {
    let mut confirmed = 0;
    for ack in pending {
        match ack.await {
            Ok(_) => confirmed += 1,
            Err(error) => {
                return PublishError {
                    confirmed,
                    reason: error.to_string(),
                };
            }
        }
    }
    PublishError { confirmed, reason }
}
