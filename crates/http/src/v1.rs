//! quire's own resource API at `/api/v1`: plural nouns and numeric ids, exact HTTP semantics,
//! JSON or XML by content negotiation, and errors as RFC 9457 problem details.

mod negotiate;
mod problem;
mod users;

use axum::Router;
use axum::routing::{get, post};
use quire_core::ports::Store;

use crate::AppState;

pub(crate) use problem::{Problem, is_v1_path};

pub(crate) fn routes<S: Store>() -> Router<AppState<S>> {
    Router::new()
        .route("/users", post(users::register::<S>))
        .route("/users/{id}", get(users::get::<S>).patch(users::patch::<S>))
        .route("/me", get(users::me::<S>))
        .route("/sessions", post(users::log_in::<S>))
}
