//! `/api/v1/sessions/openid`: signing in through OpenID Connect providers (docs/security.md,
//! "OpenID Connect sign-in"; the flow is `quire_core::service`'s `start_openid_sign_in` and
//! `finish_openid_sign_in`).
//!
//! A browser is sent to `GET /api/v1/sessions/openid/{provider}`, which redirects it to the
//! provider with a cookie binding the sign-in to it; the provider sends it back to
//! `…/{provider}/callback` with a code, answered with a session as `POST /api/v1/sessions`
//! answers one.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quire_core::ports::Store;
use quire_core::service::{OPENID_SIGN_IN_TTL_SECS, OpenIdCallback, SessionKind};
use serde::{Deserialize, Serialize};

use super::negotiate::Format;
use super::problem::V1Error;
use super::sessions::session;
use crate::AppState;

/// The cookie that binds a sign-in to the browser that started it.
const COOKIE: &str = "quire_openid";
/// Where the cookie is sent: only back to these routes.
const COOKIE_PATH: &str = "/api/v1/sessions/openid";

/// The providers one may sign in through.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Providers {
    providers: Vec<ProviderLink>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProviderLink {
    name: String,
    /// Where to send the browser to sign in.
    sign_in: String,
}

/// What the provider sends the browser back with (RFC 6749 section 4.1.2 and 4.1.2.1).
#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /api/v1/sessions/openid`: the configured providers.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/openid",
    operation_id = "listOpenIdProviders",
    tag = "users",
    responses((status = 200, description = "the providers", body = Providers))
)]
pub(crate) async fn list<S: Store>(State(state): State<AppState<S>>) -> Response {
    let providers = state
        .quire
        .openid_providers()
        .into_iter()
        .map(|name| ProviderLink {
            sign_in: format!("{COOKIE_PATH}/{name}"),
            name,
        })
        .collect();
    axum::Json(Providers { providers }).into_response()
}

/// Whether the request came to a loopback host, where a browser keeps `Secure` cookies only
/// over HTTPS in some clients: everywhere else the cookie is `Secure`.
fn on_loopback(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

fn cookie(value: &str, max_age: u64, headers: &HeaderMap) -> Result<HeaderValue, V1Error> {
    let secure = if on_loopback(headers) { "" } else { "; Secure" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .map_err(|error| V1Error::Core(quire_core::Error::Internal(error.into())))
}

/// `GET /api/v1/sessions/openid/{provider}`: starts a sign-in; 303 to the provider, with a
/// cookie the browser brings back.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/openid/{provider}",
    operation_id = "startOpenIdSignIn",
    tag = "users",
    params(("provider" = String, Path, description = "the provider's configured name")),
    responses(
        (status = 303, description = "to the provider's sign-in page"),
        (status = 404, description = "no such provider")
    )
)]
pub(crate) async fn start<S: Store>(
    State(state): State<AppState<S>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Result<Response, V1Error> {
    let started = state.quire.start_openid_sign_in(&provider).await?;
    let location = HeaderValue::from_str(&started.authorization_url)
        .map_err(|error| V1Error::Core(quire_core::Error::Internal(error.into())))?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::LOCATION, location);
    response_headers.insert(
        header::SET_COOKIE,
        cookie(&started.browser_binding, OPENID_SIGN_IN_TTL_SECS, &headers)?,
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The binding cookie's value, if the browser sent one.
fn binding(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// `GET /api/v1/sessions/openid/{provider}/callback`: finishes a sign-in with the provider's
/// answer; 200 with a session, 401 when the answer cannot be trusted.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/openid/{provider}/callback",
    operation_id = "finishOpenIdSignIn",
    tag = "users",
    params(
        ("provider" = String, Path, description = "the provider's configured name"),
        CallbackQuery
    ),
    responses(
        (status = 200, description = "signed in", body = super::sessions::Session),
        (status = 401, description = "the provider's answer was refused")
    )
)]
pub(crate) async fn callback<S: Store>(
    State(state): State<AppState<S>>,
    Path(provider): Path<String>,
    Query(query): Query<CallbackQuery>,
    format: Format,
    headers: HeaderMap,
) -> Result<Response, V1Error> {
    let callback = OpenIdCallback {
        code: query.code,
        state: query.state,
        error: query.error,
        browser_binding: binding(&headers),
    };
    let signed_in = state
        .quire
        .finish_openid_sign_in(&provider, callback, SessionKind::Refreshable)
        .await?;
    let mut response = session(&state, format, StatusCode::OK, signed_in)?;
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, &headers)?);
    Ok(response)
}
