//! quire's integration tests: the real application on port 0 against a fresh SQLite database
//! per test, driven over HTTP. One test binary, modules by area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod articles;
mod authorization;
mod brokers;
mod caching;
mod cli;
mod comments;
mod concurrency;
mod copy;
pub mod durability;
mod edge;
mod events;
mod exposure;
mod feeds;
mod forgeries;
mod graphql;
mod grpc;
mod helpers;
mod http_caching;
mod hygiene;
mod imports;
mod keys;
mod limits;
mod lockouts;
mod openapi;
mod operations;
mod outage;
mod paging;
mod passwords;
mod profiles;
mod protobuf;
mod proxy;
mod queries;
mod redis_cache;
mod rendering;
mod rights;
mod scheduling;
mod search;
mod sessions;
mod storage;
mod tls;
mod traces;
mod users;
mod v1;
mod webhooks;
