//! Domain events: what happened, told once the change has committed, for whoever listens
//! (subscriptions, streams, sessions that must recheck their rights). Delivered by the
//! `EventBus` port: an in-process bus.

use crate::ids::{CommentId, PostId, UserId};
use crate::time::Timestamp;

/// Something that happened in the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainEvent {
    /// A post became visible to everyone: created published, or a draft published.
    PostPublished {
        post: PostId,
        author: UserId,
        at: Timestamp,
    },
    /// A user's roles or activation changed: what they may do is no longer what it was, so
    /// connections they hold open check their rights again.
    AccountChanged { user: UserId, at: Timestamp },
    /// A comment was added to a post.
    CommentAdded {
        comment: CommentId,
        post: PostId,
        author: UserId,
        at: Timestamp,
    },
}
