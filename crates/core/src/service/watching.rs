//! What a listener hears of the domain events: the comments and posts it may see, as it sees
//! them. Every contract's subscriptions and streams take these, so the rule is written once.

use futures_util::StreamExt;

use super::{PostAddress, Quire};
use crate::error::Result;
use crate::events::DomainEvent;
use crate::ids::PostId;
use crate::model::{Comment, Post};
use crate::policy::Actor;
use crate::ports::Store;

/// A stream of what a listener hears.
pub type Heard<T> = std::pin::Pin<Box<dyn futures_core::Stream<Item = T> + Send>>;

impl<S: Store> Quire<S> {
    /// Comments added to a post from now on, for a viewer who may see the post (else not
    /// found). A comment deleted, or a post hidden, since the event is skipped.
    pub async fn comments_added(
        &self,
        post: PostId,
        viewer: Option<Actor>,
    ) -> Result<Heard<Comment>> {
        // Subscribe before checking, so nothing added in between is missed.
        let events = self.events();
        self.post(PostAddress::Id(post), viewer.as_ref()).await?;
        let quire = self.clone();
        Ok(Box::pin(events.filter_map(move |event| {
            let quire = quire.clone();
            async move {
                let DomainEvent::CommentAdded {
                    comment, post: on, ..
                } = event
                else {
                    return None;
                };
                if on != post {
                    return None;
                }
                quire.comment(comment, viewer.as_ref()).await.ok()
            }
        })))
    }

    /// Posts published from now on (new, or drafts made public) that the viewer may see.
    pub fn posts_published(&self, viewer: Option<Actor>) -> Heard<Post> {
        let quire = self.clone();
        Box::pin(self.events().filter_map(move |event| {
            let quire = quire.clone();
            async move {
                let DomainEvent::PostPublished { post, .. } = event else {
                    return None;
                };
                quire
                    .post(PostAddress::Id(post), viewer.as_ref())
                    .await
                    .ok()
            }
        }))
    }
}
