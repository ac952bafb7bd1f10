//! The RealWorld ("Conduit") API, spec 2.0.0, mounted at `/api`.

mod articles;
mod comments;
pub(crate) mod dto;
mod profiles;
mod users;

use axum::Router;
use axum::routing::{delete, get, post};
use quire_core::ports::Store;

use crate::AppState;

pub(crate) fn routes<S: Store>() -> Router<AppState<S>> {
    Router::new()
        .route("/users", post(users::register::<S>))
        .route("/users/login", post(users::login::<S>))
        .route("/user", get(users::current::<S>).put(users::update::<S>))
        .route("/profiles/{username}", get(profiles::get::<S>))
        .route(
            "/profiles/{username}/follow",
            post(profiles::follow::<S>).delete(profiles::unfollow::<S>),
        )
        .route(
            "/articles",
            get(articles::list::<S>).post(articles::create::<S>),
        )
        .route("/articles/feed", get(articles::feed::<S>))
        .route(
            "/articles/{slug}",
            get(articles::get::<S>)
                .put(articles::update::<S>)
                .delete(articles::delete::<S>),
        )
        .route(
            "/articles/{slug}/favorite",
            post(articles::favorite::<S>).delete(articles::unfavorite::<S>),
        )
        .route(
            "/articles/{slug}/comments",
            get(comments::list::<S>).post(comments::create::<S>),
        )
        .route(
            "/articles/{slug}/comments/{id}",
            delete(comments::delete::<S>),
        )
        .route("/tags", get(articles::tags::<S>))
}
