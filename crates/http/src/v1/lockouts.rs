//! `/api/v1/lockouts`: the emails locked out of signing in after failed sign-ins in a row, and
//! clearing one (admins only; docs/security.md).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use quire_core::ports::{SignInFailures, Store};
use serde::Serialize;

use super::caller::Authenticated;
use super::negotiate::{Format, Representation, Wire};
use super::problem::V1Error;
use super::proto;
use crate::AppState;
use crate::caching::Caching;

/// A locked email as `/api/v1` represents it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LockoutRepr {
    /// The email tried, lowercased, whether or not an account has it.
    account: String,
    /// Failed sign-ins in a row.
    failures: u32,
    #[schema(format = DateTime)]
    last_failed_at: String,
    /// Sign-in is refused until then.
    #[schema(format = DateTime)]
    locked_until: String,
}

impl LockoutRepr {
    fn of(lock: &SignInFailures) -> Self {
        Self {
            account: lock.account.clone(),
            failures: lock.failures,
            last_failed_at: lock.last_failed_at.to_rfc3339(),
            locked_until: lock
                .locked_until
                .unwrap_or(lock.last_failed_at)
                .to_rfc3339(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LockoutList {
    items: Vec<LockoutRepr>,
}

impl Wire for LockoutRepr {
    type Proto = proto::Lockout;
    fn proto(&self) -> proto::Lockout {
        proto::Lockout {
            account: self.account.clone(),
            failures: self.failures,
            last_failed_at: self.last_failed_at.clone(),
            locked_until: self.locked_until.clone(),
        }
    }
}

impl Wire for LockoutList {
    type Proto = proto::LockoutList;
    fn proto(&self) -> proto::LockoutList {
        proto::LockoutList {
            items: self.items.iter().map(Wire::proto).collect(),
        }
    }
}

/// `GET /api/v1/lockouts`: the emails locked now, the longest lock first (at most 100).
#[utoipa::path(
    get,
    path = "/api/v1/lockouts",
    operation_id = "listLockouts",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 200, description = "the locked emails", body = LockoutList))
)]
pub(crate) async fn list<S: Store>(
    State(state): State<AppState<S>>,
    format: Format,
    Authenticated(caller): Authenticated,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    let locks = state.quire.lockouts(&actor).await?;
    let body = LockoutList {
        items: locks.iter().map(LockoutRepr::of).collect(),
    };
    Ok(Representation::of(format, "lockouts", &body)?.respond(StatusCode::OK, Caching::NoStore))
}

/// `DELETE /api/v1/lockouts/{email}`: forgets the email's failed sign-ins and lock; 204
/// whether or not it had any.
#[utoipa::path(
    delete,
    path = "/api/v1/lockouts/{email}",
    operation_id = "deleteLockout",
    tag = "users",
    params(("email" = String, Path, description = "the email signed in with, in any case")),
    security(("bearer" = [])),
    responses((status = 204, description = "the email may sign in at once"))
)]
pub(crate) async fn delete<S: Store>(
    State(state): State<AppState<S>>,
    Authenticated(caller): Authenticated,
    Path(email): Path<String>,
) -> Result<Response, V1Error> {
    let actor = *caller.require()?;
    state.quire.unlock_sign_in(Some(&actor), &email).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
