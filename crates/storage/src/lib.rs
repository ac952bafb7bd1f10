//! quire's storage: the core [`Store`](quire_core::ports::Store) port on SQLite.
//!
//! SQL lives here and nowhere else. Each engine's migrations sit in `migrations/<engine>/`
//! with shared version numbers, embedded in the binary and applied at start-up.
//!
//! SQLite runs in WAL mode with one writer connection (writes are serialized in-process, so
//! they never fight over the lock) and a pool of read-only connections that read concurrently.

mod comments;
mod db;
mod error;
mod posts;
mod rows;
mod users;

pub use db::{Db, DbOptions, Durability};
