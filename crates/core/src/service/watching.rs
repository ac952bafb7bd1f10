//! What a listener hears of the domain events: the comments and posts it may see, as it sees
//! them now. Every contract's subscriptions and streams take these, so the rule is written
//! once: each event is authorized against the listener's current rights (the credential checked
//! again, the account read again), and the stream ends with `Error::Unauthenticated` as soon
//! as the credential lapses or the listener's roles change, whether or not anything is being
//! delivered.

use futures_util::{StreamExt, stream};

use super::{Caller, PostAddress, Quire};
use crate::error::Result;
use crate::events::{DomainEvent, Event};
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
        let heard = self.guarded(
            listener,
            events,
            move |event| match event.kind {
                DomainEvent::CommentAdded(added) if added.on_post() == post => {
                    Some(added.comment_id())
                }
                _ => None,
            },
            |quire, comment, now| async move { quire.comment(comment, now.actor()).await.ok() },
        );
        Ok(heard)
    }

    /// Posts published from now on (new, or drafts made public) that the listener may see.
    pub fn posts_published(&self, listener: Caller) -> Heard<Post> {
        let events = self.events();
        self.guarded(
            listener,
            events,
            |event| match event.kind {
                DomainEvent::PostPublished(post) => Some(post.post_id()),
                _ => None,
            },
            |quire, post, now| async move {
                quire.post(PostAddress::Id(post), now.actor()).await.ok()
            },
        )
    }

    /// What `hear` picks out of the events, loaded by `load` for the listener as they are at
    /// that moment, until the listener's credential lapses or their roles change (the stream
    /// then ends with that error). Events of no interest cost nothing; each that is heard costs
    /// a check of the listener and a load.
    fn guarded<K, T, H, L, Fut>(
        &self,
        listener: Caller,
        events: crate::ports::EventStream,
        hear: H,
        load: L,
    ) -> Heard<T>
    where
        K: Send + 'static,
        T: Send + 'static,
        H: Fn(Event) -> Option<K> + Send + 'static,
        L: Fn(Quire<S>, K, Caller) -> Fut + Send + Sync + Clone + 'static,
        Fut: std::future::Future<Output = Option<T>> + Send,
    {
        let lapse = self.lapse(&listener);
        let quire = self.clone();
        let heard = events
            .filter_map(move |event| std::future::ready(hear(event)))
            .filter_map(move |key| {
                let (quire, listener, load) = (quire.clone(), listener.clone(), load.clone());
                async move {
                    match quire.still(&listener).await {
                        Ok(now) => load(quire, key, now).await.map(Ok),
                        Err(error) => Some(Err(error)),
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
