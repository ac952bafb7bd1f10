//! Events on RabbitMQ (AMQP 0-9-1): the relay publishes each event to the durable topic
//! exchange [`EXCHANGE`] with its type as routing key, as a persistent, mandatory message whose
//! `message_id` is the event id, on a channel in confirm mode; a publication counts only once
//! the broker confirmed it stored it. The durable queue [`QUEUE`] is bound to every event (and
//! keeps each [`KEPT_MILLIS`]), so an event is stored even before any consumer binds a queue
//! of its own: a broker confirms, without storing, a message that no queue takes. Every process hears every event through a queue of its own
//! (exclusive, deleted with its connection) bound to `#`.
//!
//! A broker that goes away is reconnected to on the next publication and, for hearing, by a
//! task that retries every second.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use quire_core::events::Event;
use quire_core::ports::{BoxFuture, EventBus, EventStream, PublishError};
use tokio::sync::Mutex;

/// The durable topic exchange quire publishes to.
pub const EXCHANGE: &str = "quire.events";

/// The durable queue that takes every event, for consumers that read quire's events at their
/// own pace (as JetStream's stream does).
pub const QUEUE: &str = "quire.events";

/// How long [`QUEUE`] keeps an event nobody read: 7 days, as the JetStream stream.
pub const KEPT_MILLIS: u32 = 7 * 24 * 3600 * 1000;

/// How long connecting, or a batch waiting for its confirms, may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// Persistent delivery (AMQP 0-9-1 `delivery-mode` 2): the broker writes the message to disk
/// in durable queues.
const PERSISTENT: u8 = 2;

/// The event bus on RabbitMQ.
#[derive(Clone)]
pub struct AmqpEvents {
    url: Arc<str>,
    /// The publishing channel, opened on first use and again after a failure.
    publisher: Arc<Mutex<Option<(Connection, Channel)>>>,
    heard: crate::Heard,
}

impl AmqpEvents {
    /// Prepares the bus for the broker at `url` (`amqp://user:password@host:5672/%2f`) and
    /// starts hearing its events. Nothing fails here when the broker is down: publications
    /// fail (and the relay retries them) until it is back.
    pub fn new(url: &str) -> Self {
        let heard = crate::Heard::new();
        let url: Arc<str> = Arc::from(url);
        tokio::spawn(hear(Arc::clone(&url), heard.clone()));
        Self {
            url,
            publisher: Arc::new(Mutex::new(None)),
            heard,
        }
    }
}

/// Opens a connection and a channel with the exchange declared.
async fn open(url: &str) -> Result<(Connection, Channel), String> {
    let opened = async {
        let connection = Connection::connect(
            url,
            ConnectionProperties::default().with_connection_name("quire".into()),
        )
        .await?;
        let channel = connection.create_channel().await?;
        channel
            .exchange_declare(
                EXCHANGE.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let mut kept = FieldTable::default();
        kept.insert("x-message-ttl".into(), AMQPValue::LongUInt(KEPT_MILLIS));
        channel
            .queue_declare(
                QUEUE.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                kept,
            )
            .await?;
        channel
            .queue_bind(
                QUEUE.into(),
                EXCHANGE.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok::<_, lapin::Error>((connection, channel))
    };
    match tokio::time::timeout(DEADLINE, opened).await {
        Ok(Ok(opened)) => Ok(opened),
        Ok(Err(error)) => Err(format!("connecting to RabbitMQ: {error}")),
        Err(_) => Err("connecting to RabbitMQ timed out".to_owned()),
    }
}

/// Forwards every event of the exchange to this process's listeners, reconnecting whenever
/// the connection is lost.
async fn hear(url: Arc<str>, heard: crate::Heard) {
    loop {
        if let Err(error) = hear_once(&url, &heard).await {
            tracing::warn!(%error, "hearing events from RabbitMQ failed; retrying in a second");
        }
        // The bus is gone: nobody is left to hear.
        if Arc::strong_count(&url) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn hear_once(url: &str, heard: &crate::Heard) -> Result<(), String> {
    let (_connection, channel) = open(url).await?;
    let consume = async {
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        channel
            .queue_bind(
                queue.name().clone(),
                EXCHANGE.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        channel
            .basic_consume(
                queue.name().clone(),
                "quire".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
    };
    let mut consumer = consume.await.map_err(|error| error.to_string())?;
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery.map_err(|error| error.to_string())?;
        match Event::from_json(&delivery.data) {
            Ok(event) => {
                heard.tell(event);
            }
            Err(error) => tracing::warn!(%error, "skipped a message from RabbitMQ"),
        }
        delivery
            .ack(BasicAckOptions::default())
            .await
            .map_err(|error| error.to_string())?;
    }
    Err("the RabbitMQ consumer ended".to_owned())
}

impl EventBus for AmqpEvents {
    fn publish<'a>(&'a self, events: &'a [Event]) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let failed = |confirmed: usize, reason: String| PublishError { confirmed, reason };
            let mut publisher = self.publisher.lock().await;
            if publisher.as_ref().is_none_or(|(connection, channel)| {
                !connection.status().connected() || !channel.status().connected()
            }) {
                let (connection, channel) =
                    open(&self.url).await.map_err(|reason| failed(0, reason))?;
                channel
                    .confirm_select(ConfirmSelectOptions::default())
                    .await
                    .map_err(|error| failed(0, error.to_string()))?;
                *publisher = Some((connection, channel));
            }
            let Some((_, channel)) = publisher.as_ref() else {
                return Err(failed(0, "no channel".to_owned()));
            };
            // Publish them all, then take the confirms in order.
            let mut confirms = Vec::with_capacity(events.len());
            let mut failure = None;
            for event in events {
                let properties = BasicProperties::default()
                    .with_delivery_mode(PERSISTENT)
                    .with_message_id(event.id.as_str().into())
                    .with_content_type("application/cloudevents+json".into())
                    .with_type(event.kind.type_name().into());
                match channel
                    .basic_publish(
                        EXCHANGE.into(),
                        event.kind.type_name().into(),
                        BasicPublishOptions {
                            mandatory: true,
                            ..BasicPublishOptions::default()
                        },
                        &event.to_json(),
                        properties,
                    )
                    .await
                {
                    Ok(confirm) => confirms.push(confirm),
                    Err(error) => {
                        failure = Some(error.to_string());
                        break;
                    }
                }
            }
            let mut confirmed = 0;
            for confirm in confirms {
                match tokio::time::timeout(DEADLINE, confirm).await {
                    Ok(Ok(Confirmation::Ack(None))) => confirmed += 1,
                    Ok(Ok(Confirmation::Ack(Some(_)))) => {
                        failure.get_or_insert_with(|| "no queue took the event".to_owned());
                        break;
                    }
                    Ok(Ok(other)) => {
                        failure.get_or_insert_with(|| format!("the broker answered {other:?}"));
                        break;
                    }
                    Ok(Err(error)) => {
                        failure.get_or_insert_with(|| error.to_string());
                        break;
                    }
                    Err(_) => {
                        failure.get_or_insert_with(|| "no confirm in time".to_owned());
                        break;
                    }
                }
            }
            match failure {
                None => Ok(()),
                Some(reason) => {
                    // Open a fresh channel next time.
                    *publisher = None;
                    Err(failed(confirmed, reason))
                }
            }
        })
    }

    fn subscribe(&self) -> EventStream {
        self.heard.listen()
    }

    fn name(&self) -> &'static str {
        "amqp"
    }
}
