//! quire's core: the domain of a publishing platform, independent of any transport or engine.
//!
//! Transports (`/api`, `/api/v1`, GraphQL and gRPC) read their callers through
//! [`service::Caller`] and call the use-cases in [`service`]; the use-cases apply the rules and the
//! authorization [`policy`], and reach storage, time, randomness and password hashing only
//! through the traits in [`ports`]. Nothing here knows about HTTP or SQL.

pub mod audit;
pub mod cache;
pub mod error;
pub mod events;
pub mod ids;
pub mod limits;
pub mod model;
pub mod paging;
pub mod policy;
pub mod ports;
pub mod roles;
pub mod service;
pub mod time;
pub mod values;
pub mod webhooks;

pub use error::{AuthProblem, Error, FieldErrors, RateLimit, Resource, Result};
