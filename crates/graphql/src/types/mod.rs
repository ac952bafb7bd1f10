//! The schema's object types, each a view of a core entity as one viewer sees it.

mod comment;
mod post;
mod user;

pub use comment::CommentNode;
pub use post::{PostConnection, PostNode, PostStatusValue, SearchHitNode};
pub use user::{UserNode, cost, page_size};

use async_graphql::ID;
use quire_core::Error;
use quire_core::Resource;

use crate::error::graphql_error;

/// Parses an `ID` argument; an id that cannot exist is simply not found.
pub fn parse_id<T>(
    id: &ID,
    parse: impl FnOnce(&str) -> Option<T>,
    what: Resource,
) -> async_graphql::Result<T> {
    parse(id.as_str()).ok_or_else(|| graphql_error(&Error::NotFound(what)))
}
