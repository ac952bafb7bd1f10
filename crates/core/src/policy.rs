//! The one authorization policy: pure functions of who is asking and what is addressed.
//!
//! Every transport reaches these through the use-cases; none decides on its own.

use crate::ids::{SessionId, UserId};
use crate::model::PostStatus;
use crate::roles::{Role, Roles};

/// An authenticated caller. Only the core makes one, from a verified credential
/// ([`crate::service::Caller`]) or a new session ([`crate::service::Session`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub(crate) user_id: UserId,
    pub(crate) roles: Roles,
    /// The sign-in session the credential belongs to; `None` for work done on no one's
    /// behalf through a session (the command line, imports).
    pub(crate) session: Option<SessionId>,
}

impl Actor {
    /// Who is acting.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The roles they hold, as of the check that made this actor.
    pub fn roles(&self) -> Roles {
        self.roles
    }

    pub(crate) fn new(user_id: UserId, roles: Roles) -> Self {
        Self {
            user_id,
            roles,
            session: None,
        }
    }

    pub(crate) fn in_session(user_id: UserId, roles: Roles, session: SessionId) -> Self {
        Self {
            user_id,
            roles,
            session: Some(session),
        }
    }

    fn is(&self, role: Role) -> bool {
        self.roles.contains(role)
    }

    fn is_editor(&self) -> bool {
        self.is(Role::Editor) || self.is(Role::Admin)
    }
}

/// Writing new posts: authors, and those who may edit anyone's.
pub fn may_create_post(actor: &Actor) -> bool {
    actor.is(Role::Author) || actor.is_editor()
}

/// Editing or deleting a post: its author while they hold the author role; editors and admins always.
pub fn may_change_post(actor: &Actor, author: UserId) -> bool {
    (actor.user_id == author && actor.is(Role::Author)) || actor.is_editor()
}

/// Reading a post: published ones by anyone; drafts by their author, editors and admins.
pub fn may_read_post(viewer: Option<&Actor>, author: UserId, status: PostStatus) -> bool {
    match status {
        PostStatus::Published => true,
        PostStatus::Draft => {
            viewer.is_some_and(|actor| actor.user_id == author || actor.is_editor())
        }
    }
}

/// Commenting: commenters, and editors and admins.
pub fn may_comment(actor: &Actor) -> bool {
    actor.is(Role::Commenter) || actor.is_editor()
}

/// Deleting a comment: its author; editors and admins always.
pub fn may_delete_comment(actor: &Actor, comment_author: UserId) -> bool {
    actor.user_id == comment_author || actor.is_editor()
}

/// Favoriting posts and following people: any signed-in user, readers included.
pub fn may_react(actor: &Actor) -> bool {
    actor.roles.iter().next().is_some()
}

/// Importing and exporting posts (any author's, with their dates): admins only.
pub fn may_import(actor: &Actor) -> bool {
    actor.is(Role::Admin)
}

/// Managing users' roles and activation: admins only.
pub fn may_manage_users(actor: &Actor) -> bool {
    actor.is(Role::Admin)
}

/// Registering webhook endpoints, reading their secrets and delivery logs: admins only
/// (an endpoint receives every event it subscribes to, drafts included).
pub fn may_manage_webhooks(actor: &Actor) -> bool {
    actor.is(Role::Admin)
}

/// Changing a profile (name, bio, image, credentials): the user themself only. Admins manage
/// roles and activation, not other people's credentials.
pub fn may_change_profile(actor: &Actor, user: UserId) -> bool {
    actor.user_id == user
}

/// Changing anything of an account: its owner (the profile) and admins (roles, activation).
pub fn may_change_user(actor: &Actor, user: UserId) -> bool {
    may_change_profile(actor, user) || may_manage_users(actor)
}

/// Listing drafts: one's own; editors and admins anyone's.
pub fn may_list_drafts(actor: &Actor, author: Option<UserId>) -> bool {
    actor.is_editor() || author == Some(actor.user_id)
}

/// Seeing a user's email: the user themself and admins.
pub fn may_see_email(viewer: Option<&Actor>, user: UserId) -> bool {
    viewer.is_some_and(|actor| actor.user_id == user || actor.is(Role::Admin))
}

/// Seeing a user's roles and whether the account is active: the user themself and admins, so
/// that nobody else learns who is an admin (whom to aim at) or who was deactivated.
pub fn may_see_account(viewer: Option<&Actor>, user: UserId) -> bool {
    may_see_email(viewer, user)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: UserId = UserId::new(1);
    const BOB: UserId = UserId::new(2);

    fn actor(id: UserId, roles: &[Role]) -> Actor {
        Actor::new(id, Roles::of(roles))
    }

    #[test]
    fn registered_users_write_and_change_only_their_own_posts() {
        let alice = Actor::new(ALICE, Roles::REGISTERED);
        assert!(may_create_post(&alice));
        assert!(may_change_post(&alice, ALICE));
        assert!(!may_change_post(&alice, BOB));
    }

    #[test]
    fn readers_cannot_write_or_comment_but_can_react() {
        let reader = actor(ALICE, &[Role::Reader]);
        assert!(!may_create_post(&reader));
        assert!(!may_comment(&reader));
        assert!(may_react(&reader));
    }

    #[test]
    fn losing_the_author_role_stops_changes_to_own_posts() {
        let former_author = actor(ALICE, &[Role::Reader, Role::Commenter]);
        assert!(!may_change_post(&former_author, ALICE));
    }

    #[test]
    fn editors_and_admins_change_anyones_posts_and_comments() {
        for role in [Role::Editor, Role::Admin] {
            let moderator = actor(ALICE, &[role]);
            assert!(may_change_post(&moderator, BOB));
            assert!(may_delete_comment(&moderator, BOB));
            assert!(may_create_post(&moderator));
            assert!(may_comment(&moderator));
        }
    }

    #[test]
    fn only_comment_authors_delete_their_comments() {
        let alice = Actor::new(ALICE, Roles::REGISTERED);
        assert!(may_delete_comment(&alice, ALICE));
        assert!(!may_delete_comment(&alice, BOB));
    }

    #[test]
    fn drafts_are_visible_to_their_author_and_editors_only() {
        let alice = Actor::new(ALICE, Roles::REGISTERED);
        let bob = Actor::new(BOB, Roles::REGISTERED);
        let editor = actor(BOB, &[Role::Editor]);
        assert!(may_read_post(None, ALICE, PostStatus::Published));
        assert!(!may_read_post(None, ALICE, PostStatus::Draft));
        assert!(may_read_post(Some(&alice), ALICE, PostStatus::Draft));
        assert!(!may_read_post(Some(&bob), ALICE, PostStatus::Draft));
        assert!(may_read_post(Some(&editor), ALICE, PostStatus::Draft));
    }

    #[test]
    fn only_admins_manage_users() {
        assert!(may_manage_users(&actor(ALICE, &[Role::Admin])));
        assert!(!may_manage_users(&actor(ALICE, &[Role::Editor])));
        assert!(!may_manage_users(&Actor::new(ALICE, Roles::REGISTERED)));
    }

    #[test]
    fn only_admins_manage_webhooks() {
        assert!(may_manage_webhooks(&actor(ALICE, &[Role::Admin])));
        assert!(!may_manage_webhooks(&actor(ALICE, &[Role::Editor])));
        assert!(!may_manage_webhooks(&Actor::new(ALICE, Roles::REGISTERED)));
    }

    #[test]
    fn profiles_are_changed_by_their_owner_only() {
        assert!(may_change_profile(
            &Actor::new(ALICE, Roles::REGISTERED),
            ALICE
        ));
        assert!(!may_change_profile(&actor(BOB, &[Role::Admin]), ALICE));
    }

    #[test]
    fn emails_are_for_their_owner_and_admins() {
        let alice = Actor::new(ALICE, Roles::REGISTERED);
        assert!(may_see_email(Some(&alice), ALICE));
        assert!(!may_see_email(Some(&alice), BOB));
        assert!(!may_see_email(None, ALICE));
        assert!(may_see_email(Some(&actor(BOB, &[Role::Admin])), ALICE));
        assert!(!may_see_email(Some(&actor(BOB, &[Role::Editor])), ALICE));
    }

    #[test]
    fn a_user_with_no_roles_may_do_nothing() {
        let nobody = actor(ALICE, &[]);
        assert!(!may_react(&nobody));
        assert!(!may_comment(&nobody));
        assert!(!may_create_post(&nobody));
    }
}
