//! Reading users, and the account changes only admins make.

use super::{Patch, Quire, UserUpdate};
use crate::error::{Error, FieldErrors, Resource, Result};
use crate::ids::UserId;
use crate::model::{AccountChanges, User, UserView};
use crate::policy::{self, Actor};
use crate::ports::Store;
use crate::roles::{Role, Roles};
use crate::time::Timestamp;

impl<S: Store> Quire<S> {
    /// Shows `user` to `viewer`, with the email only where the policy allows.
    pub fn view_of(&self, user: User, viewer: Option<&Actor>) -> UserView {
        let email = policy::may_see_email(viewer, user.id).then(|| user.email.clone());
        UserView { user, email }
    }

    /// A user by id, as the viewer may see them.
    pub async fn user(&self, id: UserId, viewer: Option<&Actor>) -> Result<UserView> {
        let user = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(Error::NotFound(Resource::User))?;
        Ok(self.view_of(user, viewer))
    }

    /// A page of users by ascending id, as the viewer may see them.
    pub async fn users(
        &self,
        after: Option<UserId>,
        limit: u32,
        viewer: Option<&Actor>,
    ) -> Result<Vec<UserView>> {
        let users = self.store.list_users(after, limit).await?;
        Ok(users
            .into_iter()
            .map(|user| self.view_of(user, viewer))
            .collect())
    }

    /// Changes user `id` as one request: its profile (only its owner may) and its roles and
    /// activation (only admins may). Every refusal comes before anything is written. With
    /// `profile.based_on`, each write requires the version the previous step left, so a
    /// change by someone else in between is [`Error::Stale`], not an overwrite.
    pub async fn change_user(
        &self,
        actor: &Actor,
        id: UserId,
        profile: UserUpdate,
        roles: Option<Vec<String>>,
        active: Option<bool>,
    ) -> Result<UserView> {
        let changes_profile = [
            &profile.username,
            &profile.email,
            &profile.password,
            &profile.bio,
            &profile.image,
        ]
        .iter()
        .any(|field| **field != Patch::Absent);
        if changes_profile && !policy::may_change_profile(actor, id) {
            return Err(Error::Forbidden(Resource::User));
        }
        let mut view = self.user(id, Some(actor)).await?;
        let guarded = profile.based_on.is_some();
        if roles.is_some() || active.is_some() {
            let based_on = profile.based_on;
            view = self
                .change_account(actor, id, roles, active, based_on)
                .await?;
        }
        if changes_profile {
            let based_on = guarded.then_some(view.user.updated_at);
            let user = self
                .update_me(
                    actor,
                    UserUpdate {
                        based_on,
                        ..profile
                    },
                )
                .await?;
            view = self.view_of(user, Some(actor));
        }
        Ok(view)
    }

    /// Sets a user's roles and whether they are active. Admins only; an admin cannot take
    /// away their own admin role or deactivate themselves, so a site always keeps one.
    #[tracing::instrument(skip_all)]
    pub async fn change_account(
        &self,
        actor: &Actor,
        id: UserId,
        roles: Option<Vec<String>>,
        active: Option<bool>,
        based_on: Option<Timestamp>,
    ) -> Result<UserView> {
        let target = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(Error::NotFound(Resource::User))?;
        if !policy::may_manage_users(actor) {
            return Err(Error::Forbidden(Resource::User));
        }
        let mut errors = FieldErrors::new();
        let roles = match roles {
            None => None,
            Some(names) => {
                let parsed: Result<Vec<Role>, _> =
                    names.iter().map(|name| Role::parse(name)).collect();
                errors.check("roles", parsed).map(|roles| Roles::of(&roles))
            }
        };
        let own = target.id == actor.user_id;
        if own && roles.is_some_and(|roles| !roles.contains(Role::Admin)) {
            errors.add("roles", "cannot remove your own admin role");
        }
        if own && active == Some(false) {
            errors.add("isActive", "cannot deactivate yourself");
        }
        errors.into_result()?;
        let changes = AccountChanges {
            roles,
            active,
            expected_updated_at: based_on,
        };
        let at = self.adapters.clock.now().after(target.updated_at);
        let user = self.store.update_account(id, &changes, at).await?;
        Ok(self.view_of(user, Some(actor)))
    }
}
