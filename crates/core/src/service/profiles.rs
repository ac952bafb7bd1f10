//! Profiles and follows.

use super::Quire;
use crate::error::{Error, Resource, Result};
use crate::model::Profile;
use crate::policy::{self, Actor};
use crate::ports::Store;
use crate::values::Username;

impl<S: Store> Quire<S> {
    /// A user's public profile, with whether the viewer follows them.
    pub async fn profile(&self, username: &str, viewer: Option<&Actor>) -> Result<Profile> {
        let username = Username::parse(username).map_err(|_| Error::NotFound(Resource::User))?;
        self.store
            .profile(&username, viewer.map(|actor| actor.user_id))
            .await?
            .ok_or(Error::NotFound(Resource::User))
    }

    /// Follows a user; following someone already followed is no change.
    #[tracing::instrument(skip_all)]
    pub async fn follow(&self, actor: &Actor, username: &str) -> Result<Profile> {
        let target = self.profile(username, Some(actor)).await?;
        if !policy::may_react(actor) {
            return Err(Error::Forbidden(Resource::User));
        }
        if target.id == actor.user_id {
            return Err(Error::invalid(
                "username",
                "can't be followed by themselves",
            ));
        }
        let now = self.adapters.clock.now();
        self.store.follow(actor.user_id, target.id, now).await?;
        Ok(Profile {
            following: true,
            ..target
        })
    }

    /// Stops following a user; unfollowing someone not followed is no change.
    #[tracing::instrument(skip_all)]
    pub async fn unfollow(&self, actor: &Actor, username: &str) -> Result<Profile> {
        let target = self.profile(username, Some(actor)).await?;
        self.store.unfollow(actor.user_id, target.id).await?;
        Ok(Profile {
            following: false,
            ..target
        })
    }
}
