//! `/api/v1/users` and `/api/v1/me`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quire_core::events::Aggregate;
use quire_core::ids::UserId;
use quire_core::model::UserView;
use quire_core::paging::{self, UserCursor};
use quire_core::ports::Store;
use quire_core::roles::Role;
use quire_core::service::{Caller, PasswordRule, Registration, SessionKind, UserUpdate};
use quire_core::{Error, Resource};
use serde::{Deserialize, Serialize};

use super::caller::Authenticated;
use super::idempotency::IdempotencyKey;
use super::negotiate::{
    Format, FromWire, Preconditions, Representation, Wire, body_format, parse_body, parse_patch,
};
use super::problem::V1Error;
use super::proto;
use crate::AppState;
use crate::caching::Caching;
use crate::patch::Field;

/// A user as `/api/v1` represents them; the email only where the viewer may see it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserRepr {
    user_id: i64,
    username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    name: Option<String>,
    bio: Option<String>,
    image: Option<String>,
    /// Only for the user themself and admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    is_active: Option<bool>,
    /// Only for the user themself and admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<super::contract::RoleName>>)]
    roles: Option<Vec<&'static str>>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// Built from the `quire.v1` message ([`quire_wire::user`]), so JSON, XML and Protobuf carry
/// the same values.
impl From<&UserView> for UserRepr {
    fn from(view: &UserView) -> Self {
        let message = quire_wire::user(view);
        Self {
            user_id: message.user_id,
            username: message.username,
            email: message.email,
            name: message.name,
            bio: message.bio,
            image: message.image,
            is_active: message.is_active,
            roles: view
                .account
                .map(|account| account.roles.iter().map(Role::as_str).collect()),
            created_at: message.created_at,
            updated_at: message.updated_at,
        }
    }
}

fn representation(format: Format, view: &UserView) -> Result<Representation, V1Error> {
    Ok(Representation::of(format, "user", &UserRepr::from(view))?)
}

pub(crate) fn location(mut response: Response, path: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(path) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn user_id(text: &str) -> Result<UserId, V1Error> {
    UserId::parse(text).ok_or(V1Error::Core(Error::NotFound(Resource::User)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    #[schema(required = true, nullable = false)]
    username: Option<String>,
    #[schema(required = true, nullable = false)]
    email: Option<String>,
    #[schema(required = true, nullable = false)]
    password: Option<String>,
}

/// `POST /api/v1/users`: registers an account; 201 with its `Location`.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    operation_id = "registerUser",
    tag = "users",
    request_body(content = NewUser, content_type = "application/json"),
    responses((status = 201, description = "registered", body = UserRepr))
)]
pub(crate) async fn register<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    idempotency_key: IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, V1Error> {
    let input: NewUser = parse_body(body_format(&headers, "application/json")?, &body)?;
    // The password stays out of the fingerprint: only a hash of it would be stored.
    let fingerprint = format!("{:?}\n{:?}", input.username, input.email);
    super::idempotency::once(
        &state,
        &idempotency_key,
        None,
        "POST /api/v1/users",
        fingerprint.as_bytes(),
        "user",
        || async {
            let registration = Registration {
                username: input.username,
                email: input.email,
                password: input.password,
                password_rule: PasswordRule::Standard,
            };
            let session = state
                .quire
                .register(registration, SessionKind::LongLived)
                .await?;
            let view = state.quire.view_of(session.user, Some(&session.actor));
            registered(format, &view)
        },
        |aggregate| {
            let state = &state;
            async move {
                let Aggregate::User(id) = aggregate else {
                    return Err(
                        Error::internal("a user's key marked with another aggregate").into(),
                    );
                };
                registered(format, &state.quire.registered(id).await?)
            }
        },
    )
    .await
}

/// A registered user's 201, with its `Location`.
fn registered(format: Format, view: &UserView) -> Result<Response, V1Error> {
    let path = format!("/api/v1/users/{}", view.user.id);
    let response = representation(format, view)?.respond(StatusCode::CREATED, Caching::Private);
    Ok(location(response, &path))
}

/// `GET /api/v1/users/{id}`.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    operation_id = "getUser",
    tag = "users",
    params(("id" = i64, Path, description = "the user's id")),
    responses((status = 200, description = "the user", body = UserRepr))
)]
pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let viewer = caller.actor().copied();
    let view = state.quire.user(user_id(&id)?, viewer.as_ref()).await?;
    let caching = Caching::for_viewer(viewer.is_some());
    Ok(representation(format, &view)?.respond(StatusCode::OK, caching))
}

/// `GET /api/v1/me`.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "getMe",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 200, description = "the caller", body = UserRepr))
)]
pub(crate) async fn me<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let user = state.quire.me(&actor).await?;
    let view = state.quire.view_of(user, Some(&actor));
    Ok(representation(format, &view)?.respond(StatusCode::OK, Caching::Private))
}

/// A JSON merge patch (RFC 7396) of a user: absent keys stay, `null` removes.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UserPatch {
    #[serde(default)]
    #[schema(value_type = Option<String>, nullable = false)]
    username: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, nullable = false)]
    email: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, nullable = false)]
    password: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    bio: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    image: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<super::contract::RoleName>>, nullable = false)]
    roles: Field<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<bool>, nullable = false)]
    is_active: Field<bool>,
}

/// `PATCH /api/v1/users/{id}` with `application/merge-patch+json`: a user changes their own
/// profile; an admin changes anyone's roles and activation. `If-Match` guards against
/// overwriting a change made since the client's copy.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    operation_id = "patchUser",
    tag = "users",
    params(("id" = i64, Path, description = "the user's id")),
    request_body(content = UserPatch, content_type = "application/merge-patch+json"),
    security(("bearer" = [])),
    responses((status = 200, description = "changed", body = UserRepr))
)]
pub(crate) async fn patch<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    preconditions: Preconditions,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let id = user_id(&id)?;
    // 404 and 403 come before anything about the body (400, 415, 422) or its version (412).
    let current = state.quire.user_to_change(&actor, id).await?;
    let patch: UserPatch = parse_patch(
        body_format(&headers, "application/merge-patch+json")?,
        &body,
    )?;
    representation(format, &current)?.check_if_match(&preconditions)?;

    let profile = UserUpdate {
        username: patch.username.into(),
        email: patch.email.into(),
        password: patch.password.into(),
        bio: patch.bio.into(),
        image: patch.image.into(),
        based_on: None,
        password_rule: PasswordRule::Standard,
    };
    // With If-Match, the writes require the version the client's ETag was computed from.
    let profile = UserUpdate {
        based_on: preconditions
            .has_if_match()
            .then_some(current.user.updated_at),
        ..profile
    };
    let view = state
        .quire
        .change_user(
            &actor,
            id,
            profile,
            patch.roles.into(),
            patch.is_active.into(),
        )
        .await?;
    Ok(representation(format, &view)?.respond(StatusCode::OK, Caching::Private))
}

/// `PUT /api/v1/me/following/{userId}`: idempotent, 204.
#[utoipa::path(
    put,
    path = "/api/v1/me/following/{user_id}",
    operation_id = "followUser",
    tag = "users",
    params(("user_id" = i64, Path, description = "the user to follow")),
    security(("bearer" = [])),
    responses((status = 204, description = "following"))
)]
pub(crate) async fn follow<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    state.quire.follow_user(&actor, user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/me/following/{userId}`: idempotent, 204.
#[utoipa::path(
    delete,
    path = "/api/v1/me/following/{user_id}",
    operation_id = "unfollowUser",
    tag = "users",
    params(("user_id" = i64, Path, description = "the user to stop following")),
    security(("bearer" = [])),
    responses((status = 204, description = "not following"))
)]
pub(crate) async fn unfollow<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    state.quire.unfollow_user(&actor, user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub(crate) struct FollowQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserList {
    items: Vec<UserRepr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// A page of users: everyone, or (`follows_of`) one user's followers or followees.
async fn user_page<S: Store>(
    state: &AppState<S>,
    caller: &Caller,
    format: Format,
    uri: &axum::http::Uri,
    follows_of: Option<(&str, quire_core::model::FollowDirection)>,
    query: &FollowQuery,
) -> Result<Response, V1Error> {
    let viewer = caller.actor().copied();
    let limit = paging::page_size_text("limit", query.limit.as_deref())?;
    let after = paging::parse_after("cursor", query.cursor.as_deref(), UserCursor::parse)?;
    let page = match follows_of {
        Some((id, direction)) => {
            state
                .quire
                .follows(user_id(id)?, direction, after, limit, viewer.as_ref())
                .await?
        }
        None => state.quire.users(after, limit, viewer.as_ref()).await?,
    };
    let next = page.next.map(|cursor| cursor.encode());
    let body = UserList {
        items: page.users.iter().map(UserRepr::from).collect(),
        next_cursor: next.clone(),
    };
    let caching = Caching::for_viewer(viewer.is_some());
    let response = Representation::of(format, "users", &body)?.respond(StatusCode::OK, caching);
    Ok(super::posts::with_next_link(response, uri, next.as_deref()))
}

/// `GET /api/v1/users/{id}/followers`.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/followers",
    operation_id = "listFollowers",
    tag = "users",
    params(("id" = i64, Path, description = "the user's id"), ("limit" = Option<u32>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "from the previous page's nextCursor")),
    responses((status = 200, description = "a page of followers", body = UserList))
)]
pub(crate) async fn followers<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
    format: Format,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    Path(id): Path<String>,
    query: axum::extract::Query<FollowQuery>,
) -> Result<Response, V1Error> {
    user_page(
        &state,
        &caller,
        format,
        &uri,
        Some((&id, quire_core::model::FollowDirection::Followers)),
        &query,
    )
    .await
}

/// `GET /api/v1/users/{id}/following`.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}/following",
    operation_id = "listFollowing",
    tag = "users",
    params(("id" = i64, Path, description = "the user's id"), ("limit" = Option<u32>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "from the previous page's nextCursor")),
    responses((status = 200, description = "a page of followed users", body = UserList))
)]
pub(crate) async fn following<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
    format: Format,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    Path(id): Path<String>,
    query: axum::extract::Query<FollowQuery>,
) -> Result<Response, V1Error> {
    user_page(
        &state,
        &caller,
        format,
        &uri,
        Some((&id, quire_core::model::FollowDirection::Following)),
        &query,
    )
    .await
}

impl Wire for UserRepr {
    type Proto = proto::User;
    fn proto(&self) -> proto::User {
        proto::User {
            user_id: self.user_id,
            username: self.username.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
            bio: self.bio.clone(),
            image: self.image.clone(),
            is_active: self.is_active,
            roles: self
                .roles
                .iter()
                .flatten()
                .map(|role| (*role).to_owned())
                .collect(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }
}

impl Wire for UserList {
    type Proto = proto::UserList;
    fn proto(&self) -> proto::UserList {
        proto::UserList {
            items: self.items.iter().map(Wire::proto).collect(),
            next_cursor: self.next_cursor.clone(),
        }
    }
}

impl FromWire for NewUser {
    type Proto = proto::NewUser;
    fn from_proto(message: proto::NewUser) -> Self {
        Self {
            username: message.username,
            email: message.email,
            password: message.password,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    operation_id = "listUsers",
    tag = "users",
    params(("limit" = Option<u32>, Query, description = "1 to 100, default 20"), ("cursor" = Option<String>, Query, description = "from the previous page's nextCursor")),
    responses((status = 200, description = "a page of users by id", body = UserList))
)]
/// `GET /api/v1/users`: every user, by id, a page at a time.
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
    format: Format,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
    query: axum::extract::Query<FollowQuery>,
) -> Result<Response, V1Error> {
    user_page(&state, &caller, format, &uri, None, &query).await
}
