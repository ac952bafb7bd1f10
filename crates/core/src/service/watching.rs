//! What a listener hears of the domain events: the comments and posts it may see, as it sees
//! them now. Every contract's subscriptions and streams take these, so the rule is written
//! once: each event is authorized against the listener's current rights (the credential checked
//! again, the account read again), and the stream ends with [`Error::Unauthenticated`] as
//! soon as the credential lapses, whether or not anything is being delivered.

use futures_util::{StreamExt, stream};

use super::{Caller, PostAddress, Quire};
use crate::error::{Error, Result};
use crate::events::DomainEvent;
use crate::ids::PostId;
use crate::model::{Comment, Post};
use crate::ports::Store;

/// A stream of what a listener hears: items, then at most one error, after which it ends.
pub type Heard<T> = std::pin::Pin<Box<dyn futures_core::Stream<Item = Result<T>> + Send>>;

impl<S: Store> Quire<S> {
    /// Comments added to a post from now on, for a listener who may see the post (else not
    /// found). A comment deleted, or a post hidden, since the event is skipped.
    pub async fn comments_added(&self, post: PostId, listener: Caller) -> Result<Heard<Comment>> {
        // Subscribe before checking, so nothing added in between is missed.
        let events = self.events();
        self.post(PostAddress::Id(post), listener.actor()).await?;
        Ok(
            self.guarded(listener, events, move |quire, event, now| async move {
                let DomainEvent::CommentAdded {
                    comment, post: on, ..
                } = event
                else {
                    return None;
                };
                if on != post {
                    return None;
                }
                quire.comment(comment, now.actor()).await.ok()
            }),
        )
    }

    /// Posts published from now on (new, or drafts made public) that the listener may see.
    pub fn posts_published(&self, listener: Caller) -> Heard<Post> {
        let events = self.events();
        self.guarded(listener, events, |quire, event, now| async move {
            let DomainEvent::PostPublished { post, .. } = event else {
                return None;
            };
            quire.post(PostAddress::Id(post), now.actor()).await.ok()
        })
    }

    /// The events `hear` turns into items, each for the listener as they are at that moment,
    /// until the listener's credential lapses.
    fn guarded<T, F, Fut>(
        &self,
        listener: Caller,
        events: crate::ports::EventStream,
        hear: F,
    ) -> Heard<T>
    where
        T: Send + 'static,
        F: Fn(Quire<S>, DomainEvent, Caller) -> Fut + Send + Sync + Clone + 'static,
        Fut: std::future::Future<Output = Option<T>> + Send,
    {
        let lapse = self.lapse(&listener);
        let quire = self.clone();
        let heard = events.filter_map(move |event| {
            let (quire, listener, hear) = (quire.clone(), listener.clone(), hear.clone());
            async move {
                match quire.recheck(&listener).await {
                    Ok(now) => hear(quire, event, now).await.map(Ok),
                    Err(error @ Error::Unauthenticated(_)) => Some(Err(error)),
                    // Our outage is no reason to drop the listener: this event is skipped.
                    Err(_) => None,
                }
            }
        });
        let lapsed = stream::once(lapse).map(Err);
        let merged = stream::select(heard, lapsed);
        Box::pin(merged.scan(false, |ended, item| {
            let next = (!*ended).then(|| {
                *ended = item.is_err();
                item
            });
            std::future::ready(next)
        }))
    }
}
