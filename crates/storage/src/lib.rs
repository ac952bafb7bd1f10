//! quire's storage: the core [`Store`](quire_core::ports::Store) port on SQLite (embedded, the
//! default) or PostgreSQL, chosen by the database URL.
//!
//! SQL lives here and nowhere else. Each statement is one text for both engines unless the
//! dialects truly differ (`sql::Sql`), and each execution site is type-checked against both
//! engines. Migrations sit in `migrations/<engine>/` with shared version numbers, embedded in
//! the binary and applied at start-up; a test proves the two schemas match.

mod audit;
mod batch;
mod comments;
mod copy;
mod counters;
mod db;
mod error;
mod faults;
mod group_commit;
mod idempotency;
mod lists;
mod openid;
mod outbox;
mod posts;
mod rows;
pub mod schema;
mod search;
mod seed;
mod sessions;
mod sign_in;
mod signing_keys;
mod sql;
mod users;
mod webhooks;

pub use copy::{CopyProgress, copy_database};
pub use db::{Db, DbOptions, Durability, PoolStats, Target, WRITE_ATTEMPTS, redact_url};
pub use faults::Fault;
pub use seed::{SEED_BODIES, SEED_CHUNK, SeedProgress, SeedSize};
