//! Reading users, and the account changes only admins make.

use super::{Patch, Quire, UserUpdate};
use crate::audit::AuditAction;
use crate::error::{Error, FieldErrors, Resource, Result};
use crate::events::{DomainEvent, UserData};
use crate::ids::UserId;
use crate::model::{AccountStanding, User, UserView};
use crate::paging::{UserCursor, UserPage};
use crate::policy::{self, Actor};
use crate::ports::Store;
use crate::roles::{Role, Roles};
use crate::time::Timestamp;

impl<S: Store> Quire<S> {
    /// Shows `user` to `viewer`, with the email only where the policy allows.
    pub fn view_of(&self, user: User, viewer: Option<&Actor>) -> UserView {
        let email = policy::may_see_email(viewer, user.id).then(|| user.email.clone());
        let account = policy::may_see_account(viewer, user.id).then(|| AccountStanding::of(&user));
        UserView {
            user,
            email,
            account,
        }
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

    /// The user a registration created, as its registrant saw them (with the email the
    /// registrant sent): the answer to a retried registration whose first answer was lost.
    pub async fn registered(&self, id: UserId) -> Result<UserView> {
        let user = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(Error::NotFound(Resource::User))?;
        let email = Some(user.email.clone());
        let account = Some(AccountStanding::of(&user));
        Ok(UserView {
            user,
            email,
            account,
        })
    }

    /// A page of `size` users by ascending id after `after`, as the viewer may see them.
    pub async fn users(
        &self,
        after: Option<UserCursor>,
        size: u32,
        viewer: Option<&Actor>,
    ) -> Result<UserPage> {
        let after = after.map(|cursor| cursor.0);
        let users = self.store.list_users(after, size.saturating_add(1)).await?;
        let views = users
            .into_iter()
            .map(|user| self.view_of(user, viewer))
            .collect();
        Ok(UserPage::of(views, size))
    }

    /// User `id` as `actor` sees them, provided `actor` may change something of the account:
    /// not found, then forbidden, as [`Quire::change_user`] decides them. For contracts that
    /// must refuse before reading a body, and need the current version to check `If-Match`.
    pub async fn user_to_change(&self, actor: &Actor, id: UserId) -> Result<UserView> {
        let view = self.user(id, Some(actor)).await?;
        if policy::may_change_user(actor, id) {
            Ok(view)
        } else {
            Err(Error::Forbidden(Resource::User))
        }
    }

    /// Changes user `id` as one request: its profile (only its owner may) and its roles and
    /// activation (only admins may; an admin cannot take away their own admin role or
    /// deactivate themselves, so a site always keeps one). Checked in the contracts' order:
    /// 404, then 403, then every field (422), all before anything is written; then one write,
    /// so an error answered means nothing changed. With `profile.based_on`, the write requires
    /// that version ([`Error::Stale`] otherwise).
    #[tracing::instrument(skip_all)]
    pub async fn change_user(
        &self,
        actor: &Actor,
        id: UserId,
        profile: UserUpdate,
        roles: Patch<Vec<String>>,
        active: Patch<bool>,
    ) -> Result<UserView> {
        let target = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(Error::NotFound(Resource::User))?;
        let changes_profile = !profile.is_empty();
        let changes_account = roles != Patch::Absent || active != Patch::Absent;
        let may_profile = policy::may_change_profile(actor, id);
        let may_account = policy::may_manage_users(actor);
        let allowed = match (changes_profile, changes_account) {
            (false, false) => policy::may_change_user(actor, id),
            (profile, account) => (!profile || may_profile) && (!account || may_account),
        };
        if !allowed {
            return Err(Error::Forbidden(Resource::User));
        }
        if !changes_profile && !changes_account {
            return Err(Error::invalid(
                "user",
                "must include at least one field to change",
            ));
        }
        let mut errors = FieldErrors::new();
        let password_rule = profile.password_rule;
        let (mut changes, password) = profile.parse(&mut errors);
        if let Some(password) = &password {
            let username = changes.username.as_ref().unwrap_or(&target.username);
            let email = changes.email.as_ref().unwrap_or(&target.email);
            let related = [Some(username.as_str()), Some(email.as_str())];
            self.check_strength(password, password_rule, &related, &mut errors);
        }
        changes.roles = match roles {
            Patch::Absent => None,
            Patch::Null => {
                errors.add("roles", "can't be null; send [] for none");
                None
            }
            Patch::Value(names) => {
                let parsed: Result<Vec<Role>, _> =
                    names.iter().map(|name| Role::parse(name)).collect();
                errors.check("roles", parsed).map(|roles| Roles::of(&roles))
            }
        };
        changes.active = match active {
            Patch::Absent => None,
            Patch::Null => {
                errors.add("isActive", "can't be null");
                None
            }
            Patch::Value(active) => Some(active),
        };
        let own = target.id == actor.user_id;
        if own
            && changes
                .roles
                .is_some_and(|roles| !roles.contains(Role::Admin))
        {
            errors.add("roles", "cannot remove your own admin role");
        }
        if own && changes.active == Some(false) {
            errors.add("isActive", "cannot deactivate yourself");
        }
        errors.into_result()?;
        if let Some(password) = password {
            changes.password_hash = Some(self.adapters.hasher.hash(password).await?);
        }
        let password_changed = changes.password_hash.is_some();
        let at = self.adapters.clock.now().after(target.updated_at);
        let record = |user: &User| {
            let data = UserData::of(user);
            let mut events = Vec::new();
            if user.roles != target.roles {
                events.push(DomainEvent::UserRolesChanged(data.clone()));
            }
            if target.active && !user.active {
                events.push(DomainEvent::UserDeactivated(data.clone()));
            }
            if changes_profile || (!target.active && user.active) {
                events.push(DomainEvent::UserUpdated(data));
            }
            let mut recorded: Vec<_> = events
                .into_iter()
                .map(|kind| self.event(Some(actor.user_id), kind))
                .collect();
            let subject = || Some(format!("user/{}", user.id.get()));
            let mut audit = |action, details| {
                recorded.push(self.audit_event(Some(actor.user_id), action, subject(), details));
            };
            if user.roles != target.roles {
                let names = |roles: Roles| roles.iter().map(Role::as_str).collect::<Vec<_>>();
                let details =
                    serde_json::json!({ "from": names(target.roles), "to": names(user.roles) });
                audit(AuditAction::RolesChanged, details);
            }
            if target.active != user.active {
                let action = if user.active {
                    AuditAction::UserReactivated
                } else {
                    AuditAction::UserDeactivated
                };
                audit(action, serde_json::json!({}));
            }
            if password_changed {
                audit(AuditAction::PasswordChanged, serde_json::json!({}));
            }
            recorded
        };
        let user = self.store.update_user(id, &changes, at, &record).await?;
        // Tokens already out stop working on the next request: all of a deactivated user's
        // (a reactivation does not revive them), and after a password change all but those of
        // the session it was made in.
        if target.active && !user.active {
            self.end_sessions_of(id, None, super::sessions::DEACTIVATED)
                .await?;
        } else if password_changed {
            let current = if own { actor.session } else { None };
            self.end_sessions_of(id, current, super::sessions::PASSWORD_CHANGED)
                .await?;
        }
        Ok(self.view_of(user, Some(actor)))
    }

    /// Sets a user's roles and whether they are active: [`Quire::change_user`] with no profile
    /// change.
    pub async fn change_account(
        &self,
        actor: &Actor,
        id: UserId,
        roles: Option<Vec<String>>,
        active: Option<bool>,
        based_on: Option<Timestamp>,
    ) -> Result<UserView> {
        let profile = UserUpdate {
            based_on,
            ..UserUpdate::default()
        };
        self.change_user(actor, id, profile, roles.into(), active.into())
            .await
    }
}
