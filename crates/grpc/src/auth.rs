//! Who is calling: the `authorization: Bearer <token>` metadata, checked by the core.

use quire_core::policy::Actor;
use quire_core::ports::Store;
use quire_core::service::Quire;
use quire_core::{AuthProblem, Error};
use tonic::{Request, Status};

use crate::error::status;

/// The caller, or anonymous without the metadata; a bad, expired or deactivated token is
/// refused rather than served as anonymous.
pub async fn viewer<S: Store, T>(
    quire: &Quire<S>,
    request: &Request<T>,
) -> Result<Option<Actor>, Status> {
    let authorization = request
        .metadata()
        .get("authorization")
        .map(|value| value.to_str().unwrap_or(""));
    quire
        .authenticate_header(authorization)
        .await
        .map_err(|error| status(&error))
}

/// The caller, required.
pub async fn actor<S: Store, T>(quire: &Quire<S>, request: &Request<T>) -> Result<Actor, Status> {
    viewer(quire, request)
        .await?
        .ok_or_else(|| status(&Error::Unauthenticated(AuthProblem::MissingToken)))
}
