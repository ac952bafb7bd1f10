//! Profiles and follows.

use super::Quire;
use crate::cache::Shown;
use crate::error::{Error, Resource, Result};
use crate::events::{DomainEvent, FollowData};
use crate::ids::UserId;
use crate::model::{FollowDirection, Profile};
use crate::paging::{UserCursor, UserPage};
use crate::policy::{self, Actor};
use crate::ports::Store;
use crate::values::Username;

impl<S: Store> Quire<S> {
    /// A user's public profile, with whether the viewer follows them.
    pub async fn profile(&self, username: &str, viewer: Option<&Actor>) -> Result<Profile> {
        self.profile_shown(username, viewer)
            .await
            .map(Shown::into_value)
    }

    /// [`Quire::profile`], with what a shared copy of it depends on.
    pub async fn profile_shown(
        &self,
        username: &str,
        viewer: Option<&Actor>,
    ) -> Result<Shown<Profile>> {
        let username = Username::parse(username).map_err(|_| Error::NotFound(Resource::User))?;
        self.viewed_profile(&username, viewer.map(|actor| actor.user_id))
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    /// Follows a user; following someone already followed is no change.
    #[tracing::instrument(skip_all)]
    pub async fn follow(&self, actor: &Actor, username: &str) -> Result<Profile> {
        let target = self.profile(username, Some(actor)).await?;
        self.follow_target(actor, target.id).await?;
        Ok(Profile {
            following: true,
            ..target
        })
    }

    /// Stops following a user; unfollowing someone not followed is no change.
    #[tracing::instrument(skip_all)]
    pub async fn unfollow(&self, actor: &Actor, username: &str) -> Result<Profile> {
        let target = self.profile(username, Some(actor)).await?;
        self.unfollow_target(actor, target.id).await?;
        Ok(Profile {
            following: false,
            ..target
        })
    }

    /// Follows the user with this id; following someone already followed is no change.
    pub async fn follow_user(&self, actor: &Actor, id: UserId) -> Result<()> {
        let target = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(Error::NotFound(Resource::User))?;
        self.follow_target(actor, target.id).await
    }

    /// Stops following the user with this id.
    pub async fn unfollow_user(&self, actor: &Actor, id: UserId) -> Result<()> {
        let target = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(Error::NotFound(Resource::User))?;
        self.unfollow_target(actor, target.id).await
    }

    /// The rules of following an existing user, whichever way the request named them.
    async fn follow_target(&self, actor: &Actor, target: UserId) -> Result<()> {
        if !policy::may_react(actor) {
            return Err(Error::Forbidden(Resource::User));
        }
        if target == actor.user_id {
            return Err(Error::invalid(
                "username",
                "can't be followed by themselves",
            ));
        }
        let now = self.adapters.clock.now();
        let events = [self.event(
            Some(actor.user_id),
            DomainEvent::Followed(FollowData {
                follower_id: actor.user_id.get(),
                followee_id: target.get(),
            }),
        )];
        self.store.follow(actor.user_id, target, now, &events).await
    }

    /// The rules of unfollowing an existing user.
    async fn unfollow_target(&self, actor: &Actor, target: UserId) -> Result<()> {
        if !policy::may_react(actor) {
            return Err(Error::Forbidden(Resource::User));
        }
        let events = [self.event(
            Some(actor.user_id),
            DomainEvent::Unfollowed(FollowData {
                follower_id: actor.user_id.get(),
                followee_id: target.get(),
            }),
        )];
        self.store.unfollow(actor.user_id, target, &events).await
    }

    /// A page of a user's followers or followees, by ascending id, as the viewer may see
    /// them; the last id is where the next page starts.
    pub async fn follows(
        &self,
        id: UserId,
        direction: FollowDirection,
        after: Option<UserCursor>,
        size: u32,
        viewer: Option<&Actor>,
    ) -> Result<UserPage> {
        self.store
            .user_by_id(id)
            .await?
            .ok_or(Error::NotFound(Resource::User))?;
        let after = after.map(|cursor| cursor.0);
        let users = self
            .store
            .follow_list(id, direction, after, size.saturating_add(1))
            .await?;
        let views = users
            .into_iter()
            .map(|user| self.view_of(user, viewer))
            .collect();
        Ok(UserPage::of(views, size))
    }
}
