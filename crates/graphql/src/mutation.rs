//! The write side: `Mutation`, one field per thing a user can do over REST.

use std::marker::PhantomData;

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use quire_core::Resource;
use quire_core::ids::{CommentId, PostId, UserId};
use quire_core::ports::Store;
use quire_core::service::{
    PasswordRule, Patch, PostAddress, PostDraft, PostUpdate, Registration, SessionKind, UserUpdate,
};

use crate::context::ContextExt;
use crate::error::OrGraphql;
use crate::types::{CommentNode, PostNode, PostStatusValue, UserNode, parse_id};

pub struct MutationRoot<S>(PhantomData<fn() -> S>);

impl<S> Default for MutationRoot<S> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

/// A GraphQL input field that tells absent from null, as the core's [`Patch`].
pub(crate) fn patch<T>(value: MaybeUndefined<T>) -> Patch<T> {
    match value {
        MaybeUndefined::Undefined => Patch::Absent,
        MaybeUndefined::Null => Patch::Null,
        MaybeUndefined::Value(value) => Patch::Value(value),
    }
}

#[derive(InputObject)]
pub struct RegisterInput {
    pub username: String,
    pub email: String,
    pub password: String,
}

/// Changes to one's own account: an absent field stays; null removes a bio or image.
#[derive(InputObject, Default)]
pub struct UpdateMeInput {
    pub username: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub password: MaybeUndefined<String>,
    pub bio: MaybeUndefined<String>,
    pub image: MaybeUndefined<String>,
}

#[derive(InputObject)]
pub struct CreatePostInput {
    pub title: String,
    pub description: String,
    /// Markdown.
    pub content: String,
    #[graphql(default)]
    pub tags: Vec<String>,
    /// Published unless told otherwise.
    pub status: Option<PostStatusValue>,
    pub language: Option<String>,
    pub category: Option<String>,
    /// An RFC 3339 time in the future: the post stays a draft, seen only by its author and
    /// editors, until then, and is published then.
    pub publish_at: Option<String>,
}

/// Changes to a post: an absent field stays; `tags` replaces the set; null removes a
/// language or category.
#[derive(InputObject, Default)]
pub struct UpdatePostInput {
    pub title: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub content: MaybeUndefined<String>,
    pub tags: MaybeUndefined<Vec<String>>,
    pub status: MaybeUndefined<PostStatusValue>,
    pub language: MaybeUndefined<String>,
    pub category: MaybeUndefined<String>,
    /// An RFC 3339 time in the future schedules the draft; null unschedules it.
    pub publish_at: MaybeUndefined<String>,
}

/// A signed-in user, the bearer token that identifies them, when it expires, and the
/// refresh token that gets the next one.
pub struct AuthPayload<S> {
    token: String,
    expires_at: String,
    refresh_token: String,
    user: UserNode<S>,
}

impl<S: Store> AuthPayload<S> {
    fn of(quire: &quire_core::service::Quire<S>, session: quire_core::service::Session) -> Self {
        let view = quire.view_of(session.user, Some(&session.actor));
        Self {
            token: session.token,
            expires_at: session.expires_at.to_rfc3339(),
            refresh_token: session.refresh_token.unwrap_or_default(),
            user: UserNode::whole(view),
        }
    }
}

#[Object(name = "AuthPayload")]
impl<S: Store> AuthPayload<S> {
    async fn token(&self) -> &str {
        &self.token
    }

    /// When `token` stops working (RFC 3339).
    async fn expires_at(&self) -> &str {
        &self.expires_at
    }

    /// Use once, with `refreshSession`: presenting it again ends the session.
    async fn refresh_token(&self) -> &str {
        &self.refresh_token
    }

    async fn user(&self) -> &UserNode<S> {
        &self.user
    }
}

#[Object(name = "Mutation")]
impl<S: Store> MutationRoot<S> {
    /// Registers a webhook endpoint (admins only); answers it with its signing secret.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: crate::webhooks::CreateWebhookInput,
    ) -> async_graphql::Result<crate::webhooks::CreatedWebhook<S>> {
        crate::webhooks::create::<S>(ctx, input).await
    }

    /// Changes a webhook endpoint (admins only).
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: crate::webhooks::UpdateWebhookInput,
    ) -> async_graphql::Result<crate::webhooks::WebhookNode<S>> {
        crate::webhooks::update::<S>(ctx, &id, input).await
    }

    /// Removes a webhook endpoint with its deliveries and log (admins only); answers its id.
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        crate::webhooks::delete::<S>(ctx, &id).await
    }

    /// Gives a webhook endpoint a new signing secret (`secret`, or a generated one); for a day
    /// deliveries carry signatures by the old and the new (admins only).
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
        secret: Option<String>,
    ) -> async_graphql::Result<String> {
        crate::webhooks::rotate::<S>(ctx, &id, secret).await
    }

    /// Sends a delivery again now, with a fresh retry schedule (admins only).
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        delivery_id: ID,
    ) -> async_graphql::Result<crate::webhooks::WebhookDelivery> {
        crate::webhooks::redeliver::<S>(ctx, &id, &delivery_id).await
    }

    /// Creates an account and signs it in.
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> async_graphql::Result<AuthPayload<S>> {
        let quire = ctx.quire::<S>()?;
        let session = quire
            .register(
                Registration {
                    username: Some(input.username),
                    email: Some(input.email),
                    password: Some(input.password),
                    password_rule: PasswordRule::Standard,
                },
                SessionKind::Refreshable,
            )
            .await
            .or_graphql()?;
        Ok(AuthPayload::of(quire, session))
    }

    /// Signs in with email and password.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload<S>> {
        let quire = ctx.quire::<S>()?;
        let session = quire
            .login(Some(&email), Some(&password), SessionKind::Refreshable)
            .await
            .or_graphql()?;
        Ok(AuthPayload::of(quire, session))
    }

    /// Trades a refresh token for a new access token and the next refresh token; the one
    /// given is used up (presenting it again ends the session).
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<AuthPayload<S>> {
        let quire = ctx.quire::<S>()?;
        let session = quire.refresh(&refresh_token).await.or_graphql()?;
        Ok(AuthPayload::of(quire, session))
    }

    /// Signs out: this session's tokens stop working at once. Answers true.
    async fn log_out(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let actor = *ctx.actor()?;
        ctx.quire::<S>()?.sign_out(&actor).await.or_graphql()?;
        Ok(true)
    }

    /// Signs out everywhere: every session of the caller's ends. Answers how many.
    async fn log_out_everywhere(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let actor = *ctx.actor()?;
        let ended = ctx
            .quire::<S>()?
            .sign_out_everywhere(&actor)
            .await
            .or_graphql()?;
        Ok(i32::try_from(ended).unwrap_or(i32::MAX))
    }

    /// Changes the signed-in user's own account.
    async fn update_me(
        &self,
        ctx: &Context<'_>,
        input: UpdateMeInput,
    ) -> async_graphql::Result<UserNode<S>> {
        let actor = ctx.actor()?;
        let quire = ctx.quire::<S>()?;
        let user = quire
            .update_me(
                actor,
                UserUpdate {
                    username: patch(input.username),
                    email: patch(input.email),
                    password: patch(input.password),
                    bio: patch(input.bio),
                    image: patch(input.image),
                    based_on: None,
                    password_rule: PasswordRule::Standard,
                },
            )
            .await
            .or_graphql()?;
        Ok(UserNode::whole(quire.view_of(user, Some(actor))))
    }

    async fn create_post(
        &self,
        ctx: &Context<'_>,
        input: CreatePostInput,
    ) -> async_graphql::Result<PostNode<S>> {
        let actor = ctx.actor()?;
        let post = ctx
            .quire::<S>()?
            .create_post(
                actor,
                PostDraft {
                    title: Some(input.title),
                    description: Some(input.description),
                    body: Some(input.content),
                    tags: Some(input.tags),
                    status: input.status.map(|status| status.as_str().to_owned()),
                    language: input.language,
                    category: input.category,
                    publish_at: input.publish_at,
                },
            )
            .await
            .or_graphql()?;
        Ok(PostNode::new(post))
    }

    /// Changes a post: its author, or an editor.
    async fn update_post(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePostInput,
    ) -> async_graphql::Result<PostNode<S>> {
        let actor = ctx.actor()?;
        let id = parse_id(&id, PostId::parse, Resource::Post)?;
        let update = PostUpdate {
            title: patch(input.title),
            description: patch(input.description),
            body: patch(input.content),
            tags: patch(input.tags),
            status: patch(input.status.map_value(|status| status.as_str().to_owned())),
            language: patch(input.language),
            category: patch(input.category),
            publish_at: patch(input.publish_at),
            based_on: None,
        };
        let post = ctx
            .quire::<S>()?
            .update_post(actor, PostAddress::Id(id), update)
            .await
            .or_graphql()?;
        Ok(PostNode::new(post))
    }

    /// Deletes a post with its comments; answers its id.
    async fn delete_post(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let actor = ctx.actor()?;
        let post = parse_id(&id, PostId::parse, Resource::Post)?;
        ctx.quire::<S>()?
            .delete_post(actor, PostAddress::Id(post), None)
            .await
            .or_graphql()?;
        Ok(id)
    }

    async fn add_comment(
        &self,
        ctx: &Context<'_>,
        post_id: ID,
        body: String,
    ) -> async_graphql::Result<CommentNode<S>> {
        let actor = ctx.actor()?;
        let post = parse_id(&post_id, PostId::parse, Resource::Post)?;
        let comment = ctx
            .quire::<S>()?
            .add_comment(actor, PostAddress::Id(post), Some(&body))
            .await
            .or_graphql()?;
        Ok(CommentNode::new(comment))
    }

    /// Deletes a comment: its author, or a moderator; answers its id.
    async fn delete_comment(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let actor = ctx.actor()?;
        let comment = parse_id(&id, CommentId::parse, Resource::Comment)?;
        ctx.quire::<S>()?
            .delete_comment_by_id(actor, comment)
            .await
            .or_graphql()?;
        Ok(id)
    }

    async fn favorite_post(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<PostNode<S>> {
        let actor = ctx.actor()?;
        let id = parse_id(&id, PostId::parse, Resource::Post)?;
        let post = ctx
            .quire::<S>()?
            .favorite(actor, PostAddress::Id(id))
            .await
            .or_graphql()?;
        Ok(PostNode::new(post))
    }

    async fn unfavorite_post(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<PostNode<S>> {
        let actor = ctx.actor()?;
        let id = parse_id(&id, PostId::parse, Resource::Post)?;
        let post = ctx
            .quire::<S>()?
            .unfavorite(actor, PostAddress::Id(id))
            .await
            .or_graphql()?;
        Ok(PostNode::new(post))
    }

    async fn follow_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<UserNode<S>> {
        let actor = ctx.actor()?;
        let id = parse_id(&id, UserId::parse, Resource::User)?;
        let quire = ctx.quire::<S>()?;
        quire.follow_user(actor, id).await.or_graphql()?;
        let view = quire.user(id, Some(actor)).await.or_graphql()?;
        Ok(UserNode::whole(view))
    }

    async fn unfollow_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<UserNode<S>> {
        let actor = ctx.actor()?;
        let id = parse_id(&id, UserId::parse, Resource::User)?;
        let quire = ctx.quire::<S>()?;
        quire.unfollow_user(actor, id).await.or_graphql()?;
        let view = quire.user(id, Some(actor)).await.or_graphql()?;
        Ok(UserNode::whole(view))
    }

    /// Replaces a user's roles (`reader`, `commenter`, `author`, `editor`, `admin`). Admins
    /// only; an admin cannot drop their own admin role.
    async fn set_user_roles(
        &self,
        ctx: &Context<'_>,
        id: ID,
        roles: Vec<String>,
    ) -> async_graphql::Result<UserNode<S>> {
        let actor = ctx.actor()?;
        let id = parse_id(&id, UserId::parse, Resource::User)?;
        let view = ctx
            .quire::<S>()?
            .change_account(actor, id, Some(roles), None, None)
            .await
            .or_graphql()?;
        Ok(UserNode::whole(view))
    }

    /// Activates or deactivates a user; a deactivated user's tokens stop working. Admins
    /// only, and not on themselves.
    async fn set_user_active(
        &self,
        ctx: &Context<'_>,
        id: ID,
        active: bool,
    ) -> async_graphql::Result<UserNode<S>> {
        let actor = ctx.actor()?;
        let id = parse_id(&id, UserId::parse, Resource::User)?;
        let view = ctx
            .quire::<S>()?
            .change_account(actor, id, None, Some(active), None)
            .await
            .or_graphql()?;
        Ok(UserNode::whole(view))
    }
}
