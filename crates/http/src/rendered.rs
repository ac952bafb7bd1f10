//! Rendered responses kept for anonymous readers: where serializing is what a read costs, the
//! bytes a handler produced for a shared view are kept in the application cache beside the
//! view itself, tagged with the view's surrogate keys, so they go stale exactly when it does
//! (docs/caching.md, "Rendered responses").
//!
//! Only anonymous `GET`s of the routes that serve shared views are looked up; a response is
//! kept only when its handler marked it [`Caching::Shared`] and it is a 200, with the headers
//! the [`crate::caching`] middleware inside wrote for it (validator, caching headers,
//! surrogate keys), so a kept response costs no work but its lookup. Concurrent misses of one
//! request render once. Conditional requests are answered here, with the caching module's
//! rules, since the render inside runs without the reader's conditions.

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use quire_core::cache::{CacheEntry, CacheKey, Cacheable, Load, Rendered};
use quire_core::ports::Store;
use quire_core::service::Quire;

use crate::caching::{Caching, Conditions, not_modified};
use crate::middleware::{RouteSlot, RouteTemplate};

/// Whether `path` serves shared views worth keeping rendered: the RealWorld reads of posts,
/// comments, profiles and tags, and `/api/v1`'s post, comments and tags.
fn renders_shared_views(path: &str) -> bool {
    path.starts_with("/api/articles")
        || path.starts_with("/api/profiles/")
        || path == "/api/tags"
        || path.starts_with("/api/v1/posts/")
        || path == "/api/v1/tags"
}

/// The middleware.
pub(crate) async fn serve<S: Store>(
    State(quire): State<Quire<S>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::GET
        || request.headers().contains_key(header::AUTHORIZATION)
        || !renders_shared_views(request.uri().path())
    {
        return next.run(request).await;
    }
    // `/api/v1` negotiates its representation, and a post's version by the reader's
    // languages (`GET /api/v1/posts/{id}`); the RealWorld API has one of each.
    let path = request.uri().path();
    let v1 = path.starts_with("/api/v1/");
    let one_post = path
        .strip_prefix("/api/v1/posts/")
        .is_some_and(|rest| !rest.contains('/'));
    let accept = negotiated(v1, request.headers(), header::ACCEPT);
    let languages = negotiated(one_post, request.headers(), header::ACCEPT_LANGUAGE);
    let key = CacheKey::rendered(&format!("{} {} {}", request.uri(), accept, languages));
    let (mut parts, _) = request.into_parts();
    let conditions = Conditions::of(&parts.headers);
    parts.headers.remove(header::IF_NONE_MATCH);
    parts.headers.remove(header::IF_MODIFIED_SINCE);
    let response = rendered(&quire, key, &parts, &next).await;
    if response.status() == StatusCode::OK
        && response.extensions().get::<Caching>().is_some()
        && conditions.not_modified(response.headers())
    {
        return not_modified(response);
    }
    response
}

/// A header that chooses what a negotiating route answers: its value there, nothing elsewhere.
fn negotiated(v1: bool, headers: &axum::http::HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .filter(|_| v1)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// The response to a request without conditions: kept, or rendered (and kept if shared).
async fn rendered<S: Store>(
    quire: &Quire<S>,
    key: CacheKey,
    parts: &axum::http::request::Parts,
    next: &Next,
) -> Response {
    // A response that is not kept goes back to its own reader as it is.
    let own: Mutex<Option<Response>> = Mutex::new(None);
    let (own_ref, next_ref) = (&own, next);
    let load = move || -> Load<'_> {
        let request = Request::from_parts(parts.clone(), Body::empty());
        let next = next_ref.clone();
        Box::pin(async move {
            let response = next.run(request).await;
            let shown = match response.extensions().get::<Caching>() {
                Some(Caching::Shared(view)) if response.status() == StatusCode::OK => view.clone(),
                _ => {
                    *own_ref.lock().unwrap_or_else(PoisonError::into_inner) = Some(response);
                    return Ok(None);
                }
            };
            let (response_parts, body) = response.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
                let failed = Response::from_parts(response_parts, Body::empty());
                *own_ref.lock().unwrap_or_else(PoisonError::into_inner) = Some(failed);
                return Ok(None);
            };
            let headers = response_parts
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect();
            Ok(Some(Cacheable {
                entry: CacheEntry::Rendered(Arc::new(Rendered {
                    headers,
                    body: bytes.to_vec(),
                    route: parts
                        .extensions
                        .get::<RouteSlot>()
                        .and_then(RouteSlot::route)
                        .map(|route| Arc::from(route.as_str())),
                    prepared: Some(Box::new(response_parts.headers) as Box<dyn Any + Send + Sync>),
                })),
                shown,
            }))
        })
    };
    let found = quire.shared_cache().fetch(key, &load).await;
    if let Some(response) = own.lock().unwrap_or_else(PoisonError::into_inner).take() {
        return response;
    }
    match found {
        Ok(Some(Cacheable {
            entry: CacheEntry::Rendered(rendered),
            shown,
        })) => respond(
            rendered,
            Caching::Shared(shown),
            parts.extensions.get::<RouteSlot>(),
        ),
        // Another reader's render was not kept (an error, a personal view): render this one.
        _ => {
            next.clone()
                .run(Request::from_parts(parts.clone(), Body::empty()))
                .await
        }
    }
}

/// The kept bytes, shared, as a response.
struct Shared(Arc<Rendered>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0.body
    }
}

fn respond(rendered: Arc<Rendered>, caching: Caching, slot: Option<&RouteSlot>) -> Response {
    let mut response = Response::new(Body::from(Bytes::from_owner(Shared(Arc::clone(&rendered)))));
    let prepared = rendered
        .prepared
        .as_ref()
        .and_then(|prepared| prepared.downcast_ref::<HeaderMap>());
    if let Some(prepared) = prepared {
        *response.headers_mut() = prepared.clone();
    } else {
        let headers = response.headers_mut();
        for (name, value) in &rendered.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                headers.append(name, value);
            }
        }
    }
    if let (Some(slot), Some(route)) = (slot, &rendered.route) {
        slot.note(RouteTemplate::Kept(Arc::clone(route)));
    }
    response.extensions_mut().insert(caching);
    response
}
