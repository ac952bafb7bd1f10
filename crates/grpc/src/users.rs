//! `UserService` and `SessionService`.

use quire_core::ids::UserId;
use quire_core::paging::{self, UserCursor};
use quire_core::ports::Store;
use quire_core::service::{
    PasswordRule, Patch, Quire, Registration, Session, SessionKind, UserUpdate,
};
use quire_core::{Error, Resource};
use quire_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::auth::{actor, viewer};
use crate::error::{OrStatus, status};
use crate::pb::session_service_server::SessionService;
use crate::pb::user_service_server::UserService;
use crate::{cursor, page_size};
use quire_wire as convert;

pub struct Users<S> {
    pub quire: Quire<S>,
}

pub struct Sessions<S> {
    pub quire: Quire<S>,
}

fn user_id(id: i64) -> Result<UserId, Status> {
    UserId::checked(id).ok_or_else(|| status(&Error::NotFound(Resource::User)))
}

/// A session for a user who just proved who they are.
fn session<S: Store>(quire: &Quire<S>, session: Session) -> pb::Session {
    pb::Session {
        user: Some(convert::user(
            &quire.view_of(session.user, Some(&session.actor)),
        )),
        token: session.token,
        expires_at: session.expires_at.to_rfc3339(),
        refresh_token: session.refresh_token.unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl<S: Store> SessionService for Sessions<S> {
    async fn log_in(
        &self,
        request: Request<pb::Credentials>,
    ) -> Result<Response<pb::Session>, Status> {
        let credentials = request.into_inner();
        let signed_in = self
            .quire
            .login(
                credentials.email.as_deref(),
                credentials.password.as_deref(),
                SessionKind::Refreshable,
            )
            .await
            .or_status()?;
        Ok(Response::new(session(&self.quire, signed_in)))
    }

    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::Session>, Status> {
        let refreshed = self
            .quire
            .refresh(&request.into_inner().refresh_token)
            .await
            .or_status()?;
        Ok(Response::new(session(&self.quire, refreshed)))
    }

    async fn log_out(
        &self,
        request: Request<pb::LogOutRequest>,
    ) -> Result<Response<pb::LogOutResponse>, Status> {
        self.quire.sign_out(&actor(&request)?).await.or_status()?;
        Ok(Response::new(pb::LogOutResponse { ended: 1 }))
    }

    async fn log_out_everywhere(
        &self,
        request: Request<pb::LogOutRequest>,
    ) -> Result<Response<pb::LogOutResponse>, Status> {
        let ended = self
            .quire
            .sign_out_everywhere(&actor(&request)?)
            .await
            .or_status()?;
        Ok(Response::new(pb::LogOutResponse { ended }))
    }
}

#[tonic::async_trait]
impl<S: Store> UserService for Users<S> {
    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let viewer = viewer(&request);
        let view = match request.into_inner().key {
            Some(pb::get_user_request::Key::UserId(id)) => self
                .quire
                .user(user_id(id)?, viewer.as_ref())
                .await
                .or_status()?,
            Some(pb::get_user_request::Key::Username(name)) => {
                let profile = self
                    .quire
                    .profile(&name, viewer.as_ref())
                    .await
                    .or_status()?;
                self.quire
                    .user(profile.id, viewer.as_ref())
                    .await
                    .or_status()?
            }
            None => return Err(status(&Error::invalid("key", "give user_id or username"))),
        };
        Ok(Response::new(convert::user(&view)))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::UserList>, Status> {
        let viewer = viewer(&request);
        let message = request.into_inner();
        let limit = page_size(message.page_size)?;
        let after = paging::parse_after("cursor", cursor(&message.cursor), UserCursor::parse)
            .or_status()?;
        let page = self
            .quire
            .users(after, limit, viewer.as_ref())
            .await
            .or_status()?;
        Ok(Response::new(pb::UserList {
            items: page.users.iter().map(convert::user).collect(),
            next_cursor: page.next.map(|cursor| cursor.encode()),
        }))
    }

    async fn register(
        &self,
        request: Request<pb::NewUser>,
    ) -> Result<Response<pb::Session>, Status> {
        let message = request.into_inner();
        let signed_in = self
            .quire
            .register(
                Registration {
                    username: message.username,
                    email: message.email,
                    password: message.password,
                    password_rule: PasswordRule::Standard,
                },
                SessionKind::Refreshable,
            )
            .await
            .or_status()?;
        Ok(Response::new(session(&self.quire, signed_in)))
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let actor = actor(&request)?;
        let message = request.into_inner();
        let update = UserUpdate {
            username: Patch::from(message.username),
            email: Patch::from(message.email),
            password: Patch::from(message.password),
            bio: Patch::from(message.bio),
            image: Patch::from(message.image),
            based_on: None,
            password_rule: PasswordRule::Standard,
        };
        let view = self
            .quire
            .change_user(
                &actor,
                user_id(message.user_id)?,
                update,
                Patch::Absent,
                Patch::Absent,
            )
            .await
            .or_status()?;
        Ok(Response::new(convert::user(&view)))
    }

    async fn deactivate_user(
        &self,
        request: Request<pb::UserRef>,
    ) -> Result<Response<pb::User>, Status> {
        let actor = actor(&request)?;
        let id = user_id(request.into_inner().user_id)?;
        let view = self
            .quire
            .change_account(&actor, id, None, Some(false), None)
            .await
            .or_status()?;
        Ok(Response::new(convert::user(&view)))
    }

    async fn set_roles(
        &self,
        request: Request<pb::SetRolesRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let actor = actor(&request)?;
        let message = request.into_inner();
        let view = self
            .quire
            .change_account(
                &actor,
                user_id(message.user_id)?,
                Some(message.roles),
                None,
                None,
            )
            .await
            .or_status()?;
        Ok(Response::new(convert::user(&view)))
    }

    async fn follow(&self, request: Request<pb::UserRef>) -> Result<Response<pb::User>, Status> {
        let actor = actor(&request)?;
        let id = user_id(request.into_inner().user_id)?;
        self.quire.follow_user(&actor, id).await.or_status()?;
        let view = self.quire.user(id, Some(&actor)).await.or_status()?;
        Ok(Response::new(convert::user(&view)))
    }

    async fn unfollow(&self, request: Request<pb::UserRef>) -> Result<Response<pb::User>, Status> {
        let actor = actor(&request)?;
        let id = user_id(request.into_inner().user_id)?;
        self.quire.unfollow_user(&actor, id).await.or_status()?;
        let view = self.quire.user(id, Some(&actor)).await.or_status()?;
        Ok(Response::new(convert::user(&view)))
    }
}
