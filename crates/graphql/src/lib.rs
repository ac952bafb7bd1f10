//! quire's GraphQL contract at `/graphql`: the same domain as `/api` and `/api/v1`, on the
//! same core (one policy, one set of rules, one error type mapped once in [`error`]).
//!
//! Lists are batch-loaded (`loaders`) so a query costs a fixed number of statements
//! whatever its page size; depth, complexity, aliases and batch size are bounded before any
//! resolver runs ([`limits`]); subscriptions listen to the core's domain events.

mod context;
pub mod error;
mod graphiql;
pub mod limits;
mod loaders;
mod mutation;
mod query;
mod schema;
mod socket;
mod subscription;
mod transport;
mod types;
mod webhooks;

pub use limits::GraphqlConfig;
pub use schema::sdl;
pub use transport::router;
