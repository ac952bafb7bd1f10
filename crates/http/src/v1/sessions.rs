//! `/api/v1/sessions`: signing in, trading a refresh token for the next access token, and
//! signing out here or everywhere (docs/security.md, "Sessions and refresh tokens").

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use quire_core::ports::Store;
use quire_core::service::SessionKind;
use serde::{Deserialize, Serialize};

use super::caller::Authenticated;
use super::negotiate::{Format, FromWire, Representation, Wire, body_format, parse_body};
use super::problem::V1Error;
use super::proto;
use super::users::{UserRepr, location};
use crate::AppState;
use crate::caching::Caching;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Credentials {
    #[schema(required = true, nullable = false)]
    email: Option<String>,
    #[schema(required = true, nullable = false)]
    password: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RefreshRequest {
    /// The refresh token the last sign-in or refresh gave; it is used up.
    #[schema(required = true, nullable = false)]
    refresh_token: Option<String>,
}

/// A session: a short-lived bearer token for every other route, when it expires, and the
/// refresh token that gets the next one.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Session {
    token: String,
    /// When `token` stops working.
    #[schema(format = DateTime)]
    expires_at: String,
    /// Use once, at `POST /api/v1/sessions/refresh`: presenting it again ends the session.
    refresh_token: String,
    user: UserRepr,
}

impl FromWire for Credentials {
    type Proto = proto::Credentials;
    fn from_proto(message: proto::Credentials) -> Self {
        Self {
            email: message.email,
            password: message.password,
        }
    }
}

impl FromWire for RefreshRequest {
    type Proto = proto::RefreshRequest;
    fn from_proto(message: proto::RefreshRequest) -> Self {
        Self {
            refresh_token: Some(message.refresh_token),
        }
    }
}

impl Wire for Session {
    type Proto = proto::Session;
    fn proto(&self) -> proto::Session {
        proto::Session {
            token: self.token.clone(),
            user: Some(self.user.proto()),
            expires_at: self.expires_at.clone(),
            refresh_token: self.refresh_token.clone(),
        }
    }
}

pub(crate) fn session<S: Store>(
    state: &AppState<S>,
    format: Format,
    status: StatusCode,
    signed_in: quire_core::service::Session,
) -> Result<Response, V1Error> {
    let expires_at = signed_in.expires_at.to_rfc3339();
    let refresh_token = signed_in.refresh_token.unwrap_or_default();
    let view = state.quire.view_of(signed_in.user, Some(&signed_in.actor));
    let body = Session {
        token: signed_in.token,
        expires_at,
        refresh_token,
        user: UserRepr::from(&view),
    };
    let response = Representation::of(format, "session", &body)?.respond(status, Caching::NoStore);
    Ok(location(response, "/api/v1/me"))
}

/// `POST /api/v1/sessions`: signs in; 201 with a session.
#[utoipa::path(
    post,
    path = "/api/v1/sessions",
    operation_id = "logIn",
    tag = "users",
    request_body(content = Credentials, content_type = "application/json"),
    responses((status = 201, description = "signed in", body = Session))
)]
pub(crate) async fn log_in<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, V1Error> {
    let input: Credentials = parse_body(body_format(&headers, "application/json")?, &body)?;
    let signed_in = state
        .quire
        .login(
            input.email.as_deref(),
            input.password.as_deref(),
            SessionKind::Refreshable,
        )
        .await?;
    session(&state, format, StatusCode::CREATED, signed_in)
}

/// `POST /api/v1/sessions/refresh`: trades a refresh token for a new access token and the
/// next refresh token; 401 for a token unknown, expired, already used (which ends its
/// session) or of a session that ended.
#[utoipa::path(
    post,
    path = "/api/v1/sessions/refresh",
    operation_id = "refreshSession",
    tag = "users",
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses((status = 200, description = "the session, with new tokens", body = Session))
)]
pub(crate) async fn refresh<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, V1Error> {
    let input: RefreshRequest = parse_body(body_format(&headers, "application/json")?, &body)?;
    let refreshed = state
        .quire
        .refresh(input.refresh_token.as_deref().unwrap_or_default())
        .await?;
    session(&state, format, StatusCode::OK, refreshed)
}

/// `DELETE /api/v1/sessions/current`: signs out; the session's tokens stop working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/current",
    operation_id = "logOut",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 204, description = "signed out"))
)]
pub(crate) async fn log_out<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
) -> Result<Response, V1Error> {
    state.quire.sign_out(caller.require()?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v1/sessions`: signs out everywhere; every session of the caller's ends.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions",
    operation_id = "logOutEverywhere",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 204, description = "signed out of every session"))
)]
pub(crate) async fn log_out_everywhere<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
) -> Result<Response, V1Error> {
    state.quire.sign_out_everywhere(caller.require()?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
