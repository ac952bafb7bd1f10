use quire_core::events::DomainEvent;
use quire_core::ports::{EventBus, EventStream};
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

/// Domain events delivered in this process: the embedded default. A subscriber that falls
/// more than the channel's capacity behind skips what it missed instead of holding writers up.
#[derive(Clone)]
pub struct InProcessEvents {
    sender: broadcast::Sender<DomainEvent>,
}

impl InProcessEvents {
    pub const CAPACITY: usize = 1024;

    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(Self::CAPACITY).0,
        }
    }
}

impl Default for InProcessEvents {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus for InProcessEvents {
    fn publish(&self, event: DomainEvent) {
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.sender.send(event);
    }

    fn subscribe(&self) -> EventStream {
        let stream =
            BroadcastStream::new(self.sender.subscribe()).filter_map(|received| match received {
                Ok(event) => Some(event),
                Err(lagged) => {
                    tracing::warn!(%lagged, "an event subscriber fell behind and skipped events");
                    None
                }
            });
        Box::pin(stream)
    }
}

#[cfg(test)]
mod tests {
    use quire_core::ids::{PostId, UserId};
    use quire_core::time::Timestamp;

    use super::*;

    fn published(id: i64) -> DomainEvent {
        DomainEvent::PostPublished {
            post: PostId::new(id),
            author: UserId::new(1),
            at: Timestamp::from_millis(0),
        }
    }

    #[tokio::test]
    async fn subscribers_receive_what_is_published_after_they_subscribe() {
        let bus = InProcessEvents::new();
        bus.publish(published(1));
        let mut first = bus.subscribe();
        let mut second = bus.subscribe();
        bus.publish(published(2));
        assert_eq!(first.next().await, Some(published(2)));
        assert_eq!(second.next().await, Some(published(2)));
    }

    #[tokio::test]
    async fn a_slow_subscriber_skips_rather_than_blocks() {
        let bus = InProcessEvents::new();
        let mut slow = bus.subscribe();
        for id in 0..(InProcessEvents::CAPACITY as i64 + 10) {
            bus.publish(published(id));
        }
        // The oldest events were dropped for this subscriber; it goes on with the rest.
        assert_eq!(slow.next().await, Some(published(10)));
    }
}
