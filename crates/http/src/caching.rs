//! HTTP caching for every HTTP contract (RFC 9111, and RFC 9110 section 13 for conditional
//! requests): one home for how a response says who may keep it.
//!
//! A handler says *what* its response is, by attaching a [`Caching`] to it: a view shared by
//! everyone (with the surrogate keys of what it shows and when it was read), a public view no
//! event names, a personal one, or one holding a secret. The [`respond`] middleware says how
//! that is written in HTTP:
//!
//! - a shared view: `Cache-Control: public, max-age=0, s-maxage=…, stale-while-revalidate=…`
//!   (browsers revalidate every time, shared caches keep it until purged or `s-maxage`
//!   passes), `Last-Modified`, and its surrogate keys in `Surrogate-Key` (Fastly), `xkey`
//!   (Varnish's xkey module) and `Cache-Tag` (Cloudflare);
//! - a public view no event names: `public, no-cache` (kept, but revalidated every time);
//! - a personal view: `private, no-cache`; one holding a secret (a token): `no-store`.
//!
//! Every `GET` answered 200 with a [`Caching`] carries a strong `ETag`, the hash of its bytes,
//! and gets 304 when `If-None-Match` names it. A signed-in request's response is never
//! public, whatever its handler said.

use std::time::{Duration, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::header;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use quire_core::cache::{CacheTag, SharedView, Shown};

/// How long shared caches may keep shared views, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheHeaders {
    /// `s-maxage`: how long a shared cache (a CDN, Varnish) may serve a shared view without
    /// asking again. Writes purge what they change when a purger is configured; without one,
    /// this bounds how stale a shared cache can be.
    pub s_maxage: u32,
    /// `stale-while-revalidate` (RFC 5861): how long past `s-maxage` a shared cache may serve
    /// the stale view while it fetches a fresh one.
    pub stale_while_revalidate: u32,
}

impl Default for CacheHeaders {
    fn default() -> Self {
        Self {
            s_maxage: 60,
            stale_while_revalidate: 30,
        }
    }
}

/// Who may keep a copy of a response, attached to it by its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caching {
    /// The same for everyone, named by its surrogate keys so writes can purge it.
    Shared(SharedView),
    /// The same for everyone, but no event names what it shows: kept, revalidated each time.
    Public,
    /// Depends on who asks: only the client's own cache, revalidated each time.
    Private,
    /// Holds a secret (a session token): no cache keeps it.
    NoStore,
}

impl Caching {
    /// For a read's result: shared when anonymous and the core says what it depends on,
    /// public when anonymous and it does not, private once a caller is signed in (the view
    /// then holds their own marks).
    pub(crate) fn of<T>(signed_in: bool, shown: &Shown<T>) -> Self {
        match (&shown.shared, signed_in) {
            (_, true) => Caching::Private,
            (Some(view), false) => Caching::Shared(view.clone()),
            (None, false) => Caching::Public,
        }
    }

    /// Public for anonymous reads, private once a caller is signed in.
    pub(crate) fn for_viewer(signed_in: bool) -> Self {
        if signed_in {
            Caching::Private
        } else {
            Caching::Public
        }
    }
}

impl IntoResponseParts for Caching {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        res.extensions_mut().insert(self);
        Ok(res)
    }
}

/// A strong entity tag for `bytes` (RFC 9110 section 8.8.3), quoted: XXH3-128 of the bytes in
/// hex. Any change of the bytes changes it, short of a chance collision (2^-64).
pub(crate) fn entity_tag(bytes: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// Characters left as they are in a surrogate key; the rest (spaces and commas, which separate
/// keys, and anything outside ASCII) is percent-encoded, so a tag named `c++` or `한국어`
/// stays one key.
const KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b':')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

/// The surrogate key that names `tag` in headers and purges.
pub fn surrogate_key(tag: &CacheTag) -> String {
    utf8_percent_encode(tag.as_str(), KEY_ENCODE).to_string()
}

/// The middleware that writes each response's [`Caching`] as headers and answers conditional
/// `GET`s.
pub(crate) async fn respond(
    State(settings): State<CacheHeaders>,
    request: Request,
    next: Next,
) -> Response {
    answer(settings, request, next, false).await
}

/// The same for a contract whose reads name no shared views (GraphQL over `GET`): a successful
/// read its handler said nothing about is public but revalidated every time
/// (`public, no-cache`), or private when signed in, with an `ETag` and 304.
pub(crate) async fn revalidate(
    State(settings): State<CacheHeaders>,
    request: Request,
    next: Next,
) -> Response {
    answer(settings, request, next, true).await
}

async fn answer(
    settings: CacheHeaders,
    request: Request,
    next: Next,
    reads_public: bool,
) -> Response {
    let read = matches!(*request.method(), Method::GET | Method::HEAD);
    let signed_in = request.headers().contains_key(header::AUTHORIZATION);
    // A HEAD response's body is gone by now: its validator could not be computed from it.
    let conditions = (*request.method() == Method::GET).then(|| Conditions::of(request.headers()));
    let mut response = next.run(request).await;
    if reads_public
        && read
        && response.status() == StatusCode::OK
        && !response.headers().contains_key(header::CACHE_CONTROL)
        && response.extensions().get::<Caching>().is_none()
    {
        response.extensions_mut().insert(Caching::Public);
    }
    // Left on the response: the rendered-response cache outside reads it.
    let Some(mut caching) = response.extensions().get::<Caching>().cloned() else {
        return response;
    };
    if signed_in && matches!(caching, Caching::Shared(_) | Caching::Public) {
        caching = Caching::Private;
    }
    write_headers(response.headers_mut(), &caching, settings);
    match conditions {
        Some(conditions) if response.status() == StatusCode::OK => {
            let response = with_entity_tag(response).await;
            if conditions.not_modified(response.headers()) {
                not_modified(response)
            } else {
                response
            }
        }
        _ => response,
    }
}

fn write_headers(headers: &mut HeaderMap, caching: &Caching, settings: CacheHeaders) {
    let cache_control = match caching {
        Caching::Shared(_) => HeaderValue::from_str(&format!(
            "public, max-age=0, s-maxage={}, stale-while-revalidate={}",
            settings.s_maxage, settings.stale_while_revalidate
        ))
        .ok(),
        Caching::Public => Some(HeaderValue::from_static("public, no-cache")),
        Caching::Private => Some(HeaderValue::from_static("private, no-cache")),
        Caching::NoStore => Some(HeaderValue::from_static("no-store")),
    };
    if let Some(value) = cache_control {
        headers.insert(header::CACHE_CONTROL, value);
    }
    if !headers.contains_key(header::VARY) {
        headers.insert(header::VARY, HeaderValue::from_static("Authorization"));
    }
    let Caching::Shared(view) = caching else {
        return;
    };
    let as_of =
        UNIX_EPOCH + Duration::from_millis(u64::try_from(view.as_of.as_millis()).unwrap_or(0));
    if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(as_of)) {
        headers.insert(header::LAST_MODIFIED, date);
    }
    let keys: Vec<String> = view.tags.iter().map(surrogate_key).collect();
    if let Ok(spaced) = HeaderValue::from_str(&keys.join(" ")) {
        headers.insert(crate::headers::SURROGATE_KEY, spaced.clone());
        headers.insert(crate::headers::XKEY, spaced);
    }
    if let Ok(listed) = HeaderValue::from_str(&keys.join(",")) {
        headers.insert(crate::headers::CACHE_TAG, listed);
    }
}

/// The response with an `ETag`, hashing its body when its handler gave none.
async fn with_entity_tag(response: Response) -> Response {
    if response.headers().contains_key(header::ETAG) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Ok(tag) = HeaderValue::from_str(&entity_tag(&bytes)) {
        parts.headers.insert(header::ETAG, tag);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// 304 in place of `response`, keeping the headers a 200 would have had that describe the
/// representation and how to cache it (RFC 9110 section 15.4.5), without its content.
pub(crate) fn not_modified(response: Response) -> Response {
    let (mut parts, _) = response.into_parts();
    parts.status = StatusCode::NOT_MODIFIED;
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::empty())
}

/// A read's conditional header (RFC 9110 section 13.1).
pub(crate) struct Conditions {
    if_none_match: Option<String>,
}

impl Conditions {
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let text = |name| {
            headers
                .get(name)
                .and_then(|value: &HeaderValue| value.to_str().ok())
        };
        Self {
            if_none_match: text(header::IF_NONE_MATCH).map(str::to_owned),
        }
    }

    /// Whether the client's copy is current (RFC 9110 section 13.2.2, step 3): `If-None-Match`
    /// by weak comparison. `If-Modified-Since` alone never gets 304: `Last-Modified` has a
    /// second's resolution, and two versions of a view read within one second share it.
    pub(crate) fn not_modified(&self, headers: &HeaderMap) -> bool {
        let text = |name| {
            headers
                .get(name)
                .and_then(|value: &HeaderValue| value.to_str().ok())
        };
        if let Some(list) = &self.if_none_match {
            let Some(current) = text(header::ETAG) else {
                return false;
            };
            let current = current.trim_start_matches("W/");
            return list
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/") == current);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrogate_keys_stay_one_token_each() {
        assert_eq!(surrogate_key(&CacheTag::post(12)), "post:12");
        assert_eq!(
            surrogate_key(&CacheTag::posts_tagged("dragons are cool")),
            "posts:tag:dragons%20are%20cool"
        );
        assert_eq!(
            surrogate_key(&CacheTag::posts_tagged("한국어,c++")),
            "posts:tag:%ED%95%9C%EA%B5%AD%EC%96%B4%2Cc%2B%2B"
        );
    }

    #[test]
    fn entity_tags_follow_the_bytes() {
        assert_eq!(entity_tag(b"a"), entity_tag(b"a"));
        assert_ne!(entity_tag(b"a"), entity_tag(b"b"));
        assert!(entity_tag(b"a").starts_with('"') && entity_tag(b"a").ends_with('"'));
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn only_the_entity_tag_answers_not_modified() {
        let response = headers(&[
            (header::ETAG, "\"abc\""),
            (header::LAST_MODIFIED, "Sun, 29 Nov 2026 10:00:00 GMT"),
        ]);
        let matching = Conditions::of(&headers(&[(header::IF_NONE_MATCH, "W/\"x\", \"abc\"")]));
        assert!(matching.not_modified(&response));
        let star = Conditions::of(&headers(&[(header::IF_NONE_MATCH, "*")]));
        assert!(star.not_modified(&response));
        // A stale tag means modified, whatever the date says.
        let stale = Conditions::of(&headers(&[
            (header::IF_NONE_MATCH, "\"old\""),
            (header::IF_MODIFIED_SINCE, "Mon, 30 Nov 2026 10:00:00 GMT"),
        ]));
        assert!(!stale.not_modified(&response));
        // A date alone cannot tell two versions read within one second apart.
        let dated = Conditions::of(&headers(&[(
            header::IF_MODIFIED_SINCE,
            "Sun, 29 Nov 2026 10:00:00 GMT",
        )]));
        assert!(!dated.not_modified(&response));
    }
}
