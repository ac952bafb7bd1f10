//! What every resolver reads from the request: the core, who is asking, and the batch
//! loaders of this request.

use async_graphql::Context;
use quire_core::policy::Actor;
use quire_core::ports::Store;
use quire_core::service::Quire;
use quire_core::{AuthProblem, Error};

use crate::error::graphql_error;

/// Who sent the request or opened the subscription; `None` when anonymous.
#[derive(Debug, Clone, Copy)]
pub struct Viewer(pub Option<Actor>);

/// The core and the caller, as resolvers need them.
pub trait ContextExt {
    fn quire<S: Store>(&self) -> async_graphql::Result<&Quire<S>>;
    fn viewer(&self) -> Option<&Actor>;
    /// The caller, or `UNAUTHENTICATED`.
    fn actor(&self) -> async_graphql::Result<&Actor>;
    /// A nullable field's value: on error, `null` in the data and the error (with this
    /// field's path) in `errors`, as the GraphQL spec asks. (Returning the error itself would
    /// leave the field out of the data altogether.)
    fn nullable<T>(&self, result: async_graphql::Result<T>) -> Option<T>;
}

impl ContextExt for Context<'_> {
    fn quire<S: Store>(&self) -> async_graphql::Result<&Quire<S>> {
        self.data::<Quire<S>>()
    }

    fn viewer(&self) -> Option<&Actor> {
        self.data_opt::<Viewer>()
            .and_then(|viewer| viewer.0.as_ref())
    }

    fn actor(&self) -> async_graphql::Result<&Actor> {
        self.viewer()
            .ok_or_else(|| graphql_error(&Error::Unauthenticated(AuthProblem::MissingToken)))
    }

    fn nullable<T>(&self, result: async_graphql::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.add_error(self.set_error_path(error.into_server_error(self.item.pos)));
                None
            }
        }
    }
}
