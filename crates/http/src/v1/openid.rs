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

/// The cookie that binds a sign-in to the browser that started it: over HTTPS a `__Host-`
/// cookie (RFC 6265bis section 4.1.3.2: `Secure`, `Path=/`, no `Domain`, so no sibling host or
/// plain-HTTP page can plant one); over plain HTTP on this machine, a cookie for these routes.
const SECURE_COOKIE: &str = "__Host-quire_openid";
const LOCAL_COOKIE: &str = "quire_openid";
/// Where the plain-HTTP cookie is sent: only back to these routes.
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
#[into_params(parameter_in = Query)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// The issuer of the response (RFC 9207).
    iss: Option<String>,
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

fn cookie(value: &str, max_age: u64, secure: bool) -> Result<HeaderValue, V1Error> {
    let text = if secure {
        format!(
            "{SECURE_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax; Secure"
        )
    } else {
        format!(
            "{LOCAL_COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Lax"
        )
    };
    HeaderValue::from_str(&text)
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
) -> Result<Response, V1Error> {
    let started = state.quire.start_openid_sign_in(&provider).await?;
    let secure = state.quire.openid_cookie_secure(&provider);
    let location = HeaderValue::from_str(&started.authorization_url)
        .map_err(|error| V1Error::Core(quire_core::Error::Internal(error.into())))?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::LOCATION, location);
    response_headers.insert(
        header::SET_COOKIE,
        cookie(&started.browser_binding, OPENID_SIGN_IN_TTL_SECS, secure)?,
    );
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The binding cookie's value, if the browser sent exactly one (two mean one was planted).
fn binding(headers: &HeaderMap, secure: bool) -> Option<String> {
    let name = if secure { SECURE_COOKIE } else { LOCAL_COOKIE };
    let mut values = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(each, _)| *each == name)
        .map(|(_, value)| value.to_owned());
    let first = values.next();
    if values.next().is_some() { None } else { first }
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
    let secure = state.quire.openid_cookie_secure(&provider);
    let callback = OpenIdCallback {
        code: query.code,
        state: query.state,
        error: query.error,
        iss: query.iss,
        browser_binding: binding(&headers, secure),
    };
    let signed_in = state
        .quire
        .finish_openid_sign_in(&provider, callback, SessionKind::Refreshable)
        .await?;
    let mut response = session(&state, format, StatusCode::OK, signed_in)?;
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, secure)?);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookies(cookies: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for cookie in cookies {
            headers.append(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        }
        headers
    }

    #[test]
    fn over_https_the_binding_is_a_host_cookie() {
        let Ok(set) = cookie("abc", 600, true) else {
            panic!("a cookie")
        };
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-quire_openid=abc; Path=/;"), "{set}");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.ends_with("Secure")
        );
        let Ok(local) = cookie("abc", 600, false) else {
            panic!("a cookie")
        };
        assert!(!local.to_str().unwrap().contains("Secure"));
        let sent = with_cookies(&["theme=dark; __Host-quire_openid=abc"]);
        assert_eq!(binding(&sent, true).as_deref(), Some("abc"));
        // The plain-HTTP name does not count over HTTPS.
        assert_eq!(binding(&with_cookies(&["quire_openid=abc"]), true), None);
    }

    #[test]
    fn two_binding_cookies_count_as_none() {
        let planted = with_cookies(&["quire_openid=evil", "quire_openid=mine"]);
        assert_eq!(binding(&planted, false), None);
        let planted = with_cookies(&["quire_openid=evil; quire_openid=mine"]);
        assert_eq!(binding(&planted, false), None);
        assert_eq!(binding(&with_cookies(&["other=1"]), false), None);
    }
}
