//! `User`: an account as the viewer may see it.

use std::marker::PhantomData;

use async_graphql::{Context, ID, Object};
use quire_core::ids::UserId;
use quire_core::model::{AccountStanding, FollowDirection, Profile, UserView};
use quire_core::paging::{self, UserCursor, UserPage};
use quire_core::ports::Store;
use quire_core::roles::Role;
use quire_core::{Error, Resource};

use super::PostNode;
use super::post::PageInfo;
use crate::context::ContextExt;
use crate::error::{OrGraphql, code, coded, graphql_error};
use crate::loaders::Loaders;

/// The account's standing, where the viewer may see it; `FORBIDDEN` elsewhere.
fn standing(view: &UserView) -> async_graphql::Result<AccountStanding> {
    view.account.ok_or_else(|| {
        coded(
            "only the user themself and admins may see an account's roles and activity",
            code::FORBIDDEN,
        )
    })
}

/// A user reached through a post or comment carries only their public profile; the rest
/// (email, roles) is batch-loaded when a query asks for it.
#[derive(Clone)]
enum Known {
    Whole(Box<UserView>),
    Profile(Profile),
}

pub struct UserNode<S> {
    known: Known,
    _store: PhantomData<fn() -> S>,
}

impl<S: Store> UserNode<S> {
    pub fn whole(view: UserView) -> Self {
        Self {
            known: Known::Whole(Box::new(view)),
            _store: PhantomData,
        }
    }

    pub fn profile(profile: Profile) -> Self {
        Self {
            known: Known::Profile(profile),
            _store: PhantomData,
        }
    }

    fn id(&self) -> UserId {
        match &self.known {
            Known::Whole(view) => view.user.id,
            Known::Profile(profile) => profile.id,
        }
    }

    async fn view(&self, ctx: &Context<'_>) -> async_graphql::Result<UserView> {
        match &self.known {
            Known::Whole(view) => Ok((**view).clone()),
            Known::Profile(profile) => ctx
                .data::<Loaders<S>>()?
                .users
                .load_one(profile.id)
                .await
                .or_graphql()?
                .ok_or_else(|| graphql_error(&Error::NotFound(Resource::User))),
        }
    }
}

/// How many of a list `first` asks for: the core's bounds, `BAD_USER_INPUT` outside them.
pub fn page_size(first: Option<i32>) -> async_graphql::Result<u32> {
    paging::page_size("first", first.map(i64::from)).or_graphql()
}

/// What a list of `first` items weighs in the complexity limit (checked before the argument
/// is, so it must not fail: out-of-range sizes weigh the most a page can hold).
pub fn cost(first: Option<i32>) -> usize {
    let size = first.map_or(paging::DEFAULT_PAGE_SIZE, |first| {
        u32::try_from(first).map_or(paging::MAX_PAGE_SIZE, |first| {
            first.min(paging::MAX_PAGE_SIZE)
        })
    });
    usize::try_from(size).unwrap_or(usize::MAX)
}

#[Object(name = "User")]
impl<S: Store> UserNode<S> {
    #[graphql(name = "id")]
    async fn graphql_id(&self) -> ID {
        ID(self.id().get().to_string())
    }

    async fn username(&self) -> String {
        match &self.known {
            Known::Whole(view) => view.user.username.as_str().to_owned(),
            Known::Profile(profile) => profile.username.as_str().to_owned(),
        }
    }

    /// Display name, distinct from the unique username.
    async fn name(&self) -> Option<String> {
        match &self.known {
            Known::Whole(view) => view.user.name.clone(),
            Known::Profile(profile) => profile.name.clone(),
        }
    }

    /// Visible to the user themself and to admins; anyone else gets null and a `FORBIDDEN`
    /// error at this field.
    async fn email(&self, ctx: &Context<'_>) -> Option<String> {
        let email = async {
            match self.view(ctx).await?.email {
                Some(email) => Ok(email.as_str().to_owned()),
                None => Err(coded(
                    "only the user themself and admins may see an email",
                    code::FORBIDDEN,
                )),
            }
        };
        ctx.nullable(email.await)
    }

    async fn bio(&self) -> Option<String> {
        match &self.known {
            Known::Whole(view) => view.user.bio.as_ref().map(|bio| bio.as_str().to_owned()),
            Known::Profile(profile) => profile.bio.as_ref().map(|bio| bio.as_str().to_owned()),
        }
    }

    async fn image(&self) -> Option<String> {
        match &self.known {
            Known::Whole(view) => view.user.image.as_ref().map(|url| url.as_str().to_owned()),
            Known::Profile(profile) => profile.image.as_ref().map(|url| url.as_str().to_owned()),
        }
    }

    /// Visible to the user themself and to admins; anyone else gets null and a `FORBIDDEN`
    /// error at this field.
    async fn is_active(&self, ctx: &Context<'_>) -> Option<bool> {
        let active = async { Ok(standing(&self.view(ctx).await?)?.active) };
        ctx.nullable(active.await)
    }

    /// Visible to the user themself and to admins; anyone else gets null and a `FORBIDDEN`
    /// error at this field.
    async fn roles(&self, ctx: &Context<'_>) -> Option<Vec<String>> {
        let roles = async {
            let standing = standing(&self.view(ctx).await?)?;
            Ok(standing
                .roles
                .iter()
                .map(|role: Role| role.as_str().to_owned())
                .collect())
        };
        ctx.nullable(roles.await)
    }

    async fn created_at(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(self.view(ctx).await?.user.created_at.to_rfc3339())
    }

    async fn updated_at(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(self.view(ctx).await?.user.updated_at.to_rfc3339())
    }

    /// Whether the viewer follows this user; false when anonymous.
    async fn followed_by_viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        if let Known::Profile(profile) = &self.known {
            return Ok(profile.following);
        }
        if ctx.viewer().is_none() {
            return Ok(false);
        }
        let loaded = ctx
            .data::<Loaders<S>>()?
            .follows
            .load_one(self.id())
            .await
            .or_graphql()?;
        Ok(loaded.unwrap_or(false))
    }

    /// Their newest published posts.
    #[graphql(complexity = "cost(first) * child_complexity")]
    async fn posts(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
    ) -> async_graphql::Result<Vec<PostNode<S>>> {
        let size = page_size(first)?;
        let posts = ctx
            .data::<Loaders<S>>()?
            .author_posts
            .load_one((self.id(), size))
            .await
            .or_graphql()?
            .unwrap_or_default();
        Ok(posts.into_iter().map(PostNode::new).collect())
    }

    /// Who follows them, by ascending id: a Relay connection.
    #[graphql(complexity = "cost(first) * child_complexity")]
    async fn followers(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<UserConnection<S>> {
        self.follows(ctx, FollowDirection::Followers, first, after)
            .await
    }

    /// Whom they follow, by ascending id: a Relay connection.
    #[graphql(complexity = "cost(first) * child_complexity")]
    async fn following(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<UserConnection<S>> {
        self.follows(ctx, FollowDirection::Following, first, after)
            .await
    }
}

impl<S: Store> UserNode<S> {
    async fn follows(
        &self,
        ctx: &Context<'_>,
        direction: FollowDirection,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<UserConnection<S>> {
        let after =
            paging::parse_after("after", after.as_deref(), UserCursor::parse).or_graphql()?;
        let size = page_size(first)?;
        let page = if after.is_none() {
            // First pages are batch-loaded: a list of users' followers is one statement.
            let followers = direction == FollowDirection::Followers;
            ctx.data::<Loaders<S>>()?
                .follow_lists
                .load_one((self.id(), followers, size))
                .await
                .or_graphql()?
                .unwrap_or_default()
        } else {
            ctx.quire::<S>()?
                .follows(self.id(), direction, after, size, ctx.viewer())
                .await
                .or_graphql()?
        };
        Ok(UserConnection {
            page,
            _store: PhantomData,
        })
    }
}

/// A page of users, as a Relay connection.
pub struct UserConnection<S> {
    page: UserPage,
    _store: PhantomData<fn() -> S>,
}

pub struct UserEdge<S> {
    node: UserNode<S>,
    cursor: String,
}

#[Object(name = "UserEdge")]
impl<S: Store> UserEdge<S> {
    /// Where the page after this user starts.
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    async fn node(&self) -> &UserNode<S> {
        &self.node
    }
}

#[Object(name = "UserConnection")]
impl<S: Store> UserConnection<S> {
    async fn edges(&self) -> Vec<UserEdge<S>> {
        self.page
            .users
            .iter()
            .map(|view| UserEdge {
                cursor: UserCursor(view.user.id).encode(),
                node: UserNode::whole(view.clone()),
            })
            .collect()
    }

    async fn nodes(&self) -> Vec<UserNode<S>> {
        self.page
            .users
            .iter()
            .cloned()
            .map(UserNode::whole)
            .collect()
    }

    async fn page_info(&self) -> PageInfo {
        let cursor = |view: &UserView| UserCursor(view.user.id).encode();
        PageInfo {
            has_next_page: self.page.next.is_some(),
            has_previous_page: false,
            start_cursor: self.page.users.first().map(cursor),
            end_cursor: self.page.users.last().map(cursor),
        }
    }
}
