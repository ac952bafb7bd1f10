//! The read side: `Query`.

use std::marker::PhantomData;

use async_graphql::{Context, ID, Object};
use quire_core::Resource;
use quire_core::ids::{PostId, UserId};
use quire_core::model::KeysetRequest;
use quire_core::paging::{self, Cursor};
use quire_core::ports::Store;
use quire_core::service::{PostAddress, PostListing, SearchRequest};

use crate::context::ContextExt;
use crate::error::OrGraphql;
use crate::types::{PostConnection, PostNode, SearchHitNode, UserNode, cost, page_size, parse_id};

pub struct QueryRoot<S>(PhantomData<fn() -> S>);

impl<S> Default for QueryRoot<S> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

/// The keyset page a connection argument pair asks for; a cursor the server did not make is
/// bad input.
fn keyset(
    ctx: &Context<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<KeysetRequest> {
    Ok(KeysetRequest {
        limit: page_size(first)?,
        after: paging::parse_after("after", after.as_deref(), Cursor::parse).or_graphql()?,
        // Counting costs a statement where no counter serves: only when asked for.
        count: ctx.look_ahead().field("totalCount").exists(),
    })
}

#[Object(name = "Query")]
impl<S: Store> QueryRoot<S> {
    /// Every webhook endpoint (admins only).
    async fn webhooks(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::webhooks::WebhookNode<S>>> {
        crate::webhooks::webhooks::<S>(ctx).await
    }

    /// A webhook endpoint by id (admins only).
    async fn webhook(&self, ctx: &Context<'_>, id: ID) -> Option<crate::webhooks::WebhookNode<S>> {
        let found = crate::webhooks::webhook::<S>(ctx, &id).await;
        ctx.nullable(found)
    }

    /// A webhook endpoint's current signing secret (admins only).
    async fn webhook_secret(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<String> {
        crate::webhooks::secret::<S>(ctx, &id).await
    }

    /// A user by id.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Option<UserNode<S>> {
        let user = async {
            let id = parse_id(&id, UserId::parse, Resource::User)?;
            let view = ctx
                .quire::<S>()?
                .user(id, ctx.viewer())
                .await
                .or_graphql()?;
            Ok(UserNode::whole(view))
        };
        ctx.nullable(user.await)
    }

    /// A user by username.
    async fn user_by_username(&self, ctx: &Context<'_>, username: String) -> Option<UserNode<S>> {
        let user = async {
            let quire = ctx.quire::<S>()?;
            let profile = quire.profile(&username, ctx.viewer()).await.or_graphql()?;
            Ok(UserNode::profile(profile))
        };
        ctx.nullable(user.await)
    }

    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<UserNode<S>> {
        let actor = ctx.actor()?;
        let quire = ctx.quire::<S>()?;
        let user = quire.me(actor).await.or_graphql()?;
        Ok(UserNode::whole(quire.view_of(user, Some(actor))))
    }

    /// A post by id, if the viewer may see it.
    async fn post(&self, ctx: &Context<'_>, id: ID) -> Option<PostNode<S>> {
        let post = async {
            let id = parse_id(&id, PostId::parse, Resource::Post)?;
            let post = ctx
                .quire::<S>()?
                .post(PostAddress::Id(id), ctx.viewer())
                .await
                .or_graphql()?;
            Ok(PostNode::new(post))
        };
        ctx.nullable(post.await)
    }

    /// A post by slug, if the viewer may see it.
    async fn post_by_slug(&self, ctx: &Context<'_>, slug: String) -> Option<PostNode<S>> {
        let post = async {
            let post = ctx
                .quire::<S>()?
                .post(PostAddress::Slug(&slug), ctx.viewer())
                .await
                .or_graphql()?;
            Ok(PostNode::new(post))
        };
        ctx.nullable(post.await)
    }

    /// Published posts, newest first (or, with `drafts`, the viewer's drafts; editors see
    /// everyone's). Filters combine.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "cost(first) * child_complexity")]
    async fn posts(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
        tag: Option<String>,
        author: Option<String>,
        favorited_by: Option<String>,
        language: Option<String>,
        #[graphql(default = false)] drafts: bool,
    ) -> async_graphql::Result<PostConnection<S>> {
        let page = keyset(ctx, first, after)?;
        let listing = PostListing {
            tag: tag.as_deref(),
            author: author.as_deref(),
            favorited_by: favorited_by.as_deref(),
            language: language.as_deref(),
            drafts,
        };
        let found = ctx
            .quire::<S>()?
            .page_posts(listing, page, ctx.viewer())
            .await
            .or_graphql()?;
        Ok(PostConnection::new(found))
    }

    /// Published posts by the authors the viewer follows, newest first.
    #[graphql(complexity = "cost(first) * child_complexity")]
    async fn feed(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<PostConnection<S>> {
        let actor = ctx.actor()?;
        let page = keyset(ctx, first, after)?;
        let found = ctx
            .quire::<S>()?
            .page_feed(actor, page)
            .await
            .or_graphql()?;
        Ok(PostConnection::new(found))
    }

    /// Published posts holding every word of `q`, best first: BM25 over title, description
    /// and body, titles weighing most. `q` is plain text (no query syntax), at most 1000
    /// characters and 32 distinct words; Chinese, Japanese and Korean are matched by character
    /// bigrams. `first` is 1 to 50, `offset` at most 1000.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "cost(first) * child_complexity")]
    async fn search(
        &self,
        ctx: &Context<'_>,
        q: String,
        lang: Option<String>,
        tag: Option<String>,
        author: Option<String>,
        #[graphql(default = 20)] first: Option<i32>,
        #[graphql(default = 0)] offset: Option<i32>,
    ) -> async_graphql::Result<Vec<SearchHitNode<S>>> {
        let count = |name: &'static str, value: Option<i32>| {
            value
                .map(|value| {
                    u32::try_from(value).map_err(|_| {
                        crate::error::graphql_error(&quire_core::Error::malformed(
                            name,
                            "must not be negative",
                        ))
                    })
                })
                .transpose()
        };
        let request = SearchRequest {
            q: &q,
            language: lang.as_deref(),
            tag: tag.as_deref(),
            author: author.as_deref(),
            limit: count("first", first)?,
            offset: count("offset", offset)?,
        };
        let hits = ctx
            .quire::<S>()?
            .search(&request, ctx.viewer())
            .await
            .or_graphql()?;
        Ok(hits.into_iter().map(SearchHitNode::new).collect())
    }

    /// Tags in use, most used first.
    async fn tags(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<String>> {
        let tags = ctx.quire::<S>()?.tags().await.or_graphql()?;
        Ok(tags.iter().map(|tag| tag.as_str().to_owned()).collect())
    }
}
