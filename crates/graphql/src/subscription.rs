//! `Subscription`: domain events after commit, whichever contract caused them, as the
//! subscriber is allowed to see them.

use std::marker::PhantomData;

use async_graphql::{Context, ID, Subscription};
use futures_util::{Stream, StreamExt};
use quire_core::Resource;
use quire_core::events::DomainEvent;
use quire_core::ids::PostId;
use quire_core::ports::Store;
use quire_core::service::PostAddress;

use crate::context::ContextExt;
use crate::error::OrGraphql;
use crate::types::{CommentNode, PostNode, parse_id};

pub struct SubscriptionRoot<S>(PhantomData<fn() -> S>);

impl<S> Default for SubscriptionRoot<S> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

#[Subscription(name = "Subscription")]
impl<S: Store> SubscriptionRoot<S> {
    /// Comments added to a post from now on. The post must be one the subscriber may see.
    async fn comment_added(
        &self,
        ctx: &Context<'_>,
        post_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = CommentNode<S>> + use<S>> {
        let quire = ctx.quire::<S>()?.clone();
        let viewer = ctx.viewer().copied();
        let post = parse_id(&post_id, PostId::parse, Resource::Post)?;
        // Subscribe before checking, so nothing added in between is missed.
        let events = quire.events();
        quire
            .post(PostAddress::Id(post), viewer.as_ref())
            .await
            .or_graphql()?;
        Ok(events.filter_map(move |event| {
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
                // A comment deleted since, or on a post hidden since, is skipped.
                let comment = quire.comment(comment, viewer.as_ref()).await.ok()?;
                Some(CommentNode::new(comment))
            }
        }))
    }

    /// Posts published from now on (new, or drafts made public).
    async fn post_published(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = PostNode<S>> + use<S>> {
        let quire = ctx.quire::<S>()?.clone();
        let viewer = ctx.viewer().copied();
        Ok(quire.events().filter_map(move |event| {
            let quire = quire.clone();
            async move {
                let DomainEvent::PostPublished { post, .. } = event else {
                    return None;
                };
                let post = quire
                    .post(PostAddress::Id(post), viewer.as_ref())
                    .await
                    .ok()?;
                Some(PostNode::new(post))
            }
        }))
    }
}
