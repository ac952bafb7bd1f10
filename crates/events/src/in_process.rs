use quire_core::events::Event;
use quire_core::ports::{BoxFuture, EventBus, EventStream, PublishError};

/// Domain events delivered in this process: the embedded default, for one instance. The
/// relay's publication is confirmed as soon as the events are queued. A listener that falls
/// more than [`InProcessEvents::CAPACITY`] events behind skips what it missed instead of
/// holding the relay up.
#[derive(Clone)]
pub struct InProcessEvents {
    heard: crate::Heard,
}

impl InProcessEvents {
    pub const CAPACITY: usize = 4096;

    pub fn new() -> Self {
        Self {
            heard: crate::Heard::new(),
        }
    }
}

impl Default for InProcessEvents {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus for InProcessEvents {
    fn publish<'a>(&'a self, events: &'a [Event]) -> BoxFuture<'a, Result<(), PublishError>> {
        for event in events {
            self.heard.tell(event.clone());
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn subscribe(&self) -> EventStream {
        self.heard.listen()
    }

    fn name(&self) -> &'static str {
        "in-process"
    }
}

#[cfg(test)]
mod tests {
    use quire_core::events::{DomainEvent, EventId, FollowData};
    use quire_core::time::Timestamp;
    use tokio_stream::StreamExt;

    use super::*;

    fn followed(id: i64) -> Event {
        Event {
            id: EventId::new(Timestamp::from_millis(id), [0; 10]),
            occurred_at: Timestamp::from_millis(id),
            actor: None,
            kind: DomainEvent::Followed(FollowData {
                follower_id: id,
                followee_id: 1,
            }),
        }
    }

    #[tokio::test]
    async fn listeners_hear_what_is_published_after_they_subscribe() {
        let bus = InProcessEvents::new();
        bus.publish(&[followed(1)]).await.unwrap();
        let mut first = bus.subscribe();
        let mut second = bus.subscribe();
        bus.publish(&[followed(2)]).await.unwrap();
        assert_eq!(first.next().await, Some(followed(2)));
        assert_eq!(second.next().await, Some(followed(2)));
    }

    #[tokio::test]
    async fn a_repeated_event_is_heard_once() {
        let bus = InProcessEvents::new();
        let mut listener = bus.subscribe();
        bus.publish(&[followed(1), followed(1), followed(2)])
            .await
            .unwrap();
        bus.publish(&[followed(1)]).await.unwrap();
        assert_eq!(listener.next().await, Some(followed(1)));
        assert_eq!(listener.next().await, Some(followed(2)));
        bus.publish(&[followed(3)]).await.unwrap();
        assert_eq!(listener.next().await, Some(followed(3)));
    }

    #[tokio::test]
    async fn a_slow_listener_skips_rather_than_blocks() {
        let bus = InProcessEvents::new();
        let mut slow = bus.subscribe();
        let events: Vec<Event> = (0..(InProcessEvents::CAPACITY as i64 + 10))
            .map(followed)
            .collect();
        bus.publish(&events).await.unwrap();
        // The oldest events were dropped for this listener; it goes on with the rest.
        assert_eq!(slow.next().await, Some(followed(10)));
    }
}
