//! `Subscription`: domain events after commit, whichever contract caused them, as the
//! subscriber is allowed to see them.

use std::marker::PhantomData;

use async_graphql::{Context, ID, Subscription};
use futures_util::{Stream, StreamExt};
use quire_core::Resource;
use quire_core::ids::PostId;
use quire_core::ports::Store;
use quire_core::service::Caller;

use crate::context::ContextExt;
use crate::error::OrGraphql;
use crate::types::{CommentNode, PostNode, parse_id};

/// The subscriber, as the connection's latest check found them (see `socket`).
fn listener(ctx: &Context<'_>) -> Caller {
    ctx.data_opt::<Caller>().cloned().unwrap_or_default()
}

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
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<CommentNode<S>>> + use<S>>
    {
        let post = parse_id(&post_id, PostId::parse, Resource::Post)?;
        let heard = ctx
            .quire::<S>()?
            .comments_added(post, listener(ctx))
            .await
            .or_graphql()?;
        Ok(heard.map(|heard| heard.map(CommentNode::new).or_graphql()))
    }

    /// Posts published from now on (new, or drafts made public).
    async fn post_published(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<PostNode<S>>> + use<S>>
    {
        let heard = ctx.quire::<S>()?.posts_published(listener(ctx));
        Ok(heard.map(|heard| heard.map(PostNode::new).or_graphql()))
    }
}
