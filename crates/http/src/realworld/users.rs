//! `/api/users`, `/api/users/login` and `/api/user`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use quire_core::ports::Store;
use quire_core::service::{PasswordRule, Registration, SessionKind, UserUpdate};
use serde::Deserialize;

use super::dto::{Field, UserBody};
use crate::AppState;
use crate::caching::Caching;
use crate::error::ApiError;
use crate::extract::{CurrentUser, JsonBody};

#[derive(Deserialize)]
pub(crate) struct RegisterRequest {
    user: RegisterFields,
}

#[derive(Deserialize)]
struct RegisterFields {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

pub(crate) async fn register<S: Store>(
    State(state): State<AppState<S>>,
    JsonBody(request): JsonBody<RegisterRequest>,
) -> Result<(StatusCode, Caching, Json<UserBody>), ApiError> {
    let fields = request.user;
    let session = state
        .quire
        .register(
            Registration {
                username: fields.username,
                email: fields.email,
                password: fields.password,
                password_rule: PasswordRule::Lenient,
            },
            SessionKind::LongLived,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Caching::NoStore,
        Json(UserBody::new(session.user, session.token)),
    ))
}

#[derive(Deserialize)]
pub(crate) struct LoginRequest {
    user: LoginFields,
}

#[derive(Deserialize)]
struct LoginFields {
    email: Option<String>,
    password: Option<String>,
}

pub(crate) async fn login<S: Store>(
    State(state): State<AppState<S>>,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<(Caching, Json<UserBody>), ApiError> {
    let fields = request.user;
    let session = state
        .quire
        .login(
            fields.email.as_deref(),
            fields.password.as_deref(),
            SessionKind::LongLived,
        )
        .await?;
    Ok((
        Caching::NoStore,
        Json(UserBody::new(session.user, session.token)),
    ))
}

pub(crate) async fn current<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
) -> Result<(Caching, Json<UserBody>), ApiError> {
    let user = state.quire.me(&current.actor).await?;
    Ok((Caching::NoStore, Json(UserBody::new(user, current.token))))
}

#[derive(Deserialize)]
pub(crate) struct UpdateRequest {
    user: UpdateFields,
}

#[derive(Deserialize)]
struct UpdateFields {
    #[serde(default)]
    username: Field<String>,
    #[serde(default)]
    email: Field<String>,
    #[serde(default)]
    password: Field<String>,
    #[serde(default)]
    bio: Field<String>,
    #[serde(default)]
    image: Field<String>,
}

pub(crate) async fn update<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
    JsonBody(request): JsonBody<UpdateRequest>,
) -> Result<(Caching, Json<UserBody>), ApiError> {
    let fields = request.user;
    let user = state
        .quire
        .update_me(
            &current.actor,
            UserUpdate {
                username: fields.username.into(),
                email: fields.email.into(),
                password: fields.password.into(),
                bio: fields.bio.into(),
                image: fields.image.into(),
                based_on: None,
                password_rule: PasswordRule::Lenient,
            },
        )
        .await?;
    Ok((Caching::NoStore, Json(UserBody::new(user, current.token))))
}
