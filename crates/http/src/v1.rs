//! quire's own resource API at `/api/v1`: plural nouns and numeric ids, exact HTTP semantics,
//! JSON or XML by content negotiation, and errors as RFC 9457 problem details.

mod audit;
mod caller;
mod comments;
mod contract;
mod docs;
mod idempotency;
mod imports;
mod lockouts;
mod negotiate;
mod openid;
mod posts;
mod problem;
pub mod proto;
mod search;
mod sessions;
mod users;
mod webhooks;

use axum::Router;
use axum::routing::{delete, get, post, put};
use quire_core::ports::Store;

use crate::AppState;

pub(crate) use docs::router as docs_router;
pub(crate) use negotiate::prefers_xml;
pub(crate) use problem::{Problem, V1Error, is_v1_path};

pub use imports::IMPORT_BODY_LIMIT;

/// `POST /api/v1/imports`, behind [`caller::authenticate`]; served apart from [`routes`], with
/// a body limit and a timeout of its own.
pub(crate) fn import_routes<S: Store>(state: &AppState<S>) -> Router<AppState<S>> {
    Router::new()
        .route("/imports", post(imports::create::<S>))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            caller::authenticate::<S>,
        ))
}

/// The routes, every one behind [`caller::authenticate`].
pub(crate) fn routes<S: Store>(state: &AppState<S>) -> Router<AppState<S>> {
    Router::new()
        .route("/users", get(users::list::<S>).post(users::register::<S>))
        .route("/users/{id}", get(users::get::<S>).patch(users::patch::<S>))
        .route("/me", get(users::me::<S>))
        .route("/users/{id}/followers", get(users::followers::<S>))
        .route("/users/{id}/following", get(users::following::<S>))
        .route(
            "/me/following/{user_id}",
            put(users::follow::<S>).delete(users::unfollow::<S>),
        )
        .route(
            "/sessions",
            post(sessions::log_in::<S>).delete(sessions::log_out_everywhere::<S>),
        )
        .route("/sessions/refresh", post(sessions::refresh::<S>))
        .route("/sessions/current", delete(sessions::log_out::<S>))
        .route("/sessions/openid", get(openid::list::<S>))
        .route("/sessions/openid/{provider}", get(openid::start::<S>))
        .route(
            "/sessions/openid/{provider}/callback",
            get(openid::callback::<S>),
        )
        .route("/audit", get(audit::list::<S>))
        .route("/lockouts", get(lockouts::list::<S>))
        .route("/lockouts/{email}", delete(lockouts::delete::<S>))
        .route("/posts", get(posts::list::<S>).post(posts::create::<S>))
        .route(
            "/posts/{id}",
            get(posts::get::<S>)
                .put(posts::replace::<S>)
                .patch(posts::patch::<S>)
                .delete(posts::delete::<S>),
        )
        .route(
            "/posts/{id}/comments",
            get(comments::list::<S>).post(comments::create::<S>),
        )
        .route(
            "/comments/{id}",
            get(comments::get::<S>).delete(comments::delete::<S>),
        )
        .route("/posts/{id}/series", get(posts::series::<S>))
        .route("/search", get(search::search::<S>))
        .route("/posts/{id}/translations", get(posts::translations::<S>))
        .route("/me/feed", get(posts::feed::<S>))
        .route("/tags", get(posts::tags::<S>))
        .route(
            "/me/favorites/{post_id}",
            put(posts::favorite::<S>).delete(posts::unfavorite::<S>),
        )
        .route(
            "/webhooks",
            get(webhooks::list::<S>).post(webhooks::create::<S>),
        )
        .route(
            "/webhooks/{id}",
            get(webhooks::get::<S>)
                .patch(webhooks::patch::<S>)
                .delete(webhooks::delete::<S>),
        )
        .route("/webhooks/{id}/secret", get(webhooks::secret::<S>))
        .route("/webhooks/{id}/secret/rotate", post(webhooks::rotate::<S>))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries::<S>))
        .route("/webhooks/{id}/attempts", get(webhooks::attempts::<S>))
        .route(
            "/webhooks/{id}/deliveries/{delivery_id}/redeliver",
            post(webhooks::redeliver::<S>),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            caller::authenticate::<S>,
        ))
}
